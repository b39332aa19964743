"""Every sentence a member reads, in their language (docs/i18n.md).

Code marks a sentence with ``tr("English text with {named} values", named=…)``: a `Msg`, which
is the English text (it *is* a ``str``, so code that knows nothing of languages shows English) and
keeps its catalog id and values, so that the Discord layer can show it in the reader's language
with `render`. The translations are gettext catalogs, one ``locales/<locale>.po`` per language,
read once at first use. Nothing here imports discord.
"""

from __future__ import annotations

import functools
import string
from collections.abc import Mapping, Sequence
from pathlib import Path

#: Where the catalogs are: ``zh_CN.po`` serves Discord's ``zh-CN``, ``ja.po`` its ``ja``.
LOCALES_DIR = Path(__file__).parent / "locales"
#: The language of the source text (the msgids): what every reader falls back to.
SOURCE_LOCALE = "en-US"
_SOURCE_LANGUAGE = "en"
#: The gettext context of slash command, group and option names, which follow Discord's name
#: rules (lowercase, no spaces) and so are translated apart from the same words in sentences.
NAME_CONTEXT = "slash name"


class Msg(str):
    """A sentence to show: its catalog id and named values. As a ``str`` it is the English text;
    `render` gives it in another language. Values that are `Msg` are translated too."""

    msgid: str
    values: Mapping[str, object]

    def __new__(cls, msgid: str, /, **values: object) -> Msg:
        made = super().__new__(cls, msgid.format(**values))
        made.msgid, made.values = msgid, values
        return made

    def in_locale(self, locale: str) -> str:
        pattern = catalogs().get(locale, {}).get((None, self.msgid), self.msgid)
        return pattern.format(
            **{k: render(v, locale) if isinstance(v, Msg) else v for k, v in self.values.items()}
        )


def tr(msgid: str, /, **values: object) -> Msg:
    """Mark ``msgid`` (a literal, with ``{name}`` placeholders) as a sentence members read.

    The catalog test (tests/test_i18n.py) finds every call by its name, so the id must be a
    literal string and its placeholders exactly the keyword arguments given."""
    return Msg(msgid, **values)


def joined(sentences: Sequence[str]) -> str:
    """``sentences`` one after another, each translated: a space between them in English, none in
    Chinese or Japanese (the catalogs' ``{first} {rest}``)."""
    if not sentences:
        return ""
    first, *rest = sentences
    return tr("{first} {rest}", first=first, rest=joined(rest)) if rest else first


def render(text: str, *locales: str | None) -> str:
    """``text`` in the first of ``locales`` a catalog serves (a Discord locale such as ``zh-CN``),
    else in English. A plain ``str`` (code not converted yet) is shown as it is."""
    if not isinstance(text, Msg):
        return text
    locale = pick(*locales)
    # English is the text itself: a job message's every edit in an English server costs no lookup.
    return str.__str__(text) if _english(locale) else text.in_locale(locale)


def pick(*locales: str | None) -> str:
    """The first of ``locales`` that is shipped (any English counts: the source), else English."""
    return next(
        (loc for loc in locales if loc is not None and (_english(loc) or loc in catalogs())),
        SOURCE_LOCALE,
    )


def _english(locale: str) -> bool:
    return locale.split("-")[0] == _SOURCE_LANGUAGE


def translate(msgid: str, locale: str, *, context: str | None = None) -> str | None:
    """The catalog's translation of ``msgid`` (in ``context``) for ``locale``, or None."""
    return catalogs().get(locale, {}).get((context, msgid))


def placeholders(pattern: str) -> set[str]:
    """The names of a message's ``{placeholders}``."""
    return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(pattern) if name}


def discord_locale(filename_stem: str) -> str:
    """The Discord locale a catalog file serves: ``zh_CN`` → ``zh-CN``."""
    return filename_stem.replace("_", "-")


@functools.cache
def catalogs() -> dict[str, dict[tuple[str | None, str], str]]:
    """Every shipped catalog: Discord locale → (context, msgid) → translation. Untranslated and
    fuzzy entries are left out (they fall back to English)."""
    # Imported here: Babel's parser costs ~0.1 s to import, paid only by a process that shows a
    # message in another language or registers the commands (not by `mjbot check` or a CLI error).
    from babel.messages.pofile import read_po

    found: dict[str, dict[tuple[str | None, str], str]] = {}
    for path in sorted(LOCALES_DIR.glob("*.po")):
        with path.open("rb") as file:
            catalog = read_po(file)
        found[discord_locale(path.stem)] = {
            (message.context, message.id): message.string
            for message in catalog
            if message.id
            and isinstance(message.id, str)
            and isinstance(message.string, str)
            and message.string
            and not message.fuzzy
        }
    return found


def said(error: BaseException) -> str:
    """The sentence an exception was raised with, a `Msg` kept as one (``str(error)`` is English)."""
    first = error.args[0] if len(error.args) == 1 else None
    return first if isinstance(first, str) else str(error)
