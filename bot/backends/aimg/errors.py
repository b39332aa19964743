"""How AIMG's answers become data or a :class:`BackendError`: an envelope with ``hasError`` (most
errors come back as HTTP 200), a bare HTTP status, or a payload of the wrong shape."""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from bot.backends.aimg.models import Envelope
from bot.domain import BackendError, ErrorKind

_M = TypeVar("_M", bound=BaseModel)

#: errorMessage fragments that name a cause, checked before errorCode (most specific first).
_MESSAGE_KINDS: tuple[tuple[str, ErrorKind], ...] = (
    ("session", ErrorKind.AUTH),
    ("sign in", ErrorKind.AUTH),
    ("signed in", ErrorKind.AUTH),
    ("sign up", ErrorKind.AUTH),
    ("log in", ErrorKind.AUTH),
    ("logged in", ErrorKind.AUTH),
    ("unauthori", ErrorKind.AUTH),
    ("not authenticated", ErrorKind.AUTH),
    ("otp", ErrorKind.AUTH),
    ("nsfw", ErrorKind.BANNED_PROMPT),
    ("banned", ErrorKind.BANNED_PROMPT),
    ("prohibited", ErrorKind.BANNED_PROMPT),
    ("inappropriate", ErrorKind.BANNED_PROMPT),
    ("credit", ErrorKind.QUOTA),
    ("quota", ErrorKind.QUOTA),
    ("tier", ErrorKind.QUOTA),
    ("upgrade", ErrorKind.QUOTA),
    ("subscription", ErrorKind.QUOTA),
    ("queue", ErrorKind.QUEUE_FULL),
    ("concurrent", ErrorKind.QUEUE_FULL),
    ("too many", ErrorKind.QUEUE_FULL),
    ("rate limit", ErrorKind.QUEUE_FULL),
    ("not found", ErrorKind.NOT_FOUND),
    ("does not exist", ErrorKind.NOT_FOUND),
    ("no longer exists", ErrorKind.NOT_FOUND),
)

#: AIMG's HTTP-style codes (docs/backends/aimg.md), for ``errorCode`` and for non-2xx statuses
#: without an envelope.
_CODE_KINDS: dict[int, ErrorKind] = {
    400: ErrorKind.INVALID_INPUT,
    401: ErrorKind.AUTH,
    402: ErrorKind.QUOTA,
    403: ErrorKind.AUTH,
    404: ErrorKind.NOT_FOUND,
    405: ErrorKind.INVALID_INPUT,
    406: ErrorKind.INVALID_INPUT,
    408: ErrorKind.UNAVAILABLE,
    409: ErrorKind.INVALID_INPUT,
    410: ErrorKind.NOT_FOUND,
    422: ErrorKind.INVALID_INPUT,
    429: ErrorKind.QUEUE_FULL,
}

#: Generic validation wording: only decides when neither a cause nor a known code did.
_VALIDATION_FRAGMENTS = ("invalid", "must be", "allowed", "required", "missing", "out of range")


def error_kind(message: str, code: int | str | None) -> ErrorKind:
    """The ErrorKind for a ``hasError`` answer: a cause named in the message, else the code."""
    lowered = message.lower()
    kind = next((kind for fragment, kind in _MESSAGE_KINDS if fragment in lowered), None)
    if kind is not None:
        return kind
    number = _as_int(code)
    if number is not None:
        if number in _CODE_KINDS:
            return _CODE_KINDS[number]
        if number >= 500:
            return ErrorKind.UNAVAILABLE
    if any(fragment in lowered for fragment in _VALIDATION_FRAGMENTS):
        return ErrorKind.INVALID_INPUT
    return ErrorKind.UNAVAILABLE


def _as_int(code: int | str | None) -> int | None:
    if isinstance(code, int):
        return code
    if isinstance(code, str) and code.strip().isdigit():
        return int(code)
    return None


def envelope_of(response: httpx.Response) -> Envelope | None:
    try:
        data = response.json()
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    try:
        return Envelope.model_validate(data)
    except ValidationError:
        return None


def status_error(response: httpx.Response, path: str) -> BackendError:
    status = response.status_code
    if status == 404:
        # No envelope: the path itself is unknown, most likely a wrong base URL, not a missing item.
        return BackendError(
            ErrorKind.INVALID_INPUT, f"AIMG does not know /{path} (HTTP 404); check the base URL."
        )
    kind = _CODE_KINDS.get(status, ErrorKind.UNAVAILABLE)
    return BackendError(kind, f"HTTP {status} on {path}.")


STRINGS = TypeAdapter(list[str])


def malformed(path: str, exc: ValidationError) -> BackendError:
    return BackendError(
        ErrorKind.UNAVAILABLE, f"AIMG sent a malformed answer to {path} ({exc.error_count()} errors)."
    )


def validated(model: type[_M], data: Any, path: str) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise malformed(path, exc) from None


def validated_list(model: type[_M], data: Any, path: str) -> list[_M]:
    """A payload array of ``model``; a null payload is an empty list."""
    if data is None:
        return []
    if not isinstance(data, list):
        raise BackendError(ErrorKind.UNAVAILABLE, f"AIMG sent a malformed answer to {path} (not a list).")
    return [validated(model, entry, path) for entry in data]
