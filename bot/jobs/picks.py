"""The numbered options of a /describe or /shorten result, and which button picks which.

midjourney-proxy returns them in ``finalPrompt`` as keycap-numbered lines ("1️⃣ a cat…\\n\\n2️⃣ …");
/shorten puts its "Important tokens" section first, which has no keycaps.
"""

from __future__ import annotations

import re

#: Our own button on a /describe result that imagines all four prompts.
IMAGINE_ALL = "mjbot:imagine_all"

_OPTION = re.compile(r"([1-9])\ufe0f?\u20e3\s*(.+?)(?=\n\s*[1-9]\ufe0f?\u20e3|\Z)", re.DOTALL)
_PICK = re.compile(r"^MJ::Job::(?:PicReader|PromptAnalyzer)::(\d)$")


def parse_options(text: str) -> list[str]:
    """The options in order, stripped; text without keycaps gives none."""
    return [m.group(2).strip() for m in _OPTION.finditer(text) if m.group(2).strip()]


def pick_number(custom_id: str) -> int | None:
    """1-based option number a describe/shorten button picks, or None for other buttons."""
    match = _PICK.match(custom_id)
    return int(match.group(1)) if match else None
