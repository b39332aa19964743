"""TheNextLeg's messages as :class:`TaskSnapshot`: a finished payload (result, buttons, describe's
prompts, /info's fields) or a status word, and ``GET /message``'s progress."""

from __future__ import annotations

from typing import Any

from bot.backends._http import CUSTOM_ZOOM, label_buttons
from bot.backends.nextleg.errors import content_status
from bot.backends.nextleg.models import MessagePayload, MessageProgress
from bot.backends.picks import numbered, pick_button
from bot.domain import ErrorKind, JobStatus, ResultButton, TaskSnapshot


def _final_prompt(content: list[str] | dict[str, Any]) -> str:
    if isinstance(content, list):  # describe: four prompts
        return numbered([str(item) for item in content])
    return "\n".join(f"{key}: {value}" for key, value in content.items())  # info


def _buttons(payload: MessagePayload) -> list[ResultButton]:
    if isinstance(payload.content, list):  # describe: one button per prompt, as Midjourney shows
        return [pick_button(n) for n in range(1, len(payload.content) + 1)]
    return label_buttons(payload.buttons, offered=frozenset({CUSTOM_ZOOM}))


def payload_snapshot(task_id: str, payload: MessagePayload) -> TaskSnapshot:
    """A finished message (webhook body or ``response``) as a snapshot."""
    content = payload.content
    if not (payload.has_image or payload.buttons or isinstance(content, list | dict)):
        # Only a message with nothing else in it is a status: a prompt may well say "queue full".
        text = content or ""
        known = content_status(text)
        if known is None:
            return TaskSnapshot(
                task_id=task_id,
                status=JobStatus.FAILURE,
                fail_reason=text or "TheNextLeg sent an empty result.",
            )
        status, kind, english = known
        return TaskSnapshot(
            task_id=task_id,
            status=status,
            fail_reason=f"{english} ({text})" if status.terminal else None,
            error_kind=kind,
        )
    return TaskSnapshot(
        task_id=task_id,
        status=JobStatus.SUCCESS,
        progress=100,
        image_url=payload.image_url or (payload.image_urls[0] if payload.image_urls else None),
        buttons=_buttons(payload),
        prompt=content if isinstance(content, str) else None,
        final_prompt=_final_prompt(content) if isinstance(content, list | dict) else None,
    )


def progress_snapshot(task_id: str, vo: MessageProgress) -> TaskSnapshot:
    """``GET /message/{id}`` (or a push in the same shape) as a snapshot."""
    if vo.progress == "incomplete":
        return TaskSnapshot(
            task_id=task_id,
            status=JobStatus.FAILURE,
            fail_reason="TheNextLeg gave up on the job (reported incomplete).",
            error_kind=ErrorKind.TIMEOUT,
        )
    result = vo.result()
    if result is not None:
        snapshot = payload_snapshot(task_id, result)
        if snapshot.status is not JobStatus.SUCCESS or vo.progress in (None, 100):
            return snapshot
    percent = vo.progress if isinstance(vo.progress, int) else None
    return TaskSnapshot(
        task_id=task_id,
        status=JobStatus.IN_PROGRESS if percent else JobStatus.SUBMITTED,
        progress=max(0, min(99, percent)) if percent is not None else None,
        image_url=vo.progress_image_url,
    )
