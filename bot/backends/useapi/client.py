"""The useapi.net client, :class:`UseApiBackend`: one API token's jobs, seeds and Midjourney
accounts, and its transport; what the answers mean lives in the sibling modules."""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel

from bot.backends._http import api_root, bearer_request, refuse_uploads, try_json, try_validate
from bot.backends._wire import dump, json_body, parse
from bot.backends.base import AccountOption, Capability, image_prompt
from bot.backends.useapi.errors import status_error
from bot.backends.useapi.models import (
    BLEND_DIMENSIONS,
    BlendRequest,
    ButtonRequest,
    DescribeRequest,
    ImagineRequest,
    MidjourneyAccount,
    PinnedJobRequest,
    SeedRequest,
    UseApiErrorBody,
    UseApiJob,
)
from bot.backends.useapi.status import info_lines, job_snapshot
from bot.domain import (
    Account,
    BackendError,
    Dimensions,
    ErrorKind,
    JobStatus,
    ServiceAccount,
    SubmitResult,
    TaskSnapshot,
)
from bot.i18n import tr

log = logging.getLogger(__name__)

SERVICE = "useapi.net"
#: The longest prompt useapi.net takes (docs/backends/useapi.md).
MAX_PROMPT_CHARS = 2048
#: How long :meth:`UseApiBackend.seed` waits for the seed job (within the engine's 30 s; asked
#: again, it goes on waiting for the same job), and its first pause between polls.
SEED_SECONDS = 25.0
SEED_FIRST_POLL = 0.25


#: The account options this backend reads (see :func:`bot.backends.check_options`): useapi's
#: ids of a Midjourney account's Discord channel and server, never its token.
OPTIONS = {
    "channel": AccountOption(re.compile(r"\d{1,20}"), "1234567890"),
    "server": AccountOption(re.compile(r"\d{1,20}"), "1234567890"),
}


