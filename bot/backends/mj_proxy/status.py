"""midjourney-proxy's tasks as :class:`TaskSnapshot`: status, progress, failure reason and kind,
and the buttons each flavour can press."""

from __future__ import annotations

import re

from bot.backends._http import kind_from_text
from bot.backends.base import SEED_BUTTON
from bot.backends.mj_proxy.buttons import oss_buttons, to_button
from bot.backends.mj_proxy.errors import describe_message
from bot.backends.mj_proxy.flavours import Flavour
from bot.backends.mj_proxy.models import TaskVO
from bot.domain import BackendError, ErrorKind, JobStatus, ResultButton, TaskSnapshot

#: Failure reasons of finished tasks that map onto an error kind.
_FAIL_REASON_KINDS: tuple[tuple[str, ErrorKind], ...] = (
    ("可能包含敏感词", ErrorKind.BANNED_PROMPT),
    ("banned prompt", ErrorKind.BANNED_PROMPT),
    ("超时", ErrorKind.TIMEOUT),
    ("timed out", ErrorKind.TIMEOUT),
    ("timeout", ErrorKind.TIMEOUT),
    ("人工验证", ErrorKind.MODERATION),
    ("captcha", ErrorKind.MODERATION),
    ("action needed", ErrorKind.MODERATION),
    ("pending mod", ErrorKind.MODERATION),
)

_STATUSES: dict[str, JobStatus] = {
    "NOT_START": JobStatus.SUBMITTED,
    "SUBMITTED": JobStatus.SUBMITTED,
    "IN_PROGRESS": JobStatus.IN_PROGRESS,
    "MODAL": JobStatus.MODAL,
    "SUCCESS": JobStatus.SUCCESS,
    "FAILURE": JobStatus.FAILURE,
    "CANCEL": JobStatus.CANCELLED,
}

#: C# cancels a task by failing it with this reason.
_CANCEL_REASON = "取消任务"

#: Task actions whose result is an image Midjourney can tell the seed of (C#'s image-seed).
_SEEDED_ACTIONS = frozenset(
    {"IMAGINE", "UPSCALE", "VARIATION", "REROLL", "BLEND", "PAN", "ZOOM", "OUTPAINT", "INPAINT", "UPSCALE_HD"}
)

_PROGRESS = re.compile(r"(\d{1,3})")


def parse_progress(progress: str | int | None) -> int | None:
    """``"46%"`` → 46; empty or missing → None."""
    if isinstance(progress, int):
        return max(0, min(100, progress))
    match = _PROGRESS.search(progress or "")
    return max(0, min(100, int(match.group(1)))) if match else None


def to_snapshot(task: TaskVO) -> TaskSnapshot:
    status = _STATUSES.get(task.status or "")
    if status is None:
        raise BackendError(ErrorKind.INVALID_INPUT, f"Unknown task status {task.status!r}.")
    fail_reason = task.fail_reason or None
    if status is JobStatus.FAILURE and fail_reason == _CANCEL_REASON:
        status = JobStatus.CANCELLED
    final_prompt = task.properties.get("finalPrompt")
    return TaskSnapshot(
        task_id=task.id,
        status=status,
        progress=parse_progress(task.progress),
        image_url=task.image_url or None,
        fail_reason=describe_message(fail_reason) if fail_reason else None,
        error_kind=kind_from_text(fail_reason, _FAIL_REASON_KINDS) if fail_reason else None,
        # Link buttons (no customId) cannot be pressed through the proxy.
        buttons=[to_button(b) for b in task.buttons if b.custom_id],
        prompt=task.prompt,
        final_prompt=final_prompt if isinstance(final_prompt, str) and final_prompt else None,
    )


def task_snapshot(task: TaskVO, flavour: Flavour) -> TaskSnapshot:
    """A task as an account of ``flavour`` shows it, with the buttons it can press."""
    if flavour == "oss":
        # The open-source proxy sends no buttons; draw the ones action() can map onto /change.
        task.buttons = oss_buttons(task)
    snapshot = to_snapshot(task)
    if flavour == "csharp" and task.status == "SUCCESS" and task.action in _SEEDED_ACTIONS:
        # A row of its own, below Midjourney's rows (which stay as they are).
        seed = ResultButton(custom_id=SEED_BUTTON, label="Seed", emoji="✉️", row=4)
        snapshot = snapshot.model_copy(update={"buttons": [*snapshot.buttons, seed]})
    return snapshot
