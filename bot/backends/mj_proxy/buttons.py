"""midjourney-proxy's buttons: Discord's customIds as :class:`ResultButton` (kind and row), and the
grid buttons the open-source proxy never sends, drawn here and pressed through ``/submit/change``."""

from __future__ import annotations

import re

from bot.backends.mj_proxy.models import ButtonVO, ChangeAction, TaskVO
from bot.domain import ButtonStyle, JobKind, ResultButton

_STYLES: dict[int, ButtonStyle] = {
    1: ButtonStyle.PRIMARY,
    2: ButtonStyle.SECONDARY,
    3: ButtonStyle.SUCCESS,
    4: ButtonStyle.DANGER,
}

#: customId pattern → (kind, row). Rows follow the Midjourney bot's own layout: on a grid U1–U4 and
#: reroll, then V1–V4; on an upscale the upscales, the varies, the zooms, then pans and bookmark.
_BUTTON_RULES: tuple[tuple[re.Pattern[str], JobKind, int | None], ...] = (
    (re.compile(r"^MJ::JOB::upsample::\d"), JobKind.UPSCALE, 0),
    (re.compile(r"^MJ::JOB::reroll::"), JobKind.REROLL, 0),
    (re.compile(r"^MJ::JOB::variation::\d"), JobKind.VARIATION, 1),
    (re.compile(r"^MJ::JOB::upsample_v"), JobKind.UPSCALE, 0),
    (re.compile(r"^MJ::JOB::(low|high)_variation::"), JobKind.VARIATION, 1),
    (re.compile(r"^MJ::Inpaint::"), JobKind.VARIATION, 1),
    (re.compile(r"^MJ::(Outpaint|CustomZoom)::"), JobKind.ZOOM, 2),
    (re.compile(r"^MJ::JOB::pan_"), JobKind.PAN, 3),
    (re.compile(r"^MJ::BOOKMARK::"), JobKind.ACTION, 3),
)

#: Legacy grid customIds (the ones /submit/change stands for, docs/backends/midjourney-proxy.md)
#: → change action.
_LEGACY_CHANGES: tuple[tuple[re.Pattern[str], ChangeAction], ...] = (
    (re.compile(r"^MJ::JOB::upsample::([1-4])::"), "UPSCALE"),
    (re.compile(r"^MJ::JOB::variation::([1-4])::"), "VARIATION"),
    (re.compile(r"^MJ::JOB::reroll::0::"), "REROLL"),
)

#: Task actions whose result is a grid /submit/change accepts as a parent (novicezk SubmitController).
CHANGEABLE_ACTIONS = frozenset({"IMAGINE", "VARIATION", "REROLL", "BLEND"})


def grid_buttons(message_hash: str) -> list[ButtonVO]:
    """The buttons Midjourney puts under a finished grid: U1–U4, 🔄, V1–V4, with legacy customIds.

    What plus/C# copy from Discord for a grid, and what the open-source proxy never sends.
    """
    return [
        *(ButtonVO(custom_id=f"MJ::JOB::upsample::{i}::{message_hash}", label=f"U{i}") for i in range(1, 5)),
        ButtonVO(custom_id=f"MJ::JOB::reroll::0::{message_hash}::SOLO", emoji="🔄"),
        *(ButtonVO(custom_id=f"MJ::JOB::variation::{i}::{message_hash}", label=f"V{i}") for i in range(1, 5)),
    ]


def oss_buttons(task: TaskVO) -> list[ButtonVO]:
    """The grid buttons an open-source proxy task would have, were it plus: only those it can press.

    A finished grid (imagine, variation, re-roll, blend) gets :func:`grid_buttons`; anything else,
    an upscale included, gets none, as ``/submit/change`` refuses it as a parent. The hash is only
    there to make the ids look like Midjourney's: :func:`legacy_change` does not need it.
    """
    if task.status != "SUCCESS" or task.action not in CHANGEABLE_ACTIONS:
        return []
    message_hash = task.properties.get("messageHash")
    return grid_buttons(message_hash if isinstance(message_hash, str) and message_hash else task.id)


def legacy_change(custom_id: str) -> tuple[ChangeAction, int | None] | None:
    """``MJ::JOB::upsample::2::<hash>`` → ``("UPSCALE", 2)``; re-roll has no index; other ids → None."""
    for pattern, action in _LEGACY_CHANGES:
        match = pattern.match(custom_id)
        if match:
            return action, int(match.group(1)) if match.groups() else None
    return None


def to_button(vo: ButtonVO) -> ResultButton:
    kind, row = next(
        ((kind, row) for pattern, kind, row in _BUTTON_RULES if pattern.match(vo.custom_id)),
        (JobKind.ACTION, None),
    )
    return ResultButton(
        custom_id=vo.custom_id,
        label=vo.label,
        emoji=vo.emoji,
        style=_STYLES.get(vo.style, ButtonStyle.SECONDARY),
        kind=kind,
        row=row,
    )
