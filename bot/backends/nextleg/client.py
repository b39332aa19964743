"""The TheNextLeg client, :class:`NextLegBackend`: one token's submits, settings, paced transport
and the ``messageId → buttonMessageId`` memory; what the answers mean lives in the sibling modules."""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel

from bot.backends._http import api_root, bearer_request, refuse_uploads, scrub, try_validate
from bot.backends._wire import dump, json_body, parse
from bot.backends.base import AccountOption, Capability, image_prompt
from bot.backends.nextleg.errors import refusal, status_error
from bot.backends.nextleg.models import (
    BlendRequest,
    ButtonRequest,
    DescribeRequest,
    ImagineRequest,
    MessagePayload,
    MessageProgress,
    SeedAnswer,
    SeedRequest,
    SettingsToggleRequest,
    SubmitAnswer,
    ZoomButtonRequest,
    split_zoom,
)
from bot.backends.nextleg.pacer import Pacer
from bot.backends.nextleg.settings import NextLegSettings, parse_settings
from bot.backends.nextleg.status import progress_snapshot
from bot.domain import (
    Account,
    BackendError,
    Dimensions,
    ErrorKind,
    JobStatus,
    SettingsState,
    SubmitResult,
    TaskSnapshot,
)
from bot.i18n import tr

log = logging.getLogger(__name__)

SERVICE = "TheNextLeg"
DEFAULT_MIN_INTERVAL = 3.0
#: A floor between two polls of a settings message, so a zero pace (tests) does not spin.
_POLL_FLOOR_SECONDS = 0.02
#: How many ``messageId → buttonMessageId`` pairs are remembered (older results do a GET instead).
_BUTTON_ID_MEMORY = 1024


#: The account options this backend reads (see :func:`bot.backends.check_options`).
OPTIONS = {"min_interval": AccountOption(re.compile(r"\d{1,4}(\.\d{1,3})?"), "3")}


