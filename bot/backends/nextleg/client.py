"""Client for TheNextLeg API v2 (``https://api.thenextleg.io/v2``; shut down in Jan 2024, kept for
self-hosted clones that speak it).

What shapes this module:

* **Ids.** A submit answers ``messageId``: that is our task id, and completed payloads point back
  to it as ``originatingMessageId``. Pressing a button on the result, though, takes the payload's
  ``buttonMessageId``, a different id. :meth:`NextLegBackend.action` is called with our task id, so
  the backend remembers ``messageId → buttonMessageId`` from every payload it reads and, after a
  restart, looks it up with one ``GET /message``.
* **Buttons** are plain labels (``"U2"``, ``"🔄"``, ``"Zoom Out 2x"``): ``ResultButton.custom_id`` is
  the label, sent back as ``button`` exactly as received.
* **Errors** mostly arrive as text in ``content`` with HTTP 200 (``QUEUE_FULL``, ``BANNED_PROMPT``,
  ``NO_FAST_HOURS``…), so they show up in fetch/push snapshots as FAILURE with an error kind. The
  banned-word prefilter is the exception: 400 ``{"success": false, "msg": "Invalid phrase: …"}``.
* **Pace.** The API allows about one request per 3 s per token. Every request waits its turn in a
  per-account :class:`Pacer` (``options["min_interval"]`` seconds, default 3) instead of failing.
* **Images** are URLs: inside the prompt (``"<url> <prompt>"``, :meth:`NextLegBackend.imagine_urls`),
  or ``url``/``urls`` of ``/describe`` and ``/blend``; uploaded bytes are refused.
* **Custom Zoom** is ``/button`` with ``prompt``, ``zoom`` and ``ar`` fields: the bot's prompt
  carries them as ``--zoom``/``--ar`` flags (as Midjourney's box does) and they are split out.
* ``GET /message/{id}`` puts the result under ``response`` or flat beside ``progress`` (the docs and
  the official clients disagree); both are read.

Settings (``/v2/settings``) are asynchronous like jobs: the GET or POST answers a ``messageId`` and
the settings message arrives later, so :meth:`NextLegBackend.get_settings` and
:meth:`~NextLegBackend.toggle_setting` poll for it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from bot.backends._http import (
    CUSTOM_ZOOM,
    NOT_JSON,
    api_root,
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
    ResultButton,
    SettingsState,
    SubmitResult,
    TaskSnapshot,
)
from bot.i18n import tr
from bot.jobs.picks import numbered, pick_button

log = logging.getLogger(__name__)

SERVICE = "TheNextLeg"
DEFAULT_MIN_INTERVAL = 3.0
#: A floor between two polls of a settings message, so a zero pace (tests) does not spin.
_POLL_FLOOR_SECONDS = 0.02
#: How many ``messageId → buttonMessageId`` pairs are remembered (older results do a GET instead).
_BUTTON_ID_MEMORY = 1024

# --------------------------------------------------------------------------------------------
# Wire shapes
# --------------------------------------------------------------------------------------------


class _Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    @field_validator("buttons", "image_urls", mode="before", check_fields=False)
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value


class ImagineRequest(_Wire):
    msg: str
    ref: str = ""
    webhook_override: str | None = None


class ButtonRequest(_Wire):
    button: str
    button_message_id: str
    ref: str = ""
    webhook_override: str | None = None


class ZoomButtonRequest(ButtonRequest):
    prompt: str
    zoom: float
    ar: str | None = None


class DescribeRequest(_Wire):
    url: str
    ref: str = ""
    webhook_override: str | None = None


class BlendRequest(_Wire):
    urls: list[str]
    ref: str = ""
    webhook_override: str | None = None


class SeedRequest(_Wire):
    message_id: str


class SeedAnswer(_Wire):
    seed: str | int


class SettingsToggleRequest(_Wire):
    settings_toggle: str


class SubmitAnswer(_Wire):
    success: bool
    message_id: str | None = None
    #: The prefilter's refusal ("Invalid phrase: '…'") and other failures.
    msg: str = ""
    content: str = ""


class MessagePayload(_Wire):
    """The webhook body, and the finished message of ``GET /message``."""

    buttons: list[str] = Field(default_factory=list)
    image_url: str | None = None
    #: The four grid tiles, split.
    image_urls: list[str] = Field(default_factory=list)
    button_message_id: str | None = None
    originating_message_id: str | None = None
    #: The prompt or a status/error string; a list for describe, an object for info.
    content: str | list[str] | dict[str, Any] | None = None
    #: Documented as a string; some callers send objects, so anything is accepted.
    ref: Any = None
    type: str | None = None

    @property
    def has_image(self) -> bool:
        return bool(self.image_url or self.image_urls)


class MessageProgress(MessagePayload):
    """``GET /message/{id}``: ``progress`` plus the result nested in ``response`` or flat."""

    progress: int | str | None = None
    progress_image_url: str | None = None
    response: MessagePayload | None = None

    def result(self) -> MessagePayload | None:
        if self.response is not None:
            return self.response
        flat = (self.buttons, self.image_url, self.image_urls, self.content, self.originating_message_id)
        return self if any(flat) else None


# --------------------------------------------------------------------------------------------
# Mapping
# --------------------------------------------------------------------------------------------

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


def _final_prompt(content: list[str] | dict[str, Any]) -> str:
    if isinstance(content, list):  # describe: four prompts
        return numbered([str(item) for item in content])
    return "\n".join(f"{key}: {value}" for key, value in content.items())  # info


def _buttons(payload: MessagePayload) -> list[ResultButton]:
    if isinstance(payload.content, list):  # describe: one button per prompt, as Midjourney shows
        return [pick_button(n) for n in range(1, len(payload.content) + 1)]
    return label_buttons(payload.buttons, offered=frozenset({CUSTOM_ZOOM}))


def payload_snapshot(task_id: str, payload: MessagePayload) -> TaskSnapshot:
    """A finished message (webhook body or ``response``) as a snapshot."""
    content = payload.content
    if not (payload.has_image or payload.buttons or isinstance(content, list | dict)):
        # Only a message with nothing else in it is a status: a prompt may well say "queue full".
        text = content or ""
        known = content_status(text)
        if known is None:
            return TaskSnapshot(
                task_id=task_id,
                status=JobStatus.FAILURE,
                fail_reason=text or "TheNextLeg sent an empty result.",
            )
        status, kind, english = known
        return TaskSnapshot(
            task_id=task_id,
            status=status,
            fail_reason=f"{english} ({text})" if status.terminal else None,
            error_kind=kind,
        )
    return TaskSnapshot(
        task_id=task_id,
        status=JobStatus.SUCCESS,
        progress=100,
        image_url=payload.image_url or (payload.image_urls[0] if payload.image_urls else None),
        buttons=_buttons(payload),
        prompt=content if isinstance(content, str) else None,
        final_prompt=_final_prompt(content) if isinstance(content, list | dict) else None,
    )


def progress_snapshot(task_id: str, vo: MessageProgress) -> TaskSnapshot:
    """``GET /message/{id}`` (or a push in the same shape) as a snapshot."""
    if vo.progress == "incomplete":
        return TaskSnapshot(
            task_id=task_id,
            status=JobStatus.FAILURE,
            fail_reason="TheNextLeg gave up on the job (reported incomplete).",
            error_kind=ErrorKind.TIMEOUT,
        )
    result = vo.result()
    if result is not None:
        snapshot = payload_snapshot(task_id, result)
        if snapshot.status is not JobStatus.SUCCESS or vo.progress in (None, 100):
            return snapshot
    percent = vo.progress if isinstance(vo.progress, int) else None
    return TaskSnapshot(
        task_id=task_id,
        status=JobStatus.IN_PROGRESS if percent else JobStatus.SUBMITTED,
        progress=max(0, min(99, percent)) if percent is not None else None,
        image_url=vo.progress_image_url,
    )


# --------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------


class SettingToggle(BaseModel):
    label: str
    #: None when the API cannot tell: modes (remix, fast/relax, stealth) are not in the suffix.
    on: bool | None = None


class NextLegSettings(BaseModel):
    """The ``/settings`` panel: every toggle with its state, read from the "Current suffix"."""

    toggles: list[SettingToggle]
    #: The parameters Midjourney adds to every prompt, e.g. ``"--v 5 --q 2"``.
    suffix: str = ""

    def state(self) -> SettingsState:
        """As the /settings panel shows it; the account's state, shared by everyone using it."""
        return SettingsState(
            active={t.label for t in self.toggles if t.on},
            suffix=self.suffix,
            available=list(dict.fromkeys(t.label for t in self.toggles)),
            source="backend",
        )


