"""Client for midjourney-proxy (novicezk Java, the closed Java "plus", and trueai-org's C# fork).

All three speak the same ``/mj/...`` API with a few differences that matter here. The account's
``options["flavour"]`` says which one it talks to: ``"java"`` (plus), ``"csharp"`` or ``"oss"``
(novicezk's open-source 2.x):

* auth: Java/plus read ``mj-api-secret``; C# reads ``Authorization`` (the raw token, no ``Bearer``);
* errors: submit endpoints answer HTTP 200 with a ``SubmitResultVO`` whose ``code`` says what went
  wrong; C# also has a second envelope ``{"success": false, "code": -1, "message": ...}``;
* code 21 means "MODAL: call /submit/modal" on plus/C#, but "task already exists" on open-source Java;
* the open-source proxy has no ``/submit/action``, ``/submit/modal``, ``/submit/shorten``, no
  ``buttons`` on its tasks and no MODAL status. Only U1–U4, V1–V4 and re-roll exist there, through
  ``/submit/change``; this client draws those buttons itself (:func:`oss_buttons`) with the legacy
  customIds, and :meth:`MjProxyBackend.action` maps them back (:func:`legacy_change`), so the rest
  of the bot sees the same buttons whatever the flavour.

The backend's own words (mostly Chinese) are kept in every error; common ones get an English
sentence in front so a member can read them.
"""

from __future__ import annotations

import base64
import copy
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any, Generic, Literal, TypeVar, cast, get_args

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel

from bot.backends._http import NOT_JSON, kind_from_text, scrub, send, try_json, try_validate
from bot.backends.base import SEED_BUTTON, AccountOption, Backend, Capability
from bot.domain import (
    Account,
    BackendError,
    ButtonStyle,
    ErrorKind,
    JobKind,
    JobStatus,
    ResultButton,
    SubmitResult,
    TaskSnapshot,
)
from bot.i18n import tr

log = logging.getLogger(__name__)

Flavour = Literal["java", "csharp", "oss"]
ChangeAction = Literal["UPSCALE", "VARIATION", "REROLL"]
Dimensions = Literal["PORTRAIT", "SQUARE", "LANDSCAPE"]
#: Which Discord bot a new task goes to (plus and C#; the open-source proxy has no such field).
BotType = Literal["MID_JOURNEY", "NIJI_JOURNEY"]

# --------------------------------------------------------------------------------------------
# Wire shapes
# --------------------------------------------------------------------------------------------


class _Wire(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown keys ignored (forks add many)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    @field_validator("properties", "buttons", mode="before", check_fields=False)
    @classmethod
    def _null_is_default(cls, value: Any, info: ValidationInfo) -> Any:
        # Proxies send null for an empty object or list; the field's default stands in for it.
        if value is None and info.field_name is not None:
            return cls.model_fields[info.field_name].get_default(call_default_factory=True)
        return value


def _id_to_str(value: Any) -> Any:
    # Task ids are 16-digit numbers; some proxies send them as JSON numbers. Keep them as strings.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


class SubmitRequest(_Wire):
    """Fields every submit endpoint accepts. ``notify_hook`` None: the proxy's global hook, if any."""

    notify_hook: str | None = None
    state: str | None = None


class NewTaskRequest(SubmitRequest):
    """A submit that starts a task of its own; ``bot_type`` None: the proxy's default (Midjourney)."""

    bot_type: BotType | None = None


class ImagineRequest(NewTaskRequest):
    prompt: str
    base64_array: list[str] = Field(default_factory=list)


class ActionRequest(SubmitRequest):
    task_id: str
    custom_id: str
    #: C# only: open the Remix modal (code 21) even when the account would start the task at once.
    enable_remix: bool | None = None


class ChangeRequest(SubmitRequest):
    """Open-source Java's only way to press a grid button. ``index`` 1–4; none for REROLL."""

    task_id: str
    action: ChangeAction
    index: int | None = None


class ModalRequest(_Wire):
    task_id: str
    prompt: str | None = None
    mask_base64: str | None = None


class BlendRequest(NewTaskRequest):
    base64_array: list[str]
    dimensions: Dimensions = "SQUARE"


class DescribeRequest(NewTaskRequest):
    base64: str


class ShortenRequest(NewTaskRequest):
    prompt: str


class ListByConditionRequest(_Wire):
    ids: list[str]


class SubmitResultVO(_Wire):
    code: int
    description: str = ""
    result: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)

    @field_validator("result", mode="before")
    @classmethod
    def _result_as_str(cls, value: Any) -> Any:
        value = _id_to_str(value)
        # C#'s upload-discord-images puts a list here; no endpoint this client calls does.
        return value if value is None or isinstance(value, str) else None


