"""A GenerationStatus as the engine's snapshot."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bot.backends.aimg.models import AimgSnapshot, AimgStatus
from bot.domain import JobStatus, ResultButton

log = logging.getLogger(__name__)

#: GenerationStatus.status spellings (lower-cased). The seed gives none; these cover the usual ones.
_STATUSES: dict[str, JobStatus] = {
    **dict.fromkeys(("queued", "pending", "waiting", "enqueued", "submitted", "new"), JobStatus.SUBMITTED),
    **dict.fromkeys(
        ("processing", "generating", "running", "in_progress", "inprogress", "started"), JobStatus.IN_PROGRESS
    ),
    **dict.fromkeys(("completed", "complete", "done", "finished", "success", "succeeded"), JobStatus.SUCCESS),
    **dict.fromkeys(("failed", "failure", "error", "errored"), JobStatus.FAILURE),
    **dict.fromkeys(("cancelled", "canceled"), JobStatus.CANCELLED),
}


def job_status(status: AimgStatus) -> JobStatus:
    known = _STATUSES.get(status.status.strip().lower())
    if known is not None:
        return known
    # An unknown word must not end the job: keep polling, the engine's deadline bounds it.
    log.info("AIMG item %s has an unknown status %r", status.image_id, status.status)
    return JobStatus.SUBMITTED if status.queue_position is not None else JobStatus.IN_PROGRESS


def _percent(progress: float | None) -> int | None:
    if progress is None:
        return None
    value = progress * 100 if 0 < progress < 1 else progress
    return max(0, min(100, round(value)))


def to_snapshot(
    status: AimgStatus, *, buttons: Sequence[ResultButton] = (), prompt: str | None = None
) -> AimgSnapshot:
    """A GenerationStatus as a snapshot; ``buttons`` and ``prompt`` come from the item's details."""
    state = job_status(status)
    frame_urls = [f.frame_url for f in sorted(status.frames, key=lambda f: f.frame_number)]
    progress = {JobStatus.SUBMITTED: 0, JobStatus.SUCCESS: 100}.get(state, _percent(status.progress))
    image_url = status.url or (frame_urls[-1] if frame_urls else None)
    failed = state is JobStatus.FAILURE
    return AimgSnapshot(
        task_id=status.image_id,
        status=state,
        progress=progress,
        image_url=image_url if state is JobStatus.SUCCESS else None,
        # GenerationStatus carries no reason; say so rather than leave the member guessing.
        fail_reason="The image service could not generate this item." if failed else None,
        buttons=list(buttons) if state is JobStatus.SUCCESS else [],
        prompt=prompt,
        queue_position=status.queue_position if state is JobStatus.SUBMITTED else None,
        ignored_words=status.ignored_words,
        media_type="video" if status.mtype == "video" else "image",
        frame_urls=frame_urls,
    )