#: Settings labels that stand for a prompt parameter: pattern → (flag, value, is the default).
#: A default one is on when its flag is absent from the suffix.
_SETTING_FLAGS: tuple[tuple[re.Pattern[str], str, str, bool], ...] = (
    (re.compile(r"^MJ version (\d+(?:\.\d+)?)$"), "v", r"\1", False),
    (re.compile(r"^Niji version (\d+)$"), "niji", r"\1", False),
    (re.compile(r"^MJ Test Photo$"), "testp", "", False),
    (re.compile(r"^MJ Test$"), "test", "", False),
    (re.compile(r"^RAW Mode$", re.IGNORECASE), "style", "raw", False),
    (re.compile(r"^Half quality"), "q", ".5", False),
    (re.compile(r"^Base quality"), "q", "1", True),
    # The docs print both "High quality (2x cost)" and "High quality (x cost)".
    (re.compile(r"^High quality"), "q", "2", False),
    (re.compile(r"^Style low$"), "s", "50", False),
    (re.compile(r"^Style med$"), "s", "100", True),
    (re.compile(r"^Style high$"), "s", "250", False),
    (re.compile(r"^Style very high$"), "s", "750", False),
)
_SUFFIX = re.compile(r"Current suffix:\s*`([^`]*)`")
_FLAG = re.compile(r"--(\w+)(?:\s+([^\s-][^\s]*))?")