class CsharpErrorEnvelope(_Wire):
    """trueai's ``Result`` envelope for business exceptions thrown outside the submit try/catch."""

    success: Literal[False]
    code: int = -1
    message: str = ""


class ButtonVO(_Wire):
    custom_id: str = ""
    emoji: str = ""
    label: str = ""
    type: int = 2
    style: int = 2


class TaskVO(_Wire):
    id: str
    action: str | None = None
    status: str | None = None
    prompt: str | None = None
    prompt_en: str | None = None
    description: str | None = None
    state: str | None = None
    submit_time: int | None = None
    start_time: int | None = None
    finish_time: int | None = None
    progress: str | int | None = None
    image_url: str | None = None
    fail_reason: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)
    buttons: list[ButtonVO] = Field(default_factory=list)

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_str(cls, value: Any) -> Any:
        return _id_to_str(value)


# --------------------------------------------------------------------------------------------
# Mapping tables
# --------------------------------------------------------------------------------------------

#: Common backend messages, by a fragment that identifies them, with an English sentence.
_TRANSLATIONS: dict[str, str] = {
    "关联任务不存在或已失效": "The task this button belongs to no longer exists.",
    "关联任务状态错误": "The task this button belongs to is not finished.",
    "关联任务不允许执行变化": "The task this button belongs to cannot be upscaled or varied.",
    "账号不可用": "The Midjourney account that ran the original task is unavailable.",
    "无可用的账号实例": "No Midjourney account is available.",
    "prompt不能为空": "The prompt is empty.",
    "base64格式错误": "An image could not be read.",
    "禁止上传": "Image uploads are disabled on the service.",
    "队列已满": "The queue is full.",
    "提交失败，系统异常": "The service had an internal error.",
    "可能包含敏感词": "The prompt may contain a banned word.",
    "并发数已达上限": "Too many jobs are running on this account.",
    "队列数已达上限": "Too many jobs are queued on this account.",
    "今日绘图次数已达上限": "The account's daily image limit is reached.",
    "服务暂不可用": "The service is temporarily unavailable.",
    "需要人工验证": "The Midjourney account needs a human verification (captcha).",
    "任务超时": "The job timed out.",
    "执行超时": "The job timed out.",
    "任务提交超时": "The job waited too long to start.",
    "取消任务": "The job was cancelled.",
    "操作失败": "The service had an internal error.",
    "未登录": "The service did not accept the credentials.",
    "账号已禁用": "The service account is disabled.",
}

#: Message fragments that decide the error kind whatever the code says (limits, bans, outages).
_MESSAGE_KINDS: tuple[tuple[str, ErrorKind], ...] = (
    ("可能包含敏感词", ErrorKind.BANNED_PROMPT),
    ("banned prompt", ErrorKind.BANNED_PROMPT),
    ("无可用的账号实例", ErrorKind.UNAVAILABLE),
    ("服务暂不可用", ErrorKind.UNAVAILABLE),
    ("队列已满", ErrorKind.QUEUE_FULL),
    ("并发数已达上限", ErrorKind.QUEUE_FULL),
    ("队列数已达上限", ErrorKind.QUEUE_FULL),
    ("次数已达上限", ErrorKind.QUOTA),
    ("账号已禁用", ErrorKind.AUTH),
    ("未登录", ErrorKind.AUTH),
)

