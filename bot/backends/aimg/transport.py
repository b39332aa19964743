"""AIMG's transport: one session's calls, each answer's envelope read and its errors mapped."""

from __future__ import annotations

import logging
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from bot.backends._http import scrub
from bot.backends.aimg.errors import envelope_of, error_kind, status_error, validated, validated_list
from bot.backends.aimg.models import AimgModel, AimgOutcome, AimgStatus, Envelope
from bot.domain import BackendError, ErrorKind

log = logging.getLogger(__name__)
_M = TypeVar("_M", bound=BaseModel)
Query = dict[str, str | int]


class AimgTransport:
    """Calls with ``X-Session-ID: <session>`` (none while the session is empty: AIMG then opens
    an anonymous one); the session never shows in an error."""

    def __init__(self, root: str, session: str, http: httpx.AsyncClient) -> None:
        self._root, self._session, self._http = root.rstrip("/"), session, http

    async def status(
        self, method: str, path: str, *, query: Query | None = None, body: BaseModel | None = None
    ) -> AimgStatus:
        return await self.object(method, path, AimgStatus, query=query, body=body)

    async def object(
        self,
        method: str,
        path: str,
        model: type[_M],
        *,
        query: Query | None = None,
        body: BaseModel | dict[str, Any] | None = None,
    ) -> _M:
        envelope = await self.call(method, path, query=query, body=body)
        return validated(model, envelope.payload, path)

    async def outcomes(
        self, method: str, path: str, *, query: Query | None = None, body: dict[str, Any] | None = None
    ) -> list[AimgOutcome]:
        envelope = await self.call(method, path, query=query, body=body)
        return validated_list(AimgOutcome, envelope.payload, path)

    async def call(
        self,
        method: str,
        path: str,
        *,
        query: Query | None = None,
        body: BaseModel | dict[str, Any] | None = None,
    ) -> Envelope:
        payload = (
            body.model_dump(mode="json", by_alias=True, exclude_none=True)
            if isinstance(body, BaseModel)
            else body
        )
        headers = {"X-Session-ID": self._session} if self._session else {}
        try:
            response = await self._http.request(
                method, f"{self._root}/{path}", params=query, json=payload, headers=headers
            )
        except httpx.TimeoutException:
            raise BackendError(ErrorKind.UNAVAILABLE, f"AIMG did not answer {path} in time.") from None
        except httpx.HTTPError as exc:
            # Only the type: the text may carry the URL, and a URL may carry credentials.
            raise BackendError(
                ErrorKind.UNAVAILABLE, f"Could not reach AIMG ({type(exc).__name__})."
            ) from None
        envelope = envelope_of(response)
        if envelope is not None and envelope.has_error:
            message = (envelope.error_message or "").strip()
            kind = error_kind(
                message, envelope.error_code if envelope.error_code is not None else response.status_code
            )
            code = f" (error code {envelope.error_code})" if envelope.error_code is not None else ""
            detail = f"{message}{code}" if message else f"AIMG reported an error on {path}{code}."
            log.info("AIMG %s refused: %s", path, kind.value)
            raise self._scrub(BackendError(kind, detail))
        if not response.is_success:
            raise self._scrub(status_error(response, path))
        if envelope is None:
            raise BackendError(ErrorKind.UNAVAILABLE, f"AIMG sent an unexpected answer to {path}.")
        return envelope

    def hide_session(self, text: str) -> str:
        """``text`` (a server's) with the session id, in any form it may take, replaced by ``***``."""
        return scrub(BackendError(ErrorKind.UNAVAILABLE, text), self._session).detail

    def _scrub(self, error: BackendError) -> BackendError:
        """Never let the session id through text a server may have echoed."""
        return scrub(error, self._session)


def parse_models(payload: Any) -> list[AimgModel]:
    """The usable models of a getModels answer; a malformed entry is skipped, not fatal."""
    if not isinstance(payload, list):
        raise BackendError(ErrorKind.UNAVAILABLE, "AIMG sent a malformed answer to getModels.")
    models = []
    for entry in payload:
        try:
            models.append(AimgModel.model_validate(entry))
        except ValidationError as exc:
            ident = entry.get("modelID") if isinstance(entry, dict) else None
            log.warning("AIMG model %r skipped: %d malformed fields", ident, exc.error_count())
    return models
