"""Midjourney's /settings toggles (docs/backends/thenextleg.md, "Settings"), kept per member, and
the prompt flags they mean.

Backends with a settings endpoint (TheNextLeg) hold this state themselves; for the others the bot
keeps it in :class:`bot.domain.UserPrefs` and appends the flags to each prompt that does not set
them already.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.domain import UserPrefs
from bot.i18n import tr

#: Versions offered in the panel's select: value → label. TheNextLeg's own labels come first.
VERSIONS: dict[str, str] = {
    "1": "MJ version 1",
    "2": "MJ version 2",
    "3": "MJ version 3",
    "4": "MJ version 4",
    "5": "MJ version 5",
    "5.1": "MJ version 5.1",
    "5.2": "MJ version 5.2",
    "6": "MJ version 6",
    "6.1": "MJ version 6.1",
    "7": "MJ version 7",
    "niji 4": "Niji version 4",
    "niji 5": "Niji version 5",
    "niji 6": "Niji version 6",
}


@dataclass(frozen=True)
class Toggle:
    label: str
    #: The UserPrefs field it sets and the value it sets it to.
    field: str
    value: str | bool | None


#: The panel's buttons, in TheNextLeg's order (versions are in the select). A label is the setting's
#: key (in English, as TheNextLeg names it) and what the panel shows, in the member's language
#: (docs/i18n.md); the MJ Test and version names are Midjourney's and stay as they are.
TOGGLES: tuple[Toggle, ...] = (
    Toggle("MJ Test", "version", "test"),
    Toggle("MJ Test Photo", "version", "testp"),
    Toggle(tr("Half quality"), "quality", ".5"),
    Toggle(tr("Base quality"), "quality", "1"),
    Toggle(tr("High quality (2x cost)"), "quality", "2"),
    Toggle(tr("Style low"), "stylize", "50"),
    Toggle(tr("Style med"), "stylize", "100"),
    Toggle(tr("Style high"), "stylize", "250"),
    Toggle(tr("Style very high"), "stylize", "750"),
    Toggle(tr("Remix mode"), "remix", True),
    Toggle(tr("Public mode"), "stealth", False),
    Toggle(tr("Stealth mode"), "stealth", True),
    Toggle(tr("Fast mode"), "mode", "fast"),
    Toggle(tr("Relax mode"), "mode", "relax"),
)
RESET = tr("Reset Settings")
_BY_LABEL = {t.label: t for t in TOGGLES}
#: The fields that become prompt flags (see :func:`flags`). Public and Stealth are not prompt
#: flags (Midjourney switches them with its own commands), so the bot cannot apply them.
_FLAG_FIELDS = frozenset({"version", "quality", "stylize", "mode"})


def offered(*, remix: bool) -> list[str]:
    """The labels that change what the bot sends when it keeps the settings: every version and
    flag toggle, Remix mode when the service takes an edited prompt (``remix``), and Reset."""
    toggles = [t.label for t in TOGGLES if t.field in _FLAG_FIELDS or (remix and t.field == "remix")]
    return [*VERSIONS.values(), *toggles, RESET]


def toggle(prefs: UserPrefs, label: str) -> UserPrefs:
    """``prefs`` after pressing ``label`` (a toggle, a version label, or Reset Settings)."""
    if label == RESET:
        return UserPrefs(suffix=prefs.suffix)
    version = next((v for v, name in VERSIONS.items() if name == label), None)
    if version is not None:
        return prefs.model_copy(update={"version": version})
    item = _BY_LABEL.get(label)
    if item is None:
        raise ValueError(f"unknown setting {label!r}")
    current = getattr(prefs, item.field)
    if isinstance(item.value, bool) and item.field == "remix":
        return prefs.model_copy(update={"remix": not current})
    # Pressing the active choice again turns it off, as in Midjourney.
    return prefs.model_copy(update={item.field: None if current == item.value else item.value})


def active(prefs: UserPrefs) -> set[str]:
    """The labels shown as on (green)."""
    on = {t.label for t in TOGGLES if getattr(prefs, t.field) == t.value}
    if prefs.stealth is None:
        on.discard("Stealth mode")
    if prefs.version in VERSIONS:
        on.add(VERSIONS[prefs.version])
    return on


def flags(prefs: UserPrefs) -> list[tuple[str, str]]:
    """(flag, full text) pairs the settings add to a prompt, e.g. ("--v", "--v 6")."""
    out: list[tuple[str, str]] = []
    if prefs.version in ("test", "testp"):
        out.append(("--test", "--testp" if prefs.version == "testp" else "--test"))
    elif prefs.version and prefs.version.startswith("niji"):
        out.append(("--niji", f"--niji {prefs.version.split()[1]}"))
    elif prefs.version:
        out.append(("--v", f"--v {prefs.version}"))
    if prefs.quality:
        out.append(("--q", f"--q {prefs.quality}"))
    if prefs.stylize:
        out.append(("--s", f"--s {prefs.stylize}"))
    if prefs.mode:
        out.append(("--mode", f"--{prefs.mode}"))
    return out


def suffix(prefs: UserPrefs) -> str:
    """What the settings add to prompts, plus the member's own /prefer suffix."""
    return " ".join([*(text for _, text in flags(prefs)), prefs.suffix]).strip()


#: A flag in a prompt, with the aliases that set the same thing.
_ALIASES = {
    "--v": r"--(?:v|version|niji)\b",
    "--niji": r"--(?:v|version|niji)\b",
    "--test": r"--(?:v|version|niji|testp?)\b",
    "--q": r"--(?:q|quality)\b",
    "--s": r"--(?:s|stylize)\b",
    "--mode": r"--(?:fast|relax|turbo)\b",
}


def apply(prompt: str, prefs: UserPrefs) -> str:
    """``prompt`` with the settings' flags (and the suffix) the prompt does not set itself."""
    added = [text for flag, text in flags(prefs) if not re.search(_ALIASES[flag], prompt, re.IGNORECASE)]
    if prefs.suffix and not prompt.rstrip().endswith(prefs.suffix):
        added.append(prefs.suffix)
    return " ".join([prompt.strip(), *added]).strip()


_VERSION_FLAG = re.compile(r"--(v|version|niji|testp?)\b", re.IGNORECASE)


def wants_niji(prompt: str, prefs: UserPrefs) -> bool:
    """Whether a new job goes to the Niji bot: the prompt's own version flag decides (``--niji``),
    else the version chosen in /settings (blend and describe have no prompt)."""
    flag = _VERSION_FLAG.search(prompt)
    if flag is not None:
        return flag.group(1).lower() == "niji"
    return (prefs.version or "").startswith("niji")