#: Failure reasons of finished tasks that map onto an error kind.
_FAIL_REASON_KINDS: tuple[tuple[str, ErrorKind], ...] = (
    ("可能包含敏感词", ErrorKind.BANNED_PROMPT),
    ("banned prompt", ErrorKind.BANNED_PROMPT),
    ("超时", ErrorKind.TIMEOUT),
    ("timed out", ErrorKind.TIMEOUT),
    ("timeout", ErrorKind.TIMEOUT),
    ("人工验证", ErrorKind.MODERATION),
    ("captcha", ErrorKind.MODERATION),
    ("action needed", ErrorKind.MODERATION),
    ("pending mod", ErrorKind.MODERATION),
)

_CODE_KINDS: dict[int, ErrorKind] = {
    3: ErrorKind.NOT_FOUND,
    4: ErrorKind.INVALID_INPUT,
    23: ErrorKind.QUEUE_FULL,
    24: ErrorKind.BANNED_PROMPT,
}

_STATUSES: dict[str, JobStatus] = {
    "NOT_START": JobStatus.SUBMITTED,
    "SUBMITTED": JobStatus.SUBMITTED,
    "IN_PROGRESS": JobStatus.IN_PROGRESS,
    "MODAL": JobStatus.MODAL,
    "SUCCESS": JobStatus.SUCCESS,
    "FAILURE": JobStatus.FAILURE,
    "CANCEL": JobStatus.CANCELLED,
}

#: C# cancels a task by failing it with this reason.
_CANCEL_REASON = "取消任务"

_STYLES: dict[int, ButtonStyle] = {
    1: ButtonStyle.PRIMARY,
    2: ButtonStyle.SECONDARY,
    3: ButtonStyle.SUCCESS,
    4: ButtonStyle.DANGER,
}

#: customId pattern → (kind, row). Rows follow the Midjourney bot's own layout: on a grid U1–U4 and
#: reroll, then V1–V4; on an upscale the upscales, the varies, the zooms, then pans and bookmark.
_BUTTON_RULES: tuple[tuple[re.Pattern[str], JobKind, int | None], ...] = (
    (re.compile(r"^MJ::JOB::upsample::\d"), JobKind.UPSCALE, 0),
    (re.compile(r"^MJ::JOB::reroll::"), JobKind.REROLL, 0),
    (re.compile(r"^MJ::JOB::variation::\d"), JobKind.VARIATION, 1),
    (re.compile(r"^MJ::JOB::upsample_v"), JobKind.UPSCALE, 0),
    (re.compile(r"^MJ::JOB::(low|high)_variation::"), JobKind.VARIATION, 1),
    (re.compile(r"^MJ::Inpaint::"), JobKind.VARIATION, 1),
    (re.compile(r"^MJ::(Outpaint|CustomZoom)::"), JobKind.ZOOM, 2),
    (re.compile(r"^MJ::JOB::pan_"), JobKind.PAN, 3),
    (re.compile(r"^MJ::BOOKMARK::"), JobKind.ACTION, 3),
)

#: Legacy grid customIds (the ones /submit/change stands for, §6 of the API notes) → change action.
_LEGACY_CHANGES: tuple[tuple[re.Pattern[str], ChangeAction], ...] = (
    (re.compile(r"^MJ::JOB::upsample::([1-4])::"), "UPSCALE"),
    (re.compile(r"^MJ::JOB::variation::([1-4])::"), "VARIATION"),
    (re.compile(r"^MJ::JOB::reroll::0::"), "REROLL"),
)

#: Task actions whose result is a grid /submit/change accepts as a parent (novicezk SubmitController).
CHANGEABLE_ACTIONS = frozenset({"IMAGINE", "VARIATION", "REROLL", "BLEND"})

#: Task actions whose result is an image Midjourney can tell the seed of (C#'s image-seed).
_SEEDED_ACTIONS = frozenset(
    {"IMAGINE", "UPSCALE", "VARIATION", "REROLL", "BLEND", "PAN", "ZOOM", "OUTPAINT", "INPAINT", "UPSCALE_HD"}
)

