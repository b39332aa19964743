"""The midjourney-proxy client, :class:`MjProxyBackend`: one account's submits, queries and
transport; what the answers mean lives in the sibling modules."""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from typing import Any, cast, get_args

import httpx
from pydantic import BaseModel

from bot.backends._http import scrub, send, try_validate
from bot.backends._wire import dump, json_body, parse
from bot.backends.base import Backend
from bot.backends.mj_proxy.buttons import legacy_change
from bot.backends.mj_proxy.errors import envelope_error, status_error, submit_result, vo_error
from bot.backends.mj_proxy.flavours import FLAVOUR_CAPABILITIES, FLAVOUR_NAMES, ByFlavour, Flavour
from bot.backends.mj_proxy.models import (
    ActionRequest,
    BlendRequest,
    BotType,
    ChangeRequest,
    CsharpErrorEnvelope,
    DescribeRequest,
    ImagineRequest,
    ListByConditionRequest,
    ModalRequest,
    ShortenRequest,
    SubmitResultVO,
    TaskVO,
    data_url,
)
from bot.backends.mj_proxy.status import task_snapshot
from bot.domain import Account, BackendError, Dimensions, ErrorKind, SubmitResult, TaskSnapshot
from bot.i18n import tr

log = logging.getLogger(__name__)


