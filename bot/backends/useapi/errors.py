"""How useapi.net's answers become errors: its HTTP statuses, and the words of a failed job or a
refusal that decide the error kind."""

from __future__ import annotations

from bot.backends._http import kind_from_text
from bot.backends.useapi.models import UseApiErrorBody
from bot.domain import BackendError, ErrorKind
from bot.i18n import tr

#: Fragments of a failed job's error (or of a 409/422 body) that decide the error kind.
ERROR_KINDS: tuple[tuple[str, ErrorKind], ...] = (
    ("captcha", ErrorKind.MODERATION),
    ("pending mod", ErrorKind.MODERATION),
    ("action needed", ErrorKind.MODERATION),
    ("banned", ErrorKind.BANNED_PROMPT),
    ("moderat", ErrorKind.BANNED_PROMPT),
    ("timed out", ErrorKind.TIMEOUT),
    ("timeout", ErrorKind.TIMEOUT),
    ("fast hours", ErrorKind.QUOTA),
    ("subscri", ErrorKind.QUOTA),
)


def status_error(status: int, body: UseApiErrorBody | None, text: str, path: str) -> BackendError:
    """A non-2xx answer as the error it stands for."""
    said = (body.error if body else "") or text or f"HTTP {status} on {path}."
    if status == 429:
        if body is not None and body.executing_jobs:
            count = len(body.executing_jobs)
            return BackendError(
                ErrorKind.QUEUE_FULL,
                tr("All job slots are busy ({count} running). ({said})", count=count, said=said),
            )
        return BackendError(
            ErrorKind.QUEUE_FULL,
            tr("Discord is rate-limiting the account; retry shortly. ({said})", said=said),
        )
    if status == 596:
        return BackendError(
            ErrorKind.MODERATION,
            tr(
                "The Midjourney account has a pending moderation message or CAPTCHA; clear it in Discord, "
                "then reset the account at useapi. ({said})",
                said=said,
            ),
        )
    if status in (401, 403):
        return BackendError(ErrorKind.AUTH, f"useapi.net refused the API token (HTTP {status}).")
    if status == 402:
        return BackendError(ErrorKind.QUOTA, said)
    if status == 404:
        return BackendError(ErrorKind.NOT_FOUND, said)
    if status in (409, 422):
        moderated = (body is not None and body.status == "moderated") or kind_from_text(
            said, ERROR_KINDS
        ) is ErrorKind.BANNED_PROMPT
        return BackendError(ErrorKind.BANNED_PROMPT if moderated else ErrorKind.INVALID_INPUT, said)
    if status == 504:
        return BackendError(
            ErrorKind.UNAVAILABLE, f"useapi.net query overflow (HTTP 504); check maxJobs. ({said})"
        )
    if status >= 500:
        return BackendError(ErrorKind.UNAVAILABLE, f"HTTP {status} on {path}.")
    return BackendError(ErrorKind.INVALID_INPUT, said)