#: How the open-source proxy is named in the errors a member reads.

_PROGRESS = re.compile(r"(\d{1,3})")

_IMAGE_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"WEBP", 8, "image/webp"),
)


# --------------------------------------------------------------------------------------------
# Pure mapping functions (module level so tests and other backends can use them directly)
# --------------------------------------------------------------------------------------------


def describe_message(message: str) -> str:
    """The backend's message, with an English sentence in front when it is a known one."""
    for fragment, english in _TRANSLATIONS.items():
        if fragment in message:
            return f"{english} ({message})"
    return message


def data_url(image: bytes) -> str:
    """``data:<mime>;base64,...`` for an image, its type read from its first bytes."""
    for signature, offset, mime in _IMAGE_SIGNATURES:
        if image[offset : offset + len(signature)] == signature:
            return f"data:{mime};base64,{base64.b64encode(image).decode('ascii')}"
    raise BackendError(ErrorKind.INVALID_INPUT, tr("Unsupported image type (use PNG, JPEG, WebP or GIF)."))


def parse_progress(progress: str | int | None) -> int | None:
    """``"46%"`` → 46; empty or missing → None."""
    if isinstance(progress, int):
        return max(0, min(100, progress))
    match = _PROGRESS.search(progress or "")
    return max(0, min(100, int(match.group(1)))) if match else None


def grid_buttons(message_hash: str) -> list[ButtonVO]:
    """The buttons Midjourney puts under a finished grid: U1–U4, 🔄, V1–V4, with legacy customIds.

    What plus/C# copy from Discord for a grid, and what the open-source proxy never sends.
    """
    return [
        *(ButtonVO(custom_id=f"MJ::JOB::upsample::{i}::{message_hash}", label=f"U{i}") for i in range(1, 5)),
        ButtonVO(custom_id=f"MJ::JOB::reroll::0::{message_hash}::SOLO", emoji="🔄"),
        *(ButtonVO(custom_id=f"MJ::JOB::variation::{i}::{message_hash}", label=f"V{i}") for i in range(1, 5)),
    ]


def oss_buttons(task: TaskVO) -> list[ButtonVO]:
    """The grid buttons an open-source proxy task would have, were it plus: only those it can press.

    A finished grid (imagine, variation, re-roll, blend) gets :func:`grid_buttons`; anything else,
    an upscale included, gets none, as ``/submit/change`` refuses it as a parent. The hash is only
    there to make the ids look like Midjourney's: :func:`legacy_change` does not need it.
    """
    if task.status != "SUCCESS" or task.action not in CHANGEABLE_ACTIONS:
        return []
    message_hash = task.properties.get("messageHash")
    return grid_buttons(message_hash if isinstance(message_hash, str) and message_hash else task.id)


def legacy_change(custom_id: str) -> tuple[ChangeAction, int | None] | None:
    """``MJ::JOB::upsample::2::<hash>`` → ``("UPSCALE", 2)``; re-roll has no index; other ids → None."""
    for pattern, action in _LEGACY_CHANGES:
        match = pattern.match(custom_id)
        if match:
            return action, int(match.group(1)) if match.groups() else None
    return None


def to_button(vo: ButtonVO) -> ResultButton:
    kind, row = next(
        ((kind, row) for pattern, kind, row in _BUTTON_RULES if pattern.match(vo.custom_id)),
        (JobKind.ACTION, None),
    )
    return ResultButton(
        custom_id=vo.custom_id,
        label=vo.label,
        emoji=vo.emoji,
        style=_STYLES.get(vo.style, ButtonStyle.SECONDARY),
        kind=kind,
        row=row,
    )


