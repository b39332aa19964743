"""Plumbing shared by the HTTP backends.

* :func:`send`: one request, with transport failures turned into ``BackendError(UNAVAILABLE)``
  whose text never carries the URL (it may carry credentials); :func:`bearer_request`, the same
  with the hosted APIs' bearer token and their 404-is-none;
* JSON and model decoding that never raises (:func:`try_json`, :func:`try_validate`);
* :func:`scrub`: secrets out of error text a misconfigured service may have echoed;
* Midjourney's button labels as :class:`ResultButton` (TheNextLeg and useapi.net both name a
  button by its label, so the label *is* the custom id there).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus

import httpx
from pydantic import BaseModel, ValidationError

from bot.domain import BackendError, ErrorKind, JobKind, ResultButton

NOT_JSON = object()
_M = TypeVar("_M", bound=BaseModel)


async def send(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    service: str,
    path: str,
    json: Any = None,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """``http.request(...)``; timeouts and connection errors become UNAVAILABLE.

    Read timeouts included: a submit that timed out may or may not have created a task, and "try
    again later" is the honest answer either way. ``service`` names the other side in the message.
    """
    try:
        return await http.request(method, url, json=json, params=params, headers=headers)
    except httpx.TimeoutException:
        raise BackendError(ErrorKind.UNAVAILABLE, f"{service} did not answer in time ({path}).") from None
    except httpx.HTTPError as exc:
        # Only the exception type: its text may carry the URL, and the URL may carry credentials.
        detail = f"Could not reach {service} ({type(exc).__name__})."
        raise BackendError(ErrorKind.UNAVAILABLE, detail) from None


async def bearer_request(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    token: str,
    service: str,
    path: str,
    error: Callable[[httpx.Response], BackendError],
    json: Any = None,
    params: dict[str, str] | None = None,
    not_found_is_none: bool = False,
) -> httpx.Response | None:
    """:func:`send` with ``Authorization: Bearer <token>`` (the hosted APIs). A 2xx answer is
    returned; a 404 is None when ``not_found_is_none``; any other raises ``error(response)``, the
    token scrubbed from it."""
    headers = {"Authorization": f"Bearer {token}"}
    response = await send(
        http, method, url, service=service, path=path, json=json, params=params, headers=headers
    )
    if response.is_success:
        return response
    if response.status_code == 404 and not_found_is_none:
        return None
    raise scrub(error(response), token)


def try_json(response: httpx.Response) -> Any:
    """The decoded body, or :data:`NOT_JSON`."""
    try:
        return response.json()
    except ValueError:
        return NOT_JSON


def try_validate(model: type[_M], data: Any) -> _M | None:
    """``data`` as ``model`` when it is a JSON object that fits, else None."""
    if not isinstance(data, dict):
        return None
    try:
        return model.model_validate(data)
    except ValidationError:
        return None


def scrub(error: BackendError, *secrets: str) -> BackendError:
    """``error`` with every non-empty secret in its detail replaced by ``***``: as typed, and as a
    service may echo it back, URL-encoded or in base64 (standard or URL-safe, padded or not)."""
    detail = error.detail
    for secret in secrets:
        for form in sorted(secret_forms(secret), key=len, reverse=True):
            detail = detail.replace(form, "***")
    return error if detail == error.detail else BackendError(error.kind, detail)


def secret_forms(secret: str) -> set[str]:
    """The ways ``secret`` may be written in text: itself, URL-encoded, base64 and base64url."""
    if not secret:
        return set()
    raw = secret.encode()
    encoded = {base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    return {
        secret,
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
        *encoded,
        *(e.rstrip("=") for e in encoded),
    }


def kind_from_text(text: str, table: Iterable[tuple[str, ErrorKind]]) -> ErrorKind | None:
    """The kind of the first (lower-case) fragment of ``table`` found in ``text``."""
    lowered = text.lower()
    return next((kind for fragment, kind in table if fragment in lowered), None)


def api_root(base_url: str, version: str = "/v2") -> str:
    """``base_url`` with the API version path, whether or not the configured URL already had it."""
    root = base_url.rstrip("/")
    return root if root.endswith(version) else root + version


def refuse_uploads(images: Sequence[bytes], service: str) -> None:
    """The hosted APIs take images as URLs inside the prompt, never as uploaded bytes (the bot
    sends them by URL, ``imagine_urls``)."""
    if images:
        raise BackendError(
            ErrorKind.INVALID_INPUT,
            f"{service} cannot take uploaded images. Put image URLs at the start of the prompt instead.",
        )


# --------------------------------------------------------------------------------------------
# Midjourney button labels
# --------------------------------------------------------------------------------------------

#: Label pattern → (kind, row). Rows follow the Midjourney bot's layout: on a grid U1–U4 and
#: reroll, then V1–V4; on an upscale the upscales, the varies, the zooms, then the pans.
_LABEL_RULES: tuple[tuple[re.Pattern[str], JobKind, int], ...] = (
    (re.compile(r"^U[1-4]$"), JobKind.UPSCALE, 0),
    (re.compile(r"^🔄$"), JobKind.REROLL, 0),
    (re.compile(r"^V[1-4]$"), JobKind.VARIATION, 1),
    (re.compile(r"^(Redo )?Upscale \("), JobKind.UPSCALE, 0),
    (re.compile(r"^(Vary \(|(🪄 )?Make Variations$)"), JobKind.VARIATION, 1),
    (re.compile(r"^(Zoom Out |Make Square$|Custom Zoom$)"), JobKind.ZOOM, 2),
    (re.compile(r"^(⬅️|➡️|⬆️|⬇️)$"), JobKind.PAN, 3),
)

CUSTOM_ZOOM = "Custom Zoom"
#: Buttons that need input (a zoom factor or prompt, a mask). Unless the backend can take it
#: (``label_buttons(offered=…)``), offering them would only produce a failed job: left out.
NEEDS_INPUT = frozenset({CUSTOM_ZOOM, "Vary (Region)"})


def label_button(label: str) -> ResultButton:
    """A button named by its Midjourney label (``"U2"``, ``"🔄"``, ``"❤️ Favorite"``…).

    ``custom_id`` is the label, exactly as received (the APIs match it byte for byte, emoji
    included). A leading emoji is split off into ``emoji`` so Discord shows it as one.
    """
    kind, row = next(
        ((kind, row) for pattern, kind, row in _LABEL_RULES if pattern.match(label)), (JobKind.ACTION, None)
    )
    first, _, rest = label.partition(" ")
    if first and not any(char.isalnum() for char in first):
        return ResultButton(custom_id=label, label=rest, emoji=first, kind=kind, row=row)
    return ResultButton(custom_id=label, label=label, kind=kind, row=row)


def label_buttons(labels: Iterable[str], offered: frozenset[str] = frozenset()) -> list[ResultButton]:
    """The pressable buttons among ``labels``, in order, each once; of those that need input,
    only the ``offered`` ones."""
    seen: set[str] = set()
    buttons = []
    for label in labels:
        if label and label not in seen and (label not in NEEDS_INPUT or label in offered):
            seen.add(label)
            buttons.append(label_button(label))
    return buttons
