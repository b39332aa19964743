"""Client for useapi.net's Midjourney API v2 (``https://api.useapi.net/v2``).

What shapes this module:

* **Accounts.** ``account.secret`` is the useapi API token (``Authorization: Bearer``). The
  Midjourney accounts behind it (seed 003: ``channel``, ``discord``, ``server``, ``maxJobs``) are
  configured *at useapi* (``POST /v2/account/midjourney/{channel}``), and a job names one by its
  ``channel`` alone. So ``account.options["channel"]`` (optional) pins this account's jobs to one of
  them, with ``options["server"]`` sent alongside when given, and ``maxJobs`` taken from
  ``account.max_jobs`` (sent only with a pinned channel: unpinned, useapi balances over several
  accounts whose own ``maxJobs`` apply). Without ``channel``, useapi picks a random free account.
  ``account.channel_id`` keeps its bot-wide meaning (the Discord channel the bot answers in); it
  is not useapi's channel. Only ``channel`` and ``server`` are accepted in ``options`` (see
  :data:`OPTIONS`): a Discord token there would be stored and shown in plain text.
* **Jobs** are identified by ``jobid`` (our task id). Buttons are labels: ``ResultButton.custom_id``
  is the label, sent as ``button`` with the parent's ``jobid``.
* **Replies** to ``replyUrl`` carry the whole job and may come several times per status (created,
  started, progress…, completed): :meth:`UseApiBackend.parse_push` is pure, so applying one twice
  is harmless.
* **HTTP codes** carry the errors: 429 with ``executingJobs`` (all job slots busy) or without (Discord
  rate limit) → QUEUE_FULL; 596 (pending moderation message or CAPTCHA) → MODERATION; 401/403 → AUTH;
  402 → QUOTA; 409/422 → INVALID_INPUT, or BANNED_PROMPT when moderated; 504 ("query overflow",
  transient on useapi's side, nothing to do with the job's own duration) → UNAVAILABLE; other
  5xx and transport errors → UNAVAILABLE.
* **Images** are URLs inside the prompt, in ``blendUrls`` or ``describeUrl``; uploaded bytes are
  refused. So /imagine's image prompts, /blend and /describe are declared as ``IMAGINE_URLS``,
  ``BLEND_URLS`` and ``DESCRIBE_URL``: the bot passes the attachments' Discord CDN URLs.
* **Buttons with input**: ``prompt`` (Custom Zoom, and any button with Remix on) and ``mask``
  (Vary (Region): the PNG mask in base64, white the part to repaint) go with the button call.
* **Prompts** are at most 2048 characters; longer ones are refused before anything is sent.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from bot.backends._http import (
    NEEDS_INPUT,
    NOT_JSON,
    api_root,
    kind_from_text,
    label_buttons,
    refuse_uploads,
    scrub,
    send,
    try_json,
    try_validate,
)
from bot.backends.base import AccountOption, Capability, image_prompt
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
BlendDimensions = Literal["Portrait", "Square", "Landscape"]
_BLEND_DIMENSIONS: dict[Dimensions, BlendDimensions] = {
    "PORTRAIT": "Portrait",
    "SQUARE": "Square",
    "LANDSCAPE": "Landscape",
}
#: The longest prompt useapi.net takes (docs/backends/useapi.md).
MAX_PROMPT_CHARS = 2048
#: How long :meth:`UseApiBackend.seed` waits for the seed job (within the engine's 30 s; asked
#: again, it goes on waiting for the same job), and its first pause between polls.
SEED_SECONDS = 25.0
SEED_FIRST_POLL = 0.25

# --------------------------------------------------------------------------------------------
# Wire shapes
# --------------------------------------------------------------------------------------------


class _Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    @field_validator(
        "buttons", "children", "attachments", "executing_jobs", mode="before", check_fields=False
    )
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value


class JobRequest(_Wire):
    """Fields every job call takes. ``None`` fields are left out (useapi's defaults apply)."""

    max_jobs: int | None = None
    reply_url: str | None = None
    reply_ref: str | None = None


class PinnedJobRequest(JobRequest):
    """New jobs may name the Midjourney account; button jobs run on their parent's account."""

    channel: str | None = None
    server: str | None = None


class ImagineRequest(PinnedJobRequest):
    prompt: str


class ButtonRequest(JobRequest):
    jobid: str
    button: str
    prompt: str | None = None
    mask: str | None = None


class SeedRequest(JobRequest):
    jobid: str


class BlendRequest(PinnedJobRequest):
    blend_urls: list[str]
    blend_dimensions: BlendDimensions | None = None


class DescribeRequest(PinnedJobRequest):
    describe_url: str


class Attachment(_Wire):
    url: str
    filename: str = ""
    content_type: str | None = None
    width: int | None = None
    height: int | None = None


class JobChild(_Wire):
    button: str = ""
    jobid: str = ""


class Seed(_Wire):
    content: str = ""
    value: str | int | None = None


class UseApiJob(_Wire):
    """The job object: what ``GET /jobs/?jobid=``, most POSTs and every reply carry."""

    jobid: str
    verb: str | None = None
    status: str
    prompt: str | None = None
    parent_job_id: str | None = None
    button: str | None = None
    channel: str | None = None
    reply_ref: str | None = None
    content: str | None = None
    buttons: list[str] = Field(default_factory=list)
    children: list[JobChild] = Field(default_factory=list)
    attachments: list[Attachment] = Field(default_factory=list)
    error: str | None = None
    error_details: str | None = None
    code: int | None = None
    #: seed_async only: the seed of the parent job, once completed.
    seed: Seed | None = None


class UseApiErrorBody(_Wire):
    error: str = ""
    code: int | None = None
    #: 429 only: the jobs holding the account's slots (absent when Discord throttled instead).
    executing_jobs: list[str] | None = None
    jobid: str | None = None
    status: str | None = None
    button: str | None = None


class MidjourneyAccount(_Wire):
    """One Midjourney account configured at useapi (``GET /v2/account/midjourney``, seed 003)."""

    channel: str
    server: str = ""
    #: useapi returns the account's Discord token; kept out of reprs, logs and error text.
    discord: SecretStr = Field(default=SecretStr(""), repr=False)
    max_jobs: int | None = None
    #: Set while Midjourney holds the account for moderation or a CAPTCHA (jobs then get 596).
    pending_mod_message: str | None = None

    @property
    def needs_attention(self) -> bool:
        return bool(self.pending_mod_message)


# --------------------------------------------------------------------------------------------
# Mapping
# --------------------------------------------------------------------------------------------

_STATUSES: dict[str, JobStatus] = {
    "created": JobStatus.SUBMITTED,
    "started": JobStatus.SUBMITTED,
    "progress": JobStatus.IN_PROGRESS,
    "completed": JobStatus.SUCCESS,
    "failed": JobStatus.FAILURE,
    "moderated": JobStatus.FAILURE,
    "cancelled": JobStatus.CANCELLED,
}

#: Fragments of a failed job's error (or of a 409/422 body) that decide the error kind.
_ERROR_KINDS: tuple[tuple[str, ErrorKind], ...] = (
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
            ErrorKind.BANNED_PROMPT
            if job.status == "moderated"
            else kind_from_text(fail_reason, _ERROR_KINDS)
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
            said, _ERROR_KINDS
        ) is ErrorKind.BANNED_PROMPT
        return BackendError(ErrorKind.BANNED_PROMPT if moderated else ErrorKind.INVALID_INPUT, said)
    if status == 504:
        return BackendError(
            ErrorKind.UNAVAILABLE, f"useapi.net query overflow (HTTP 504); check maxJobs. ({said})"
        )
    if status >= 500:
        return BackendError(ErrorKind.UNAVAILABLE, f"HTTP {status} on {path}.")
    return BackendError(ErrorKind.INVALID_INPUT, said)


# --------------------------------------------------------------------------------------------
# The backend
# --------------------------------------------------------------------------------------------


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
        try:
            job = UseApiJob.model_validate(body)
        except ValidationError as exc:
            raise BackendError(
                ErrorKind.INVALID_INPUT, f"Malformed useapi job ({exc.error_count()} errors)."
            ) from exc
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
            blend_dimensions=_BLEND_DIMENSIONS[dimensions],
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
        response = await self._request("POST", "/jobs/info", json=_dump(PinnedJobRequest(**fields)))
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
        response = await self._request("POST", path, json=_dump(body))
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
        response = await send(
            self._http,
            method,
            self._root + path,
            service=SERVICE,
            path=path,
            json=json,
            params=params,
            headers={"Authorization": f"Bearer {self._secret}"},
        )
        if response.is_success:
            return response
        if response.status_code == 404 and not_found_is_none:
            return None
        body = try_validate(UseApiErrorBody, try_json(response))
        error = scrub(
            status_error(response.status_code, body, response.text.strip()[:300], path), self._secret
        )
        log.info("useapi %s %s: HTTP %s → %s", method, path, response.status_code, error.kind.value)
        raise error

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        data = try_json(response)
        if data is NOT_JSON:
            raise BackendError(ErrorKind.UNAVAILABLE, "useapi.net sent an answer that is not JSON.")
        return data


def _dump(body: BaseModel) -> dict[str, Any]:
    return body.model_dump(mode="json", by_alias=True, exclude_none=True)


def _check_length(prompt: str) -> None:
    if len(prompt) > MAX_PROMPT_CHARS:
        raise BackendError(
            ErrorKind.INVALID_INPUT,
            f"useapi.net takes prompts of at most {MAX_PROMPT_CHARS} characters and this one has "
            f"{len(prompt)}; shorten it.",
        )


#: One line of Midjourney's /info: "**Fast Time Remaining**: 14.5/15.0 hours (96.67%)".
_INFO_LINE = re.compile(r"^\W*([A-Za-z][^:]*?)\s*:\s*(.+)$")


def info_lines(content: str) -> dict[str, str]:
    """The "Label: value" lines of /info's text (markdown dropped)."""
    found = (_INFO_LINE.match(line.replace("*", "").strip()) for line in content.splitlines())
    return {m.group(1).strip(): m.group(2).strip() for m in found if m}