def to_snapshot(task: TaskVO) -> TaskSnapshot:
    status = _STATUSES.get(task.status or "")
    if status is None:
        raise BackendError(ErrorKind.INVALID_INPUT, f"Unknown task status {task.status!r}.")
    fail_reason = task.fail_reason or None
    if status is JobStatus.FAILURE and fail_reason == _CANCEL_REASON:
        status = JobStatus.CANCELLED
    final_prompt = task.properties.get("finalPrompt")
    return TaskSnapshot(
        task_id=task.id,
        status=status,
        progress=parse_progress(task.progress),
        image_url=task.image_url or None,
        fail_reason=describe_message(fail_reason) if fail_reason else None,
        error_kind=kind_from_text(fail_reason, _FAIL_REASON_KINDS) if fail_reason else None,
        # Link buttons (no customId) cannot be pressed through the proxy.
        buttons=[to_button(b) for b in task.buttons if b.custom_id],
        prompt=task.prompt,
        final_prompt=final_prompt if isinstance(final_prompt, str) and final_prompt else None,
    )


def submit_result(vo: SubmitResultVO, flavour: Flavour) -> SubmitResult:
    """A SubmitResultVO as a SubmitResult, or the BackendError it stands for."""
    if vo.code in (1, 22) and vo.result:
        queue = vo.properties.get("numberOfQueues") if vo.code == 22 else None
        return SubmitResult(task_id=vo.result, queue_position=queue if isinstance(queue, int) else None)
    if vo.code == 21 and vo.result:
        # Open-source Java: "already exists" (the result is the existing task). Plus and C#: a new
        # MODAL task waiting for /submit/modal; plus tells it apart by the remix/finalPrompt keys.
        # A "java" account may be an open-source proxy after all, hence the guess there.
        guess = "finalPrompt" in vo.properties or "remix" in vo.properties
        modal = flavour == "csharp" or (flavour == "java" and guess)
        if not modal:
            return SubmitResult(task_id=vo.result, existing=True)
        final_prompt = vo.properties.get("finalPrompt")
        return SubmitResult(
            task_id=vo.result,
            needs_modal=True,
            final_prompt=final_prompt if isinstance(final_prompt, str) else None,
        )
    raise _vo_error(vo)


def _vo_error(vo: SubmitResultVO) -> BackendError:
    kind = kind_from_text(vo.description, _MESSAGE_KINDS) or _CODE_KINDS.get(vo.code, ErrorKind.UNAVAILABLE)
    detail = describe_message(vo.description) if vo.description else f"Error code {vo.code}."
    banned = vo.properties.get("bannedWord")
    if banned:
        detail = f"{detail} Banned word: {banned}"
    return BackendError(kind, detail)


def _envelope_error(envelope: CsharpErrorEnvelope) -> BackendError:
    kind = kind_from_text(envelope.message, _MESSAGE_KINDS) or ErrorKind.UNAVAILABLE
    return BackendError(kind, describe_message(envelope.message))


# --------------------------------------------------------------------------------------------
# The backend
# --------------------------------------------------------------------------------------------


#: How a member knows each flavour.
FLAVOUR_NAMES: dict[Flavour, str] = {"java": "plus", "csharp": "C#", "oss": "open-source"}

_EVERY_FLAVOUR = frozenset(
    {Capability.BLEND, Capability.DESCRIBE, Capability.FETCH_MANY, Capability.SERVICE_STATUS}
)
_PLUS = _EVERY_FLAVOUR | {Capability.MODAL, Capability.SHORTEN, Capability.REMIX, Capability.NIJI}
#: What each flavour offers (docs/backends/midjourney-proxy.md): the open-source proxy has no
#: /submit/action, /submit/modal, /submit/shorten nor ``botType``; only C# cancels and tells seeds.
FLAVOUR_CAPABILITIES: dict[Flavour, frozenset[Capability]] = {
    "java": _PLUS,
    "csharp": _PLUS | {Capability.CANCEL, Capability.SEED},
    "oss": _EVERY_FLAVOUR,
}

_V = TypeVar("_V")


class _ByFlavour(Generic[_V]):
    """A class attribute whose value on an instance depends on its flavour: ``every`` read on the
    class (what the registry lists for the kind), ``by[flavour]`` on an account's client."""

    def __init__(self, every: _V, by: Mapping[Flavour, _V]) -> None:
        self._every, self._by = every, by

    def __get__(self, client: MjProxyBackend | None, owner: object = None) -> _V:
        return self._every if client is None else self._by[client.flavour]


