"""The result buttons of an AIMG item and the votes they cast. Buttons carry the bot's own ids,
``aimg:<verb>``: ``reroll`` and ``variation`` start a new generation; ``like``, ``dislike``,
``delete`` and ``report`` act on the item and start nothing. 👍 and 👎 toggle (:func:`vote_verb`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from bot.backends.aimg.models import AimgItem
from bot.domain import BackendError, ButtonStyle, ErrorKind, JobKind, ResultButton

Verb = Literal["reroll", "variation", "like", "unlike", "dislike", "undislike", "delete", "report"]
#: A member's standing vote on an item.
Vote = Literal["like", "dislike"]
_VERB_PREFIX = "aimg:"
GENERATION_VERBS: frozenset[str] = frozenset({"reroll", "variation"})
ITEM_VERBS: frozenset[str] = frozenset({"like", "unlike", "dislike", "undislike", "delete", "report"})


def custom_id(verb: Verb) -> str:
    return f"{_VERB_PREFIX}{verb}"


def parse_verb(value: str) -> str:
    """The verb of an ``aimg:<verb>`` custom id; BackendError(INVALID_INPUT) for anything else."""
    verb = value.removeprefix(_VERB_PREFIX)
    if not value.startswith(_VERB_PREFIX) or verb not in GENERATION_VERBS | ITEM_VERBS:
        raise BackendError(ErrorKind.INVALID_INPUT, f"Unknown AIMG action {value!r}.")
    return verb


def vote_of(value: str) -> Vote | None:
    """The vote a 👍 (``aimg:like``) or 👎 (``aimg:dislike``) button casts; None for other buttons."""
    return _VOTES.get(value)


_VOTES: dict[str, Vote] = {f"{_VERB_PREFIX}like": "like", f"{_VERB_PREFIX}dislike": "dislike"}


def vote_verb(pressed: Vote, current: str | None) -> tuple[Verb, Vote | None]:
    """What pressing 👍 or 👎 does for a member whose vote is ``current``, and their vote after.

    The same button again takes the vote back (unlike, undislike). The other button simply casts
    the new vote: at AIMG liking removes a dislike and disliking removes a like.
    """
    if pressed == current:
        return ("unlike" if pressed == "like" else "undislike"), None
    return pressed, pressed


def result_buttons(*, supports_variations: bool, video: bool = False) -> list[ResultButton]:
    """The buttons of a finished item: generate again on row 0, feedback on row 1."""
    buttons = [
        ResultButton(custom_id=custom_id("reroll"), label="New seed", emoji="🔄", kind=JobKind.REROLL, row=0)
    ]
    if supports_variations and not video:
        buttons.append(
            ResultButton(custom_id=custom_id("variation"), label="Variation", kind=JobKind.VARIATION, row=0)
        )
    buttons += [
        # Grey until voted: green then shows the vote (cogs/aimg/items.py).
        ResultButton(custom_id=custom_id("like"), emoji="👍", row=1),
        ResultButton(custom_id=custom_id("dislike"), emoji="👎", row=1),
        ResultButton(custom_id=custom_id("delete"), emoji="🗑️", style=ButtonStyle.DANGER, row=1),
        ResultButton(custom_id=custom_id("report"), emoji="🚩", style=ButtonStyle.DANGER, row=1),
    ]
    return buttons


#: Whether an item is already as a vote verb leaves it (for the viewing session).
VOTE_REACHED: dict[str, Callable[[AimgItem], bool]] = {
    "like": lambda item: item.is_liked,
    "unlike": lambda item: not item.is_liked,
    "dislike": lambda item: item.is_disliked,
    "undislike": lambda item: not item.is_disliked,
}