class UseApiBackend:
    """One useapi.net API token. Implements :class:`bot.backends.base.Backend` (see the module
    docstring for the account fields it reads)."""

    service: ClassVar[str] = SERVICE
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.CANCEL,
            Capability.REMIX,
            Capability.CUSTOM_ZOOM,
            Capability.VARY_REGION,
            Capability.BLEND_URLS,
            Capability.DESCRIBE_URL,
            Capability.IMAGINE_URLS,
            Capability.SEED,
            Capability.ACCOUNT_INFO,
            Capability.SERVICE_ACCOUNTS,
        }
    )

    def __init__(self, account: Account, http: httpx.AsyncClient) -> None:
        self._root = api_root(account.base_url)
        self._secret = account.secret
        self._http = http
        self.channel = account.options.get("channel") or None
        self._server = account.options.get("server") or None
        self._max_jobs = account.max_jobs if self.channel else None
        #: Task id → its seed job, so asking again waits for the same job instead of a new one.
        self._seed_jobs: dict[str, str] = {}

    # --- Backend ------------------------------------------------------------------------------

    async def imagine(
        self, prompt: str, images: Sequence[bytes] = (), *, hook_url: str | None = None, state: str = ""
    ) -> SubmitResult:
        refuse_uploads(images, SERVICE)
        _check_length(prompt)
        return await self._submit(
            "/jobs/imagine", ImagineRequest(prompt=prompt, **self._job_fields(hook_url, state))
        )

    async def imagine_urls(
        self, prompt: str, urls: Sequence[str], *, hook_url: str | None = None, state: str = ""
    ) -> SubmitResult:
        """Image prompts go at the start of ``prompt``, within its 2048 characters."""
        return await self.imagine(image_prompt(urls, prompt), hook_url=hook_url, state=state)

    async def action(
        self, task_id: str, custom_id: str, *, hook_url: str | None = None, state: str = ""
    ) -> SubmitResult:
        """Press the button labelled ``custom_id`` on the completed job ``task_id``."""
        return await self._press(task_id, custom_id, hook_url=hook_url, state=state)

    async def custom_zoom(
        self, task_id: str, custom_id: str, prompt: str, *, hook_url: str | None = None, state: str = ""
    ) -> SubmitResult:
        """Custom Zoom: useapi requires the prompt (with its ``--zoom``)."""
        return await self._press(task_id, custom_id, prompt=prompt, hook_url=hook_url, state=state)

    async def vary_region(
        self,
        task_id: str,
        custom_id: str,
        mask_png: bytes,
        prompt: str | None = None,
        *,
        hook_url: str | None = None,
        state: str = "",
    ) -> SubmitResult:
        """Vary (Region): useapi requires the mask."""
        return await self._press(
            task_id, custom_id, prompt=prompt, mask_png=mask_png, hook_url=hook_url, state=state
        )

    async def _press(
        self,
        task_id: str,
        custom_id: str,
        *,
        prompt: str | None = None,
        mask_png: bytes | None = None,
        hook_url: str | None = None,
        state: str = "",
    ) -> SubmitResult:
        if prompt is not None:
            _check_length(prompt)
        body = ButtonRequest(
            jobid=task_id,
            button=custom_id,
            prompt=prompt,
            mask=base64.b64encode(mask_png).decode() if mask_png else None,
            max_jobs=self._max_jobs,
            reply_url=hook_url,
            reply_ref=state or None,
        )
        return await self._submit("/jobs/button", body)

    async def remix(
        self, task_id: str, custom_id: str, prompt: str, *, hook_url: str | None = None, state: str = ""
    ) -> SubmitResult:
        """With Remix on at the account, V1–V4, the varies, the pans and 🔄 take a new prompt."""
        return await self._press(task_id, custom_id, prompt=prompt, hook_url=hook_url, state=state)

    async def cancel(self, task_id: str) -> None:
        """Stop the job at useapi, which frees its slot there."""
        await self._request("GET", "/jobs/cancel/", params={"jobid": task_id})

    async def fetch(self, task_id: str) -> TaskSnapshot | None:
        response = await self._request("GET", "/jobs/", params={"jobid": task_id}, not_found_is_none=True)
        return None if response is None else self.parse_push(self._json(response))

    async def _job(self, task_id: str) -> UseApiJob:
        response = await self._request("GET", "/jobs/", params={"jobid": task_id})
        assert response is not None
        job = try_validate(UseApiJob, self._json(response))
        if job is None:
            raise BackendError(ErrorKind.UNAVAILABLE, "Unexpected answer to /jobs/.")
        return job

    def parse_push(self, body: Any) -> TaskSnapshot:
        job = parse(UseApiJob, body, "useapi job")
        return job_snapshot(job)

    # --- more jobs ----------------------------------------------------------------------------

    async def blend_urls(
        self,
        urls: Sequence[str],
        dimensions: Dimensions = "SQUARE",
        *,
        hook_url: str | None = None,
        state: str = "",
    ) -> SubmitResult:
        """Blend 2–5 images, given by URL."""
        if not 2 <= len(urls) <= 5:
            raise BackendError(ErrorKind.INVALID_INPUT, tr("A blend takes 2 to 5 images."))
        body = BlendRequest(
            blend_urls=list(urls),
            blend_dimensions=BLEND_DIMENSIONS[dimensions],
            **self._job_fields(hook_url, state),
        )
        return await self._submit("/jobs/blend", body)

    async def describe_url(self, url: str, *, hook_url: str | None = None, state: str = "") -> SubmitResult:
        """Four prompts for the image at ``url`` (in the finished snapshot's ``final_prompt``)."""
        return await self._submit(
            "/jobs/describe", DescribeRequest(describe_url=url, **self._job_fields(hook_url, state))
        )

    async def seed(self, task_id: str) -> str:
        """The seed of the finished job ``task_id``: ``seed_async`` starts a job whose result
        carries ``seed.value``; polled here (no reply URL) for up to SEED_SECONDS."""
        seed_job = self._seed_jobs.get(task_id)
        if seed_job is None:
            body = SeedRequest(jobid=task_id, max_jobs=self._max_jobs)
            seed_job = self._seed_jobs[task_id] = (await self._submit("/jobs/seed_async", body)).task_id
        deadline, pause = time.monotonic() + SEED_SECONDS, SEED_FIRST_POLL
        while time.monotonic() < deadline:
            await asyncio.sleep(pause)
            pause = min(pause * 2, 10.0)
            job = await self._job(seed_job)
            snap = job_snapshot(job)
            if snap.status.terminal:
                self._seed_jobs.pop(task_id, None)
                if snap.status is JobStatus.SUCCESS and job.seed is not None and job.seed.value is not None:
                    return str(job.seed.value)
                raise BackendError(snap.error_kind or ErrorKind.UNAVAILABLE, snap.fail_reason or "No seed.")
        raise BackendError(ErrorKind.TIMEOUT, f"useapi.net gave no seed within {SEED_SECONDS:g} s.")

    async def account_info(self) -> Mapping[str, str]:
        """Midjourney's /info of the pinned account (else one useapi picks): its text's
        "Label: value" lines."""
        fields = self._job_fields(None, "")
        response = await self._request("POST", "/jobs/info", json=dump(PinnedJobRequest(**fields)))
        assert response is not None
        job = try_validate(UseApiJob, self._json(response))
        if job is None or not job.content:
            raise BackendError(ErrorKind.UNAVAILABLE, "useapi.net sent no /info text.")
        return info_lines(job.content)

    # --- accounts -----------------------------------------------------------------------------

    async def service_accounts(self) -> list[ServiceAccount]:
        """The Midjourney accounts this token's jobs may run on: the pinned channel, else all."""
        listed = await self.list_accounts()
        return [
            ServiceAccount(name=a.channel, max_jobs=a.max_jobs, hold=a.pending_mod_message or None)
            for a in listed.values()
            if self.channel in (None, a.channel)
        ]

    async def reset_service_account(self, name: str) -> None:
        """Clear ``pendingModMessage`` of channel ``name`` at useapi (after it was cleared in Discord)."""
        if not re.fullmatch(r"\d{1,20}", name):
            raise BackendError(ErrorKind.INVALID_INPUT, f"{name!r} is not a useapi.net channel id.")
        await self._request("POST", f"/account/midjourney/{name}/reset")

    async def list_accounts(self) -> dict[str, MidjourneyAccount]:
        """The Midjourney accounts configured at useapi, by channel (empty when none is)."""
        response = await self._request("GET", "/account/midjourney", not_found_is_none=True)
        if response is None:  # 404: "Configuration not found"
            return {}
        data = self._json(response)
        if not isinstance(data, dict):
            raise BackendError(ErrorKind.UNAVAILABLE, "The account list is not a JSON object.")
        accounts = {}
        for channel, item in data.items():
            # The entry repeats its key as "channel"; fill it in should a clone leave it out.
            entry = {"channel": channel, **item} if isinstance(item, dict) else item
            account = try_validate(MidjourneyAccount, entry)
            if account is None:
                raise BackendError(ErrorKind.UNAVAILABLE, f"Unreadable account entry for channel {channel}.")
            accounts[channel] = account
        return accounts

    async def get_account(self, channel: str | None = None) -> MidjourneyAccount | None:
        """One configured account (default: the pinned ``options.channel``), or None when useapi has no
        such channel. Read from the list: a per-channel GET is not documented."""
        wanted = channel or self.channel
        if wanted is None:
            raise ValueError("no channel given and none pinned in the account options")
        return (await self.list_accounts()).get(wanted)

    # --- transport ----------------------------------------------------------------------------

    def _job_fields(self, hook_url: str | None, state: str) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "server": self._server,
            "max_jobs": self._max_jobs,
            "reply_url": hook_url,
            "reply_ref": state or None,
        }

    async def _submit(self, path: str, body: BaseModel) -> SubmitResult:
        response = await self._request("POST", path, json=dump(body))
        assert response is not None  # not_found_is_none=False: a 404 raised
        job = try_validate(UseApiJob, self._json(response))
        if job is None:
            raise BackendError(ErrorKind.UNAVAILABLE, f"Unexpected answer to {path}.")
        log.debug("useapi %s accepted: job %s (%s)", path, job.jobid, job.status)
        return SubmitResult(task_id=job.jobid)

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        not_found_is_none: bool = False,
    ) -> httpx.Response | None:
        def error(response: httpx.Response) -> BackendError:
            body = try_validate(UseApiErrorBody, try_json(response))
            found = status_error(response.status_code, body, response.text.strip()[:300], path)
            log.info("useapi %s %s: HTTP %s → %s", method, path, response.status_code, found.kind.value)
            return found

        return await bearer_request(
            self._http,
            method,
            self._root + path,
            token=self._secret,
            service=SERVICE,
            path=path,
            error=error,
            json=json,
            params=params,
            not_found_is_none=not_found_is_none,
        )

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        return json_body(response, SERVICE)


def _check_length(prompt: str) -> None:
    if len(prompt) > MAX_PROMPT_CHARS:
        raise BackendError(
            ErrorKind.INVALID_INPUT,
            f"useapi.net takes prompts of at most {MAX_PROMPT_CHARS} characters and this one has "
            f"{len(prompt)}; shorten it.",
        )
