"""useapi.net's jobs as :class:`TaskSnapshot`, and Midjourney's /info text as fields."""

from __future__ import annotations

import re

from bot.backends._http import NEEDS_INPUT, kind_from_text, label_buttons
from bot.backends.useapi.errors import ERROR_KINDS
from bot.backends.useapi.models import UseApiJob
from bot.domain import BackendError, ErrorKind, JobStatus, TaskSnapshot

_STATUSES: dict[str, JobStatus] = {
    "created": JobStatus.SUBMITTED,
    "started": JobStatus.SUBMITTED,
    "progress": JobStatus.IN_PROGRESS,
    "completed": JobStatus.SUCCESS,
    "failed": JobStatus.FAILURE,
    "moderated": JobStatus.FAILURE,
    "cancelled": JobStatus.CANCELLED,
}

#: The progress Midjourney writes into the message: "**cat** - <@1> (37%) (fast)".
_PERCENT = re.compile(r"\((\d{1,3})%\)")


def job_snapshot(job: UseApiJob) -> TaskSnapshot:
    status = _STATUSES.get(job.status)
    if status is None:
        raise BackendError(ErrorKind.INVALID_INPUT, f"Unknown useapi job status {job.status!r}.")
    fail_reason = error_kind = None
    if status is JobStatus.FAILURE:
        fail_reason = (
            " ".join(part for part in (job.error, job.error_details) if part) or f"Job {job.status}."
        )
        error_kind = (
            ErrorKind.BANNED_PROMPT if job.status == "moderated" else kind_from_text(fail_reason, ERROR_KINDS)
        )
    percent = _PERCENT.search(job.content or "")
    progress = 100 if status is JobStatus.SUCCESS else int(percent.group(1)) if percent else None
    done = status is JobStatus.SUCCESS
    return TaskSnapshot(
        task_id=job.jobid,
        status=status,
        progress=None if progress is None else min(progress, 100),
        # The grid, the upscale, or while running the latest preview.
        image_url=job.attachments[0].url if job.attachments else None,
        fail_reason=fail_reason,
        error_kind=error_kind,
        buttons=label_buttons(job.buttons, offered=NEEDS_INPUT) if done else [],
        prompt=job.prompt,
        # describe answers its four prompts as the message text.
        final_prompt=job.content if done and job.verb == "describe" else None,
    )


#: One line of Midjourney's /info: "**Fast Time Remaining**: 14.5/15.0 hours (96.67%)".
_INFO_LINE = re.compile(r"^\W*([A-Za-z][^:]*?)\s*:\s*(.+)$")


def info_lines(content: str) -> dict[str, str]:
    """The "Label: value" lines of /info's text (markdown dropped)."""
    found = (_INFO_LINE.match(line.replace("*", "").strip()) for line in content.splitlines())
    return {m.group(1).strip(): m.group(2).strip() for m in found if m}