def _same_value(left: str, right: str) -> bool:
    try:
        return float(left) == float(right)  # ".5" is "0.5"
    except ValueError:
        return left == right


def parse_settings(payload: MessagePayload) -> NextLegSettings:
    content = payload.content if isinstance(payload.content, str) else ""
    match = _SUFFIX.search(content)
    suffix = match.group(1).strip() if match else ""
    flags = {name: value or "" for name, value in _FLAG.findall(suffix)}
    toggles = []
    for label in dict.fromkeys(payload.buttons):  # the docs list "Base quality" twice
        on: bool | None = None
        for pattern, flag, value, default in _SETTING_FLAGS:
            found = pattern.match(label)
            if found:
                wanted = found.expand(value)
                on = _same_value(flags[flag], wanted) if flag in flags else default
                break
        toggles.append(SettingToggle(label=label, on=on))
    return NextLegSettings(toggles=toggles, suffix=suffix)


# --------------------------------------------------------------------------------------------
# The backend
# --------------------------------------------------------------------------------------------


class Pacer:
    """At most one request start per ``interval`` seconds; callers wait their turn, first come first
    served, instead of being refused (TheNextLeg's sliding window is one request per 3 s)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._lock = asyncio.Lock()
        self._next_start = 0.0

    async def wait(self) -> None:
        async with self._lock:
            loop = asyncio.get_running_loop()
            delay = self._next_start - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self._next_start = loop.time() + self.interval


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
        try:
            vo = MessageProgress.model_validate(body)
        except ValidationError as exc:
            raise BackendError(
                ErrorKind.INVALID_INPUT, f"Malformed TheNextLeg payload ({exc.error_count()} errors)."
            ) from exc
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
        error = self._scrub(_refusal(answer.msg or answer.content))
        log.info("TheNextLeg %s refused: %s", path, error.kind.value)
        raise error

    async def _request(
        self, method: str, path: str, body: BaseModel | None, *, not_found_is_none: bool
    ) -> httpx.Response | None:
        payload = body.model_dump(mode="json", by_alias=True, exclude_none=True) if body is not None else None
        await self.pacer.wait()
        response = await send(
            self._http,
            method,
            self._root + path,
            service=SERVICE,
            path=path,
            json=payload,
            headers={"Authorization": f"Bearer {self._secret}"},
        )
        if response.is_success:
            return response
        if response.status_code == 404 and not_found_is_none:
            return None
        raise self._scrub(_status_error(response, path))

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        data = try_json(response)
        if data is NOT_JSON:
            raise BackendError(ErrorKind.UNAVAILABLE, "TheNextLeg sent an answer that is not JSON.")
        return data

    def _scrub(self, error: BackendError) -> BackendError:
        return scrub(error, self._secret)


_ZOOM_FLAG = re.compile(r"\s*--zoom\s+(\S+)", re.IGNORECASE)
_AR_FLAG = re.compile(r"\s*--(?:ar|aspect)\s+(\d+:\d+)", re.IGNORECASE)


def split_zoom(prompt: str) -> tuple[float, str | None, str]:
    """``(zoom, ar, rest)`` of a Custom Zoom prompt; BackendError(INVALID_INPUT) without a zoom of 1–2."""
    zoom_match = _ZOOM_FLAG.search(prompt)
    try:
        zoom = float(zoom_match.group(1)) if zoom_match else 0.0
    except ValueError:
        zoom = 0.0
    if not 1.0 <= zoom <= 2.0:
        raise BackendError(ErrorKind.INVALID_INPUT, tr("Custom Zoom needs a zoom from 1 to 2."))
    ar_match = _AR_FLAG.search(prompt)
    rest = _AR_FLAG.sub("", _ZOOM_FLAG.sub("", prompt)).strip()
    return zoom, ar_match.group(1) if ar_match else None, rest


def _refusal(text: str) -> BackendError:
    """A ``{"success": false, …}`` answer's text as the error it stands for."""
    if text.lower().startswith("invalid phrase"):
        return BackendError(ErrorKind.BANNED_PROMPT, f"The prompt failed TheNextLeg's prefilter ({text}).")
    known = content_status(text)
    if known is not None and known[1] is not None:
        return BackendError(known[1], f"{known[2]} ({text})")
    return BackendError(ErrorKind.INVALID_INPUT, text or "TheNextLeg refused the request.")


def _status_error(response: httpx.Response, path: str) -> BackendError:
    status = response.status_code
    answer = try_validate(SubmitAnswer, try_json(response))
    text = (answer.msg or answer.content) if answer else response.text.strip()[:300]
    if status == 400:
        return _refusal(text)
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
