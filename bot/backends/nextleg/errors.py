"""How TheNextLeg's answers become errors: the status words it puts in ``content``, its
refusals (``{"success": false, …}``) and HTTP statuses."""

from __future__ import annotations

import re

import httpx

from bot.backends._http import try_json, try_validate
from bot.backends.nextleg.models import SubmitAnswer
from bot.domain import BackendError, ErrorKind, JobStatus

#: Status strings TheNextLeg puts in ``content`` (the Go client's list), by status and error kind.
_CONTENT_STATUSES: dict[str, tuple[JobStatus, ErrorKind | None, str]] = {
    "JOB_QUEUED": (JobStatus.SUBMITTED, None, "Queued at Midjourney."),
    "APPEAL_ACCEPTED": (JobStatus.IN_PROGRESS, None, "The moderation appeal was accepted."),
    "QUEUE_FULL": (JobStatus.FAILURE, ErrorKind.QUEUE_FULL, "Midjourney's queue is full."),
    "BANNED_PROMPT": (JobStatus.FAILURE, ErrorKind.BANNED_PROMPT, "Midjourney banned the prompt."),
    "BLOCKED": (JobStatus.FAILURE, ErrorKind.BANNED_PROMPT, "Midjourney blocked the prompt."),
    "APPEAL_REJECTED": (JobStatus.FAILURE, ErrorKind.BANNED_PROMPT, "The moderation appeal was rejected."),
    "IMAGE_BLOCKED": (JobStatus.FAILURE, ErrorKind.BANNED_PROMPT, "Midjourney blocked the image."),
    "NO_FAST_HOURS": (JobStatus.FAILURE, ErrorKind.QUOTA, "The account has no fast hours left."),
    "PLEASE_SUBSCRIBE_TO_MJ_IN_YOUR_DASHBOARD": (
        JobStatus.FAILURE,
        ErrorKind.QUOTA,
        "The Midjourney subscription is missing.",
    ),
    "JOB_ACTION_RESTRICTED": (
        JobStatus.FAILURE,
        ErrorKind.MODERATION,
        "Midjourney restricted the account (action needed).",
    ),
    "MODERATION_OUTAGE": (JobStatus.FAILURE, ErrorKind.UNAVAILABLE, "Midjourney's moderation is down."),
    "BOT_TOOK_TOO_LONG_TO_PROCESS_YOUR_COMMAND": (
        JobStatus.FAILURE,
        ErrorKind.TIMEOUT,
        "Midjourney took too long.",
    ),
    "ALREADY_REQUESTED_UPSCALE": (
        JobStatus.FAILURE,
        ErrorKind.INVALID_INPUT,
        "This upscale was already made.",
    ),
    "BUTTON_NOT_FOUND": (JobStatus.FAILURE, ErrorKind.INVALID_INPUT, "That button does not exist."),
    "INVALID_LINK": (JobStatus.FAILURE, ErrorKind.INVALID_INPUT, "An image link is invalid."),
    "INVALID_PARAMETER": (JobStatus.FAILURE, ErrorKind.INVALID_INPUT, "A prompt parameter is invalid."),
    "FAILED_TO_PROCESS_YOUR_COMMAND": (JobStatus.FAILURE, ErrorKind.UNAVAILABLE, "Midjourney failed."),
    "FAILED_TO_REQUEST": (JobStatus.FAILURE, ErrorKind.UNAVAILABLE, "TheNextLeg could not reach Midjourney."),
    "INTERNAL_ERROR": (JobStatus.FAILURE, ErrorKind.UNAVAILABLE, "TheNextLeg had an internal error."),
}


def content_status(content: str) -> tuple[JobStatus, ErrorKind | None, str] | None:
    """The status a ``content`` string stands for, if it is one (``"Banned Prompt"`` counts too)."""
    return _CONTENT_STATUSES.get(re.sub(r"[^A-Z0-9]+", "_", content.upper()).strip("_"))


def refusal(text: str) -> BackendError:
    """A ``{"success": false, …}`` answer's text as the error it stands for."""
    if text.lower().startswith("invalid phrase"):
        return BackendError(ErrorKind.BANNED_PROMPT, f"The prompt failed TheNextLeg's prefilter ({text}).")
    known = content_status(text)
    if known is not None and known[1] is not None:
        return BackendError(known[1], f"{known[2]} ({text})")
    return BackendError(ErrorKind.INVALID_INPUT, text or "TheNextLeg refused the request.")


def status_error(response: httpx.Response, path: str) -> BackendError:
    status = response.status_code
    answer = try_validate(SubmitAnswer, try_json(response))
    text = (answer.msg or answer.content) if answer else response.text.strip()[:300]
    if status == 400:
        return refusal(text)
    if status in (401, 403):
        return BackendError(ErrorKind.AUTH, f"TheNextLeg refused the token (HTTP {status}).")
    if status == 402:
        return BackendError(ErrorKind.QUOTA, text or "TheNextLeg wants payment (HTTP 402).")
    if status == 404:
        return BackendError(ErrorKind.NOT_FOUND, text or f"{path} was not found (HTTP 404).")
    if status == 429:
        # The pacer should prevent this; another client sharing the token can still cause it.
        return BackendError(ErrorKind.QUEUE_FULL, "TheNextLeg is rate-limiting this token (HTTP 429).")
    if status >= 500:
        return BackendError(ErrorKind.UNAVAILABLE, f"HTTP {status} on {path}.")
    return BackendError(ErrorKind.INVALID_INPUT, text or f"HTTP {status} on {path}.")
