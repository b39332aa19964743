"""The numbered options of a /describe or /shorten result, and which button picks which.

midjourney-proxy returns them in ``finalPrompt`` as keycap-numbered lines ("1️⃣ a cat…\\n\\n2️⃣ …");
/shorten puts its "Important tokens" section first, which has no keycaps.
"""

from __future__ import annotations

import re

from bot.domain import ResultButton

#: Our own button on a /describe result that imagines all four prompts.
IMAGINE_ALL = "mjbot:imagine_all"

_OPTION = re.compile(r"([1-9])\ufe0f?\u20e3\s*(.+?)(?=\n\s*[1-9]\ufe0f?\u20e3|\Z)", re.DOTALL)
_PICK = re.compile(r"^MJ::Job::(?:PicReader|PromptAnalyzer)::(\d)$")


def parse_options(text: str) -> list[str]:
    """The options in order, stripped; text without keycaps gives none."""
    return [m.group(2).strip() for m in _OPTION.finditer(text) if m.group(2).strip()]


def numbered(options: list[str]) -> str:
    """Options as keycap-numbered paragraphs (what :func:`parse_options` reads), for a service
    that returns them as a list; one already numbered keeps its keycap."""
    return "\n\n".join(
        option if _OPTION.match(option) else f"{n}\ufe0f\u20e3 {option}"
        for n, option in enumerate(options, 1)
    )


def pick_button(number: int) -> ResultButton:
    """The button picking option ``number`` (1-based), named as midjourney-proxy names it."""
    return ResultButton(custom_id=f"MJ::Job::PicReader::{number}", emoji=f"{number}\ufe0f\u20e3")


def pick_number(custom_id: str) -> int | None:
    """1-based option number a describe/shorten button picks, or None for other buttons."""
    match = _PICK.match(custom_id)
    return int(match.group(1)) if match else None