#: The account options this backend reads (see :func:`bot.backends.check_options`).
OPTIONS = {"flavour": AccountOption(re.compile("|".join(get_args(Flavour))), "|".join(get_args(Flavour)))}


class MjProxyBackend:
    """One midjourney-proxy account. Implements :class:`bot.backends.base.Backend`.

    Transport errors map to UNAVAILABLE, read timeouts included: a submit that timed out may or may
    not have created a task, and "try again later" is the honest answer either way.
    """

    #: "midjourney-proxy" on the class (the registry's); an account's names its flavour.
    service = _ByFlavour("midjourney-proxy", {f: f"midjourney-proxy ({n})" for f, n in FLAVOUR_NAMES.items()})
    #: Every flavour's on the class (the registry's); an account's are its flavour's.
    capabilities = _ByFlavour(frozenset().union(*FLAVOUR_CAPABILITIES.values()), FLAVOUR_CAPABILITIES)

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
        raise self._scrub(_vo_error(vo))

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
        try:
            task = TaskVO.model_validate(body)
        except ValidationError as exc:
            raise BackendError(
                ErrorKind.INVALID_INPUT, f"Malformed task ({exc.error_count()} errors)."
            ) from exc
        if self.flavour == "oss":
            # The open-source proxy sends no buttons; draw the ones action() can map onto /change.
            task.buttons = oss_buttons(task)
        snapshot = to_snapshot(task)
        if self.flavour == "csharp" and task.status == "SUCCESS" and task.action in _SEEDED_ACTIONS:
            # A row of its own, below Midjourney's rows (which stay as they are).
            seed = ResultButton(custom_id=SEED_BUTTON, label="Seed", emoji="✉️", row=4)
            snapshot = snapshot.model_copy(update={"buttons": [*snapshot.buttons, seed]})
        return snapshot

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
            raise self._scrub(_envelope_error(envelope))
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
        payload = body.model_dump(mode="json", by_alias=True, exclude_none=True) if body is not None else None
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
        raise self._scrub(self._status_error(response, path))

    def _status_error(self, response: httpx.Response, path: str) -> BackendError:
        status = response.status_code
        text = response.text.strip()[:300]
        if status in (401, 403):
            return BackendError(ErrorKind.AUTH, describe_message(text) if text else f"HTTP {status}.")
        data = try_json(response)
        envelope = try_validate(CsharpErrorEnvelope, data)
        vo = None if envelope else try_validate(SubmitResultVO, data)
        if status in (400, 404) and vo is not None:
            # C# answers a missing parent task on /submit/action and /submit/modal this way, and
            # image-seed's refusals.
            return _vo_error(vo)
        if status >= 500:
            detail = describe_message(envelope.message) if envelope else f"HTTP {status} on {path}."
            return BackendError(ErrorKind.UNAVAILABLE, detail)
        if status == 404:
            return BackendError(ErrorKind.INVALID_INPUT, f"{path} is not supported by this proxy (HTTP 404).")
        return BackendError(ErrorKind.INVALID_INPUT, describe_message(text) if text else f"HTTP {status}.")

    @staticmethod
    def _json(response: httpx.Response, *, allow_empty: bool) -> Any:
        # Java answers "not found" with an empty 200, ASP.NET with 204; both mean null.
        if response.status_code == 204 or not response.content.strip():
            if allow_empty:
                return None
            raise BackendError(ErrorKind.UNAVAILABLE, "The proxy sent an empty answer.")
        data = try_json(response)
        if data is NOT_JSON:
            raise BackendError(ErrorKind.UNAVAILABLE, "The proxy sent an answer that is not JSON.")
        return data

    def _scrub(self, error: BackendError) -> BackendError:
        """Never let the secret leak through text a misconfigured proxy may have echoed."""
        return scrub(error, self._secret)