class MjProxyBackend:
    """One midjourney-proxy account. Implements :class:`bot.backends.base.Backend`.

    Transport errors map to UNAVAILABLE, read timeouts included: a submit that timed out may or may
    not have created a task, and "try again later" is the honest answer either way.
    """

    #: "midjourney-proxy" on the class (the registry's); an account's names its flavour.
    service = ByFlavour("midjourney-proxy", {f: f"midjourney-proxy ({n})" for f, n in FLAVOUR_NAMES.items()})
    #: Every flavour's on the class (the registry's); an account's are its flavour's.
    capabilities = ByFlavour(frozenset().union(*FLAVOUR_CAPABILITIES.values()), FLAVOUR_CAPABILITIES)

    def __init__(self, account: Account, http: httpx.AsyncClient) -> None:
        flavour = account.options.get("flavour", "java")
        if flavour not in get_args(Flavour):
            known = ", ".join(repr(f) for f in get_args(Flavour))
            raise ValueError(f"Unknown midjourney-proxy flavour {flavour!r} (use one of {known}).")
        self.flavour: Flavour = cast(Flavour, flavour)
        self._root = f"{account.base_url.rstrip('/')}/mj"
        self._secret = account.secret
        self._http = http
        self._bot_type: BotType | None = None

    def for_niji(self) -> Backend:
        """This client, its new tasks sent to the Niji bot. The open-source proxy has no ``botType``:
        it gets its prompts as they are (a ``--niji`` flag then runs the Niji model on the
        Midjourney bot) and its blends and describes go to Midjourney."""
        if self.flavour == "oss":
            return self
        niji = copy.copy(self)
        niji._bot_type = "NIJI_JOURNEY"
        return niji

    # --- submits ------------------------------------------------------------------------------

    async def imagine(
        self, prompt: str, images: Sequence[bytes] = (), *, hook_url: str | None = None, state: str = ""
    ) -> SubmitResult:
        body = ImagineRequest(
            prompt=prompt,
            base64_array=[data_url(i) for i in images],
            notify_hook=hook_url,
            state=state,
            bot_type=self._bot_type,
        )
        return await self._submit("/submit/imagine", body)

    async def action(
        self, task_id: str, custom_id: str, *, hook_url: str | None = None, state: str = ""
    ) -> SubmitResult:
        """Press a button. On the open-source proxy only the grid's U, V and 🔄 exist, as /change."""
        if self.flavour == "oss":
            change = legacy_change(custom_id)
            if change is None:
                raise BackendError(
                    ErrorKind.UNSUPPORTED,
                    tr(
                        "This midjourney-proxy (open-source) cannot do that; "
                        "it supports U, V and re-roll only."
                    ),
                )
            action, index = change
            return await self._submit(
                "/submit/change",
                ChangeRequest(task_id=task_id, action=action, index=index, notify_hook=hook_url, state=state),
            )
        body = ActionRequest(task_id=task_id, custom_id=custom_id, notify_hook=hook_url, state=state)
        return await self._submit("/submit/action", body)

    async def remix(
        self, task_id: str, custom_id: str, prompt: str, *, hook_url: str | None = None, state: str = ""
    ) -> SubmitResult:
        """Press a re-roll, variation or pan button with an edited prompt (Midjourney's Remix).

        The proxy answers the button with a MODAL task (code 21), which :meth:`modal` then starts
        with ``prompt``. How it is made to ask differs:

        * C# takes ``enableRemix: true`` and always asks (code 4 when the account has no Remix);
        * plus has no such switch: it asks only when the Discord account itself has Remix mode on.
          When it does not, the task starts at once **with the original prompt**; it is returned
          all the same (it is running), and its result shows the prompt the task reports and
          says the edited one was not used;
        * the open-source proxy has no Remix at all: BackendError(UNSUPPORTED), nothing is sent.
        """
        if self.flavour == "oss":
            raise BackendError(
                ErrorKind.UNSUPPORTED,
                tr("This midjourney-proxy (open-source) has no Remix, so the prompt cannot be changed."),
            )
        body = ActionRequest(
            task_id=task_id,
            custom_id=custom_id,
            notify_hook=hook_url,
            state=state,
            enable_remix=True if self.flavour == "csharp" else None,
        )
        pending = await self._submit("/submit/action", body)
        if not pending.needs_modal:
            log.info(
                "midjourney-proxy started remix of %s without asking (Remix off on the account): "
                "task %s runs with the original prompt",
                task_id,
                pending.task_id,
            )
            return pending
        return await self.modal(pending.task_id, prompt)

    async def modal(
        self, task_id: str, prompt: str | None = None, mask_png: bytes | None = None
    ) -> SubmitResult:
        """Confirm a MODAL task (Custom Zoom, Vary Region, describe/shorten picks); same task id."""
        if self.flavour == "oss":
            # Nothing on the open-source proxy ever waits in MODAL, so nothing needs confirming.
            raise BackendError(
                ErrorKind.UNSUPPORTED,
                tr(
                    "This midjourney-proxy (open-source) cannot take a prompt or mask for a button "
                    "(no Custom Zoom, Vary Region or Remix)."
                ),
            )
        mask = data_url(mask_png) if mask_png is not None else None
        return await self._submit(
            "/submit/modal", ModalRequest(task_id=task_id, prompt=prompt, mask_base64=mask)
        )

    async def blend(
        self,
        images: Sequence[bytes],
        dimensions: Dimensions = "SQUARE",
        *,
        hook_url: str | None = None,
        state: str = "",
    ) -> SubmitResult:
        body = BlendRequest(
            base64_array=[data_url(i) for i in images],
            dimensions=dimensions,
            notify_hook=hook_url,
            state=state,
            bot_type=self._bot_type,
        )
        return await self._submit("/submit/blend", body)

    async def describe(self, image: bytes, *, hook_url: str | None = None, state: str = "") -> SubmitResult:
        body = DescribeRequest(
            base64=data_url(image), notify_hook=hook_url, state=state, bot_type=self._bot_type
        )
        return await self._submit("/submit/describe", body)

    async def shorten(self, prompt: str, *, hook_url: str | None = None, state: str = "") -> SubmitResult:
        if self.flavour == "oss":
            raise BackendError(
                ErrorKind.UNSUPPORTED, tr("This midjourney-proxy (open-source) has no /shorten.")
            )
        return await self._submit(
            "/submit/shorten",
            ShortenRequest(prompt=prompt, notify_hook=hook_url, state=state, bot_type=self._bot_type),
        )

    async def cancel(self, task_id: str) -> None:
        """Cancel a task (C# only; Java answers 404 → INVALID_INPUT)."""
        await self._request("POST", f"/task/{task_id}/cancel")

    # --- queries ------------------------------------------------------------------------------

    async def seed(self, task_id: str) -> str:
        """The seed of a finished task (C#'s ``/task/{id}/image-seed``; the others have no such call)."""
        if self.flavour != "csharp":
            raise BackendError(
                ErrorKind.UNSUPPORTED, f"{self.service} can't tell a job's seed from the bot yet."
            )
        response = await self._request("GET", f"/task/{task_id}/image-seed")
        vo = try_validate(SubmitResultVO, self._json(response, allow_empty=False))
        if vo is None:
            raise BackendError(ErrorKind.UNAVAILABLE, "Unexpected answer to image-seed.")
        if vo.code == 1 and vo.result:
            return vo.result
        raise self._scrub(vo_error(vo))

    async def service_status(self) -> str | None:
        """The proxy's Discord accounts (Java's ``/account/list``) and queue (``/task/queue``,
        gone from C# v10), counted; a part the proxy does not offer is left out."""
        accounts = await self._optional_list("/account/list") if self.flavour != "csharp" else None
        queue = await self._optional_list("/task/queue")
        parts = []
        if accounts is not None:
            enabled = sum(1 for a in accounts if isinstance(a, dict) and a.get("enable") is not False)
            parts.append(f"{enabled} of {len(accounts)} Discord accounts enabled")
        if queue is not None:
            parts.append(f"{len(queue)} tasks queued")
        return f"The proxy has {' and '.join(parts)}." if parts else None

    async def _optional_list(self, path: str) -> list[Any] | None:
        """A JSON array the proxy may not offer (an unknown path, an error): None then."""
        try:
            data = self._json(await self._request("GET", path), allow_empty=True)
        except BackendError:
            return None
        return data if isinstance(data, list) else None

    async def fetch(self, task_id: str) -> TaskSnapshot | None:
        response = await self._request("GET", f"/task/{task_id}/fetch")
        data = self._json(response, allow_empty=True)
        return None if data is None else self.parse_push(data)

    async def fetch_many(self, task_ids: Sequence[str]) -> list[TaskSnapshot]:
        """The known tasks among ``task_ids`` (unknown ids are silently left out), in one request."""
        if not task_ids:
            return []
        response = await self._request(
            "POST", "/task/list-by-condition", ListByConditionRequest(ids=list(task_ids))
        )
        data = self._json(response, allow_empty=True)
        if data is None:
            return []
        if not isinstance(data, list):
            raise BackendError(ErrorKind.INVALID_INPUT, "The task list is not a JSON array.")
        return [self.parse_push(item) for item in data if item is not None]

    def parse_push(self, body: Any) -> TaskSnapshot:
        return task_snapshot(parse(TaskVO, body, "task"), self.flavour)

    # --- transport ----------------------------------------------------------------------------

    @property
    def _headers(self) -> dict[str, str]:
        if not self._secret:
            return {}
        if self.flavour == "csharp":
            return {"Authorization": self._secret}
        return {"mj-api-secret": self._secret}

    async def _submit(self, path: str, body: BaseModel) -> SubmitResult:
        response = await self._request("POST", path, body)
        data = self._json(response, allow_empty=False)
        envelope = try_validate(CsharpErrorEnvelope, data)
        if envelope is not None:
            raise self._scrub(envelope_error(envelope))
        vo = try_validate(SubmitResultVO, data)
        if vo is None:
            raise BackendError(ErrorKind.UNAVAILABLE, f"Unexpected answer to {path}.")
        try:
            result = submit_result(vo, self.flavour)
        except BackendError as exc:
            log.info("midjourney-proxy %s refused: code %s, %s", path, vo.code, exc.kind.value)
            raise self._scrub(exc) from None
        log.debug("midjourney-proxy %s accepted: task %s (code %s)", path, result.task_id, vo.code)
        return result

    async def _request(self, method: str, path: str, body: BaseModel | None = None) -> httpx.Response:
        payload = dump(body) if body is not None else None
        response = await send(
            self._http,
            method,
            self._root + path,
            service="the proxy",
            path=path,
            json=payload,
            headers=self._headers,
        )
        if response.is_success:
            return response
        raise self._scrub(status_error(response, path))

    @staticmethod
    def _json(response: httpx.Response, *, allow_empty: bool) -> Any:
        # Java answers "not found" with an empty 200, ASP.NET with 204; both mean null.
        if response.status_code == 204 or not response.content.strip():
            if allow_empty:
                return None
            raise BackendError(ErrorKind.UNAVAILABLE, "The proxy sent an empty answer.")
        return json_body(response, "The proxy")

    def _scrub(self, error: BackendError) -> BackendError:
        """Never let the secret leak through text a misconfigured proxy may have echoed."""
        return scrub(error, self._secret)
