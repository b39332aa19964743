"""TheNextLeg's ``/settings`` panel: its toggles, each with its state read from the "Current
suffix"."""

from __future__ import annotations

import re

from pydantic import BaseModel

from bot.backends.nextleg.models import MessagePayload
from bot.domain import SettingsState


class SettingToggle(BaseModel):
    label: str
    #: None when the API cannot tell: modes (remix, fast/relax, stealth) are not in the suffix.
    on: bool | None = None


class NextLegSettings(BaseModel):
    """The ``/settings`` panel: every toggle with its state, read from the "Current suffix"."""

    toggles: list[SettingToggle]
    #: The parameters Midjourney adds to every prompt, e.g. ``"--v 5 --q 2"``.
    suffix: str = ""

    def state(self) -> SettingsState:
        """As the /settings panel shows it; the account's state, shared by everyone using it."""
        return SettingsState(
            active={t.label for t in self.toggles if t.on},
            suffix=self.suffix,
            available=list(dict.fromkeys(t.label for t in self.toggles)),
            source="backend",
        )


#: Settings labels that stand for a prompt parameter: pattern → (flag, value, is the default).
#: A default one is on when its flag is absent from the suffix.
_SETTING_FLAGS: tuple[tuple[re.Pattern[str], str, str, bool], ...] = (
    (re.compile(r"^MJ version (\d+(?:\.\d+)?)$"), "v", r"\1", False),
    (re.compile(r"^Niji version (\d+)$"), "niji", r"\1", False),
    (re.compile(r"^MJ Test Photo$"), "testp", "", False),
    (re.compile(r"^MJ Test$"), "test", "", False),
    (re.compile(r"^RAW Mode$", re.IGNORECASE), "style", "raw", False),
    (re.compile(r"^Half quality"), "q", ".5", False),
    (re.compile(r"^Base quality"), "q", "1", True),
    # The docs print both "High quality (2x cost)" and "High quality (x cost)".
    (re.compile(r"^High quality"), "q", "2", False),
    (re.compile(r"^Style low$"), "s", "50", False),
    (re.compile(r"^Style med$"), "s", "100", True),
    (re.compile(r"^Style high$"), "s", "250", False),
    (re.compile(r"^Style very high$"), "s", "750", False),
)
_SUFFIX = re.compile(r"Current suffix:\s*`([^`]*)`")
_FLAG = re.compile(r"--(\w+)(?:\s+([^\s-][^\s]*))?")


def _same_value(left: str, right: str) -> bool:
    try:
        return float(left) == float(right)  # ".5" is "0.5"
    except ValueError:
        return left == right


def parse_settings(payload: MessagePayload) -> NextLegSettings:
    content = payload.content if isinstance(payload.content, str) else ""
    match = _SUFFIX.search(content)
    suffix = match.group(1).strip() if match else ""
    flags = {name: value or "" for name, value in _FLAG.findall(suffix)}
    toggles = []
    for label in dict.fromkeys(payload.buttons):  # the docs list "Base quality" twice
        on: bool | None = None
        for pattern, flag, value, default in _SETTING_FLAGS:
            found = pattern.match(label)
            if found:
                wanted = found.expand(value)
                on = _same_value(flags[flag], wanted) if flag in flags else default
                break
        toggles.append(SettingToggle(label=label, on=on))
    return NextLegSettings(toggles=toggles, suffix=suffix)
