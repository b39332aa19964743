"""What free text from a member may contain, and a server's banned words and patterns.

Every text a member types that goes to an image service or is shown in a channel (prompts,
negative prompts and other generation fields, modal prompts, the /prefer suffix) passes
`text_problem`. Banned patterns are RE2 expressions: RE2 matches in time linear in the prompt,
where Python's backtracking `re` can take hours on one pattern such as ``(a+)+$``
(docs/reliability.md, "Hostile input").
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from typing import Any

import re2

from bot.domain import GuildConfig
from bot.i18n import Msg, tr

log = logging.getLogger(__name__)

#: Longest banned word or pattern, how many of each a server may keep (each pattern costs a pass
#: over every prompt), and their characters together, so that `/setup words list` fits a message.
MAX_BANNED_CHARS = 100
MAX_BANNED_WORDS = 100
MAX_BANNED_PATTERNS = 50
MAX_BANNED_TOTAL_CHARS = 1400
#: Longest banned match quoted back to a member; a refusal must fit Discord's 2000 characters.
MAX_QUOTED_CHARS = 100
#: Memory one compiled pattern may take (RE2 refuses bigger programs, e.g. nested counted repeats).
_PATTERN_MEMORY = 1 << 20

#: Control characters, tab and line breaks excepted (they are whitespace to every service and
#: paragraphs in modals): they mean nothing in a prompt, and a NUL ends a C string.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
#: Bidi embeddings, overrides and isolates: they reorder how the rest of a message is drawn
#: (a prompt could make the "- @owner" after it read as someone else's name).
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069]")
#: Blank letters that draw nothing but are not Unicode whitespace or format characters.
_FILLERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
#: Categories that draw nothing on their own: format (zero-width, joiners), marks, separators.
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Cc", "Mn", "Me", "Zs", "Zl", "Zp"})


#: The names of what a member types (``what`` in `text_problem`), in the reader's language.
_WHAT = {
    name.msgid: name
    for name in (
        tr("prompt"),
        tr("negative prompt"),
        tr("suffix"),
        tr("report"),
        tr("word"),
        tr("pattern"),
    )
}


def text_problem(text: str, what: str = "prompt") -> Msg | None:
    """Why ``text`` (the member's ``what``: a name in `_WHAT`, else shown as given) cannot be used,
    as the sentence they read; None if it can.

    Control and bidi characters are refused rather than removed: what is sent is what was typed.
    """
    what = _WHAT.get(what, what)
    if _CONTROL.search(text):
        return tr("The {what} contains control characters. Type it as plain text.", what=what)
    if _BIDI.search(text):
        return tr(
            "The {what} contains text-direction control characters, which can make a message read "
            "differently from what it says. Remove them.",
            what=what,
        )
    if text and not any(_visible(c) for c in text):
        return tr("The {what} has only invisible characters. Type some words.", what=what)
    return None


def _visible(char: str) -> bool:
    return char not in _FILLERS and unicodedata.category(char) not in _INVISIBLE_CATEGORIES


def banning_problem(config: GuildConfig, text: str, *, regex: bool) -> Msg | None:
    """Why ``text`` cannot be added to the server's banned words (or patterns, with ``regex``), as
    the sentence an admin reads; None if it can."""
    kept = config.banned_patterns if regex else config.banned_words
    if text in kept:
        return None
    limit = MAX_BANNED_PATTERNS if regex else MAX_BANNED_WORDS
    if len(kept) >= limit:
        return (
            tr("This server already refuses {limit} patterns. Remove one first.", limit=limit)
            if regex
            else tr("This server already refuses {limit} words. Remove one first.", limit=limit)
        )
    if len(text) > MAX_BANNED_CHARS:
        return tr("A banned word or pattern may have at most {limit} characters.", limit=MAX_BANNED_CHARS)
    if sum(map(len, [*config.banned_words, *config.banned_patterns, text])) > MAX_BANNED_TOTAL_CHARS:
        return tr(
            "The banned words and patterns may have {limit} characters together. Remove some first.",
            limit=MAX_BANNED_TOTAL_CHARS,
        )
    return text_problem(text, "pattern" if regex else "word") or (_pattern_problem(text) if regex else None)


def _pattern_problem(pattern: str) -> Msg | None:
    try:
        compiled = re2.compile(pattern, _options())
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        return tr(
            "The bot cannot use that pattern ({reason}): it is matched with RE2, which has no "
            "backreferences or lookarounds and limits a pattern's size. Rewrite it.",
            reason=reason,
        )
    if compiled.search("") is not None:
        # Its first match in any prompt could be the empty one, which refuses nothing.
        return tr("That pattern also matches empty text. Make it need at least one character.")
    return None


def banned_term(prompt: str, config: GuildConfig) -> str | None:
    """The first banned word (whole word, any case) or pattern match in ``prompt``, shortened to
    at most `MAX_QUOTED_CHARS` characters for quoting."""
    for word in config.banned_words:
        # An escaped literal between two one-character lookarounds: no backtracking to blow up.
        if re.search(rf"(?<!\w){re.escape(word)}(?!\w)", prompt, re.IGNORECASE):
            return _quoted(word)
    for pattern in config.banned_patterns:
        compiled = _compiled(pattern)
        match = compiled.search(prompt) if compiled is not None else None
        if match is not None:
            return _quoted(str(match.group(0)))
    return None


def _quoted(text: str) -> str:
    return text if len(text) <= MAX_QUOTED_CHARS else text[: MAX_QUOTED_CHARS - 1] + "…"


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> Any:
    """``pattern`` compiled by RE2, or None for one stored before patterns had to be RE2 (skipped)."""
    try:
        return re2.compile(pattern, _options())
    except re2.error:
        log.warning("a banned pattern RE2 cannot compile is skipped; remove it with /setup words remove")
        return None


def _options() -> Any:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    options.max_mem = _PATTERN_MEMORY
    return options
