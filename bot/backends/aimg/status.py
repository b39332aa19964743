"""A GenerationStatus (and a workflow run's state) as the engine's snapshot."""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Sequence

from bot.backends.aimg.models import AimgSnapshot, AimgStatus
from bot.domain import JobStatus, ResultButton

log = logging.getLogger(__name__)

#: Joins a workflow run's first item id and its workflow id into the job's task id (neither has
#: one: both are UUIDs), so polling can ask the workflow for its error and for every item of its
#: batch, after a restart too.
_WORKFLOW_JOIN = "+"
#: Longest sentence a workflow's error makes (its text is the service's, shown as data).
WORKFLOW_ERROR_CHARS = 300

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


def workflow_task(item_id: str, workflow_id: str) -> str:
    return f"{item_id}{_WORKFLOW_JOIN}{workflow_id}"


def split_task(task_id: str) -> tuple[str, str | None]:
    """A task id's item id, and its workflow id when it is a workflow run's."""
    item_id, _, workflow_id = task_id.partition(_WORKFLOW_JOIN)
    return item_id, workflow_id or None


def workflow_failure(message: str | None) -> str:
    """Why a workflow failed, as a member reads it: the workflow's own message on one line,
    without control or format characters, the sentence at most :data:`WORKFLOW_ERROR_CHARS` long."""
    kept = "".join(" " if unicodedata.category(c)[0] in "CZ" else c for c in message or "")
    text = " ".join(kept.split())
    if not text:
        return "The workflow failed without saying why."
    sentence = f"The workflow failed: {text}"
    if len(sentence) > WORKFLOW_ERROR_CHARS:
        sentence = sentence[: WORKFLOW_ERROR_CHARS - 1] + "…"
    return sentence


def to_snapshot(
    status: AimgStatus,
    *,
    task_id: str | None = None,
    buttons: Sequence[ResultButton] = (),
    prompt: str | None = None,
    queue_length: int | None = None,
    result_urls: Sequence[str] = (),
) -> AimgSnapshot:
    """A GenerationStatus as a snapshot of task ``task_id`` (default: the item's own id);
    ``buttons`` and ``prompt`` come from the item's details, ``queue_length`` from
    getQueuesLength, ``result_urls`` (every image of a batch) from its items."""
    state = job_status(status)
    frame_urls = [f.frame_url for f in sorted(status.frames, key=lambda f: f.frame_number)]
    progress = {JobStatus.SUBMITTED: 0, JobStatus.SUCCESS: 100}.get(state, _percent(status.progress))
    image_url = status.url or (frame_urls[-1] if frame_urls else None)
    failed = state is JobStatus.FAILURE
    waiting = status.queue_position if state is JobStatus.SUBMITTED else None
    done = state is JobStatus.SUCCESS
    return AimgSnapshot(
        task_id=task_id or status.image_id,
        status=state,
        progress=progress,
        image_url=(result_urls[0] if result_urls else image_url) if done else None,
        # GenerationStatus carries no reason; say so rather than leave the member guessing.
        fail_reason="The image service could not generate this item." if failed else None,
        buttons=list(buttons) if done else [],
        prompt=prompt,
        queue_position=waiting,
        # Asked apart from the position: never show fewer waiting than the position says.
        queue_length=max(queue_length, waiting or 0) if queue_length is not None and waiting else None,
        result_urls=list(result_urls) if done and len(result_urls) > 1 else [],
        ignored_words=status.ignored_words,
        media_type="video" if status.mtype == "video" else "image",
        frame_urls=frame_urls,
    )