class NextLegBackend:
    """One TheNextLeg token. Implements :class:`bot.backends.base.Backend`.

    ``account.secret`` is the API token; ``account.base_url`` the API root, with or without
    ``/v2``; ``account.options["min_interval"]`` the seconds between two requests (default 3).
    """

    service: ClassVar[str] = SERVICE
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.SETTINGS,
            Capability.BLEND_URLS,
            Capability.DESCRIBE_URL,
            Capability.IMAGINE_URLS,
            Capability.CUSTOM_ZOOM,
            Capability.SEED,
            Capability.ACCOUNT_INFO,
        }
    )

    def __init__(self, account: Account, http: httpx.AsyncClient) -> None:
        interval = float(account.options.get("min_interval", DEFAULT_MIN_INTERVAL))
        if interval < 0:
            raise ValueError("min_interval must not be negative")
        self.pacer = Pacer(interval)
        self._root = api_root(account.base_url)
        self._secret = account.secret
        self._http = http
        self._button_ids: OrderedDict[str, str] = OrderedDict()

    # --- Backend ------------------------------------------------------------------------------

    async def imagine(
        self, prompt: str, images: Sequence[bytes] = (), *, hook_url: str | None = None, state: str = ""
    ) -> SubmitResult:
        refuse_uploads(images, SERVICE)
        return await self._submit(
            "POST", "/imagine", ImagineRequest(msg=prompt, ref=state, webhook_override=hook_url)
        )

    async def imagine_urls(
        self, prompt: str, urls: Sequence[str], *, hook_url: str | None = None, state: str = ""
    ) -> SubmitResult:
        """Image prompts go at the start of ``msg``; the service fetches them (``INVALID_LINK``
        when it cannot)."""
        return await self.imagine(image_prompt(urls, prompt), hook_url=hook_url, state=state)

    async def action(
        self, task_id: str, custom_id: str, *, hook_url: str | None = None, state: str = ""
    ) -> SubmitResult:
        """Press the button labelled ``custom_id`` on the result of task (``messageId``) ``task_id``."""
        button_message_id = self._button_ids.get(task_id) or await self._lookup_button_message_id(task_id)
        body = ButtonRequest(
            button=custom_id, button_message_id=button_message_id, ref=state, webhook_override=hook_url
        )
        return await self._submit("POST", "/button", body)

    async def custom_zoom(
        self, task_id: str, custom_id: str, prompt: str, *, hook_url: str | None = None, state: str = ""
    ) -> SubmitResult:
        """Custom Zoom: ``--zoom`` and ``--ar`` leave the prompt for the ``zoom`` and ``ar`` fields."""
        zoom, ar, rest = split_zoom(prompt)
        button_message_id = self._button_ids.get(task_id) or await self._lookup_button_message_id(task_id)
        body = ZoomButtonRequest(
            button=custom_id,
            button_message_id=button_message_id,
            prompt=rest,
            zoom=zoom,
            ar=ar,
            ref=state,
            webhook_override=hook_url,
        )
        return await self._submit("POST", "/button", body)

    async def describe_url(self, url: str, *, hook_url: str | None = None, state: str = "") -> SubmitResult:
        return await self._submit(
            "POST", "/describe", DescribeRequest(url=url, ref=state, webhook_override=hook_url)
        )

    async def blend_urls(
        self,
        urls: Sequence[str],
        dimensions: Dimensions = "SQUARE",
        *,
        hook_url: str | None = None,
        state: str = "",
    ) -> SubmitResult:
        if dimensions != "SQUARE":
            # The service's /blend has no shape field (docs/backends/thenextleg.md).
            raise BackendError(
                ErrorKind.INVALID_INPUT, tr("TheNextLeg blends square images only; choose Square.")
            )
        body = BlendRequest(urls=list(urls), ref=state, webhook_override=hook_url)
        return await self._submit("POST", "/blend", body)

    async def seed(self, task_id: str) -> str:
        response = await self._request(
            "POST", "/seed", SeedRequest(message_id=task_id), not_found_is_none=False
        )
        assert response is not None  # not_found_is_none=False: a 404 raised
        answer = try_validate(SeedAnswer, self._json(response))
        seed = str(answer.seed).strip() if answer is not None else ""
        if not seed.isdigit():  # Midjourney's seeds are whole numbers
            raise BackendError(ErrorKind.UNAVAILABLE, "Unexpected answer to /seed.")
        return seed

    async def account_info(self) -> Mapping[str, str]:
        """``GET /info``: a message whose finished ``content`` is an object of labels and values.
        The service asks callers not to poll it on a schedule: call it on demand only."""
        message_id = (await self._submit("GET", "/info", None)).task_id
        content = (await self._wait_for(message_id)).content
        if not isinstance(content, dict):
            raise BackendError(ErrorKind.UNAVAILABLE, "TheNextLeg sent /info without its fields.")
        return {str(key): str(value) for key, value in content.items()}

    async def fetch(self, task_id: str) -> TaskSnapshot | None:
        vo = await self._message(task_id)
        return None if vo is None else progress_snapshot(task_id, vo)

    def parse_push(self, body: Any) -> TaskSnapshot:
        vo = parse(MessageProgress, body, "TheNextLeg payload")
        result = vo.result()
        task_id = result.originating_message_id if result is not None else None
        if not task_id:
            raise BackendError(ErrorKind.INVALID_INPUT, "TheNextLeg payload without originatingMessageId.")
        self._remember(task_id, vo)
        return progress_snapshot(task_id, vo)

    # --- settings -----------------------------------------------------------------------------
    # Both wait for the settings message by polling. TheNextLeg reports a message that never
    # finishes as "incomplete" (after 12 min), which ends the wait with TIMEOUT; a caller that
    # wants a shorter bound wraps the call in ``asyncio.timeout``.

    async def get_settings(self) -> NextLegSettings:
        """The account's settings panel (two or more paced requests: ~6 s at the real pace)."""
        message_id = (await self._submit("GET", "/settings", None)).task_id
        return parse_settings(await self._wait_for(message_id))

    async def settings_state(self) -> SettingsState:
        return (await self.get_settings()).state()

    async def press_setting(self, label: str) -> SettingsState:
        return (await self.toggle_setting(label)).state()

    async def toggle_setting(self, label: str) -> NextLegSettings:
        """Press the settings button ``label`` (one that :meth:`get_settings` lists); the settings
        after the change."""
        body = SettingsToggleRequest(settings_toggle=label)
        message_id = (await self._submit("POST", "/settings", body)).task_id
        return parse_settings(await self._wait_for(message_id))

    # --- internals ----------------------------------------------------------------------------

    def _remember(self, task_id: str, vo: MessageProgress) -> None:
        result = vo.result()
        if result is not None and result.button_message_id:
            self._button_ids[task_id] = result.button_message_id
            self._button_ids.move_to_end(task_id)
            while len(self._button_ids) > _BUTTON_ID_MEMORY:
                self._button_ids.popitem(last=False)

    async def _lookup_button_message_id(self, task_id: str) -> str:
        vo = await self._message(task_id)
        if vo is None:
            raise BackendError(ErrorKind.NOT_FOUND, "TheNextLeg no longer knows the original job.")
        result = vo.result()
        if result is None or not result.button_message_id:
            raise BackendError(ErrorKind.INVALID_INPUT, "The original job has no buttons (yet).")
        return result.button_message_id

    async def _message(self, message_id: str) -> MessageProgress | None:
        response = await self._request("GET", f"/message/{message_id}", None, not_found_is_none=True)
        if response is None:
            return None
        vo = try_validate(MessageProgress, self._json(response))
        if vo is None:
            raise BackendError(ErrorKind.UNAVAILABLE, "Unexpected answer to GET /message.")
        self._remember(message_id, vo)
        return vo

    async def _wait_for(self, message_id: str) -> MessagePayload:
        """Poll a message until it is finished; its payload, or the BackendError it stands for."""
        while True:
            vo = await self._message(message_id)
            if vo is None:
                raise BackendError(ErrorKind.NOT_FOUND, "TheNextLeg lost the settings message.")
            snapshot = progress_snapshot(message_id, vo)
            result = vo.result()
            if snapshot.status is JobStatus.SUCCESS and result is not None:
                return result
            if snapshot.status.terminal:
                raise BackendError(snapshot.error_kind or ErrorKind.UNAVAILABLE, snapshot.fail_reason or "")
            await asyncio.sleep(_POLL_FLOOR_SECONDS)

    async def _submit(self, method: str, path: str, body: BaseModel | None) -> SubmitResult:
        response = await self._request(method, path, body, not_found_is_none=False)
        assert response is not None  # not_found_is_none=False: a 404 raised
        answer = try_validate(SubmitAnswer, self._json(response))
        if answer is None:
            raise BackendError(ErrorKind.UNAVAILABLE, f"Unexpected answer to {path}.")
        if answer.success and answer.message_id:
            log.debug("TheNextLeg %s accepted: message %s", path, answer.message_id)
            return SubmitResult(task_id=answer.message_id)
        error = self._scrub(refusal(answer.msg or answer.content))
        log.info("TheNextLeg %s refused: %s", path, error.kind.value)
        raise error

    async def _request(
        self, method: str, path: str, body: BaseModel | None, *, not_found_is_none: bool
    ) -> httpx.Response | None:
        payload = dump(body) if body is not None else None
        await self.pacer.wait()
        return await bearer_request(
            self._http,
            method,
            self._root + path,
            token=self._secret,
            service=SERVICE,
            path=path,
            error=lambda response: status_error(response, path),
            json=payload,
            not_found_is_none=not_found_is_none,
        )

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        return json_body(response, SERVICE)

    def _scrub(self, error: BackendError) -> BackendError:
        return scrub(error, self._secret)
