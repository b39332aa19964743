"""A fake midjourney-proxy: the ``/mj/...`` HTTP API with the shapes and quirks of the real ones.

It plays one of three flavours: ``"java"`` (the Java "plus" proxy: ``mj-api-secret``, 401 with an
empty body, queue full = code 23, banned prompts refused at submit with code 24), ``"csharp"``
(trueai: ``Authorization``, 403 "未登录", queue full = code 9, banned prompts accepted then failed,
the ``{success:false}`` envelope, 204 for an unknown task, ``/task/{id}/cancel``, ``enableRemix``,
no ``/submit/change`` since v10) or ``"oss"`` (novicezk's open-source 2.x: Java's auth and codes,
but only ``/submit/change`` and ``/submit/simple-change`` to act on a grid, no ``/submit/action``,
``/modal`` or ``/shorten`` (Spring's route 404), no ``buttons`` in its tasks, never MODAL).

``account_remix`` plays a Discord account with Remix mode on (and auto-submit off) on plus and C#:
re-roll, variation and pan buttons then answer code 21 and wait for ``/submit/modal``'s prompt.

Tasks run on their own: SUBMITTED "0%" → IN_PROGRESS with previews → SUCCESS "100%", each change
POSTed once to the task's ``notifyHook`` (errors ignored, as the real one does). Images are real
PNGs drawn by :mod:`sandbox.images` and served at ``/images/{task_id}.png``. Faults for tests
live in :attr:`FakeMjProxy.faults`; every ``/mj`` request is recorded in :attr:`FakeMjProxy.requests`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import math
import random
import re
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, get_args

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler

from bot.backends.mj_proxy import CHANGEABLE_ACTIONS, ChangeAction, Flavour, grid_buttons, legacy_change
from sandbox import images
from sandbox.fake_common import FakeServer, HookDelivery, delaying, recording

log = logging.getLogger(__name__)

INSTANCE_ID = "1118138338562560102"
_TERMINAL = ("SUCCESS", "FAILURE", "CANCEL")
_KEYCAPS = ["1\ufe0f\u20e3", "2\ufe0f\u20e3", "3\ufe0f\u20e3", "4\ufe0f\u20e3", "5\ufe0f\u20e3"]
_DATA_URL = re.compile(r"^data:image/[a-z+.-]+;base64,(?P<data>.+)$", re.DOTALL)
#: simple-change's content, e.g. "1689231405853400 U2" or "... r" (novicezk ConvertUtils).
_SIMPLE_CHANGE = re.compile(r"^(?P<id>\S+) +(?:(?P<uv>[UV])(?P<index>[1-4])|R)$", re.IGNORECASE)
#: Which flavours have which routes: plus/C#-only, Java-only (C# dropped them in v10), C#-only.
_PLUS: tuple[Flavour, ...] = ("java", "csharp")
_LEGACY: tuple[Flavour, ...] = ("java", "oss")
_CSHARP: tuple[Flavour, ...] = ("csharp",)

#: What the real proxies say for the codes a test can inject, per flavour where they differ.
_FAULT_DESCRIPTIONS: dict[int, dict[Flavour, str]] = {
    -1: {"java": "并发数已达上限", "csharp": "并发数已达上限"},
    3: {"java": "无可用的账号实例", "csharp": "无可用的账号实例"},
    4: {"java": "参数校验错误", "csharp": "参数校验错误"},
    9: {"java": "提交失败，系统异常", "csharp": "提交失败，队列已满，请稍后重试"},
    23: {"java": "队列已满，请稍后尝试", "csharp": "队列已满，请稍后尝试"},
    24: {"java": "可能包含敏感词", "csharp": "可能包含敏感词"},
}


@dataclass
class _SubmitFault:
    status: int | None
    code: int | None
    description: str | None


@dataclass
class FakeFaults:
    """Faults the next requests or tasks meet. The ``*_hooks`` flags apply while they are set."""

    banned_words: set[str] = field(default_factory=lambda: {"forbidden"})
    #: Seconds every ``/mj`` response waits before being handled (client read timeouts).
    response_delay: float = 0.0
    #: Seconds a submit's answer waits after its task has started, so the task's first push
    #: reaches the client before the answer with its id does (a proxy answering late).
    late_submit_answer: float = 0.0
    #: Never POST the notifyHook (a lost push).
    drop_hooks: bool = False
    #: POST every notifyHook twice.
    duplicate_hooks: bool = False
    #: Hold a task's hooks and send them in reverse once it ends: the terminal one arrives first.
    reorder_hooks: bool = False
    #: Every image URL answers with this instead of the task's PNG: (body, content type, times
    #: the body is repeated), streamed. A CDN serving an error page, a huge file or a hostile image.
    image_override: tuple[bytes, str, int] | None = None
    #: Buttons every finished task lists after its own (a message with more than Discord can show).
    extra_buttons: int = 0
    #: Finished tasks name their image by a long signed URL on the proxy that answers 404 (a CDN
    #: link that expired before the bot fetched it).
    expired_images: bool = False
    _submit: deque[_SubmitFault] = field(default_factory=deque)
    _task_failures: deque[str] = field(default_factory=deque)
    _stuck: int = 0

    def fail_next_submit(
        self, *, status: int | None = None, code: int | None = None, description: str | None = None
    ) -> None:
        """The next ``/mj/submit/*`` answers HTTP ``status`` (e.g. 500), or a VO with ``code``
        (3, 4, 9, 23, 24…; -1 gives C#'s ``{success:false}`` envelope)."""
        if (status is None) == (code is None):
            raise ValueError("give exactly one of status= or code=")
        self._submit.append(_SubmitFault(status, code, description))

    def delay_responses(self, seconds: float) -> None:
        self.response_delay = seconds

    def task_fails(self, fail_reason: str = "[Invalid parameter] Invalid value for --ar") -> None:
        """The next task that starts ends FAILURE with ``fail_reason``."""
        self._task_failures.append(fail_reason)

    def stick_next_task(self) -> None:
        """The next task that starts reaches IN_PROGRESS and stays there."""
        self._stuck += 1

    def serve_images(self, body: bytes, content_type: str = "image/png", *, repeat: int = 1) -> None:
        """Image URLs answer ``body`` ``repeat`` times over (see ``image_override``)."""
        self.image_override = (body, content_type, repeat)

    # The fake consumes the one-shot faults through these.

    def _pop_submit_fault(self) -> _SubmitFault | None:
        return self._submit.popleft() if self._submit else None

    def _pop_task_failure(self) -> str | None:
        return self._task_failures.popleft() if self._task_failures else None

    def _take_stuck(self) -> bool:
        if self._stuck:
            self._stuck -= 1
            return True
        return False


@dataclass(frozen=True)
class _ActionRule:
    """What pressing a button with a matching customId does."""

    pattern: re.Pattern[str]
    action: str
    #: "grid" | "tile" | "enlarge" | "describe"
    result: str
    #: None: starts at once; "inpaint" | "zoom" | "pick": waits for /submit/modal.
    modal: str | None = None
    #: Asks for a new prompt first (MODAL "remix") when Remix is on (§6 rule 3 of the API notes).
    remixable: bool = False


_ACTIONS = (
    _ActionRule(re.compile(r"^MJ::JOB::upsample::(\d)::"), "UPSCALE", "tile"),
    _ActionRule(re.compile(r"^MJ::JOB::variation::(\d)::"), "VARIATION", "grid", remixable=True),
    _ActionRule(re.compile(r"^MJ::JOB::reroll::"), "REROLL", "grid", remixable=True),
    _ActionRule(re.compile(r"^MJ::JOB::upsample_v"), "UPSCALE", "enlarge"),
    _ActionRule(re.compile(r"^MJ::JOB::(?:low|high)_variation::"), "VARIATION", "grid", remixable=True),
    _ActionRule(re.compile(r"^MJ::Inpaint::"), "VARIATION", "grid", modal="inpaint"),
    _ActionRule(re.compile(r"^MJ::Outpaint::"), "ZOOM", "grid"),
    _ActionRule(re.compile(r"^MJ::CustomZoom::"), "ZOOM", "grid", modal="zoom"),
    _ActionRule(re.compile(r"^MJ::JOB::pan_"), "PAN", "grid", remixable=True),
    _ActionRule(re.compile(r"^MJ::Job::(?:PicReader|PromptAnalyzer)::(\d)"), "IMAGINE", "grid", modal="pick"),
    _ActionRule(re.compile(r"^MJ::Picread::Retry"), "DESCRIBE", "describe"),
)


def _button(custom_id: str, label: str = "", emoji: str = "") -> dict[str, Any]:
    return {"customId": custom_id, "emoji": emoji, "label": label, "type": 2, "style": 2}


def _grid_buttons(hash_: str) -> list[dict[str, Any]]:
    # The client draws the same set for the open-source proxy; one definition keeps them equal.
    return [b.model_dump(mode="json", by_alias=True) for b in grid_buttons(hash_)]


def _upscale_buttons(hash_: str) -> list[dict[str, Any]]:
    return [
        _button(f"MJ::JOB::upsample_v6_2x_subtle::1::{hash_}::SOLO", "Upscale (Subtle)"),
        _button(f"MJ::JOB::upsample_v6_2x_creative::1::{hash_}::SOLO", "Upscale (Creative)"),
        _button(f"MJ::JOB::low_variation::1::{hash_}::SOLO", "Vary (Subtle)", "🪄"),
        _button(f"MJ::JOB::high_variation::1::{hash_}::SOLO", "Vary (Strong)", "🪄"),
        _button(f"MJ::Inpaint::1::{hash_}::SOLO", "Vary (Region)", "🖌️"),
        _button(f"MJ::Outpaint::50::1::{hash_}::SOLO", "Zoom Out 2x", "🔍"),
        _button(f"MJ::Outpaint::75::1::{hash_}::SOLO", "Zoom Out 1.5x", "🔍"),
        _button(f"MJ::CustomZoom::{hash_}", "Custom Zoom", "🔍"),
        *(
            _button(f"MJ::JOB::pan_{d}::1::{hash_}::SOLO", emoji=e)
            for d, e in (("left", "⬅️"), ("right", "➡️"), ("up", "⬆️"), ("down", "⬇️"))
        ),
        _button(f"MJ::BOOKMARK::{hash_}", emoji="❤️"),
    ]


def _describe_buttons(_hash: str) -> list[dict[str, Any]]:
    return [
        *(_button(f"MJ::Job::PicReader::{i}", emoji=_KEYCAPS[i - 1]) for i in range(1, 5)),
        _button("MJ::Picread::Retry", emoji="🔄"),
    ]


def _shorten_buttons(_hash: str) -> list[dict[str, Any]]:
    return [_button(f"MJ::Job::PromptAnalyzer::{i}", emoji=_KEYCAPS[i - 1]) for i in range(1, 6)]


_BUTTONS: dict[str, Callable[[str], list[dict[str, Any]]]] = {
    "grid": _grid_buttons,
    "tile": _upscale_buttons,
    "enlarge": _upscale_buttons,
    "describe": _describe_buttons,
    "shorten": _shorten_buttons,
}


@dataclass
class _Task:
    id: str
    action: str
    prompt: str
    description: str
    state: str
    notify_hook: str | None
    final_prompt: str
    #: Which button set the result gets (a key of _BUTTONS).
    result: str
    message_hash: str
    submit_time: int
    parent_id: str | None = None
    #: The Discord bot it runs on (plus/C# ``botType``; follow-ups keep their parent's).
    bot_type: str = "MID_JOURNEY"
    #: What C#'s image-seed tells once the task is done.
    seed: str = ""
    status: str = "NOT_START"
    progress: str | None = None
    start_time: int | None = None
    finish_time: int | None = None
    image_url: str | None = None
    fail_reason: str | None = None
    buttons: list[dict[str, Any]] = field(default_factory=list)
    #: Describe/shorten suggestions: shown in finalPrompt on success, picked by the buttons.
    options: list[str] = field(default_factory=list)
    #: How /submit/modal must confirm this task, while it is MODAL.
    modal: str | None = None
    #: Draws the result image; None for text-only results (shorten).
    render: Callable[[], bytes] | None = None
    png: bytes | None = None
    planned_failure: str | None = None
    #: Started but waiting for one of the account's slots (what /task/queue lists).
    waiting: bool = False
    held_hooks: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self, flavour: Flavour) -> dict[str, Any]:
        properties: dict[str, Any] = {
            "finalPrompt": self.final_prompt,
            "notifyHook": self.notify_hook,
            "discordInstanceId": INSTANCE_ID,
            "flags": 0,
            "nonce": str(int(self.id) * 7 % 10**19),
        }
        if self.start_time is not None:
            properties["messageId"] = str(int(self.id) * 11 % 10**19)
            properties["messageHash"] = self.message_hash
        body: dict[str, Any] = {
            "id": self.id,
            "action": self.action,
            "status": self.status,
            "prompt": self.prompt,
            "promptEn": self.prompt,
            "description": self.description,
            "state": self.state,
            "submitTime": self.submit_time,
            "startTime": self.start_time,
            "finishTime": self.finish_time,
            "progress": self.progress,
            "imageUrl": self.image_url,
            "failReason": self.fail_reason,
            "properties": properties,
            "buttons": self.buttons if self.status == "SUCCESS" else [],
        }
        if flavour == "oss":
            # novicezk's Task has no buttons field at all (its callers know U/V/R only).
            del body["buttons"]
        if flavour == "csharp":
            properties["discordChannelId"] = INSTANCE_ID
            body |= {"botType": self.bot_type, "parentId": self.parent_id, "mode": "FAST"}
        return body


def _now_ms() -> int:
    return int(time.time() * 1000)


def _decode_data_url(value: Any) -> bytes | None:
    """The bytes of a ``data:image/...;base64,`` URL, or None when it is not one."""
    match = _DATA_URL.match(value) if isinstance(value, str) else None
    if match is None:
        return None
    try:
        return base64.b64decode(match.group("data"), validate=True)
    except (binascii.Error, ValueError):
        return None


class FakeMjProxy(FakeServer):
    def __init__(
        self,
        *,
        flavour: Flavour = "java",
        secret: str = "",
        step_seconds: float = 0.05,
        progress_steps: int = 3,
        core_size: int = 3,
        seed: int = 0,
        account_remix: bool = False,
    ) -> None:
        if flavour not in get_args(Flavour):
            raise ValueError(f"Unknown flavour {flavour!r}")
        super().__init__()
        self.flavour: Flavour = flavour
        #: The Discord account has Remix mode on (plus and C#; the open-source proxy has no MODAL).
        self.account_remix = account_remix
        self.secret = secret
        self.step_seconds = step_seconds
        self.progress_steps = progress_steps
        self.faults = FakeFaults()
        #: Bytes of ``faults.image_override`` bodies written to clients.
        self.image_bytes_sent = 0
        self._tasks: dict[str, _Task] = {}
        self._rng = random.Random(seed)
        self._last_id = 0
        # Like one Discord account: core_size tasks run, the rest wait (code 22).
        self._slots = asyncio.Semaphore(core_size)
        self._core_size = core_size
        self._active = 0
        #: The most tasks the account ever had at once (submitted and not finished).
        self.max_active = 0
        self._changed = asyncio.Condition()

    # --- lifecycle ----------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application(
            middlewares=[
                recording("/mj/", self.requests),
                delaying("/mj/", lambda: self.faults.response_delay),
                self._auth,
                self._submit_faults,
                delaying("/mj/submit/", lambda: self.faults.late_submit_answer, after=True),
            ]
        )
        app.router.add_post("/mj/submit/imagine", self._imagine)
        app.router.add_post("/mj/submit/action", self._only_on(_PLUS, self._action))
        app.router.add_post("/mj/submit/modal", self._only_on(_PLUS, self._modal))
        app.router.add_post("/mj/submit/change", self._only_on(_LEGACY, self._change))
        app.router.add_post("/mj/submit/simple-change", self._only_on(_LEGACY, self._simple_change))
        app.router.add_post("/mj/submit/blend", self._blend)
        app.router.add_post("/mj/submit/describe", self._describe)
        app.router.add_post("/mj/submit/shorten", self._only_on(_PLUS, self._shorten))
        app.router.add_get("/mj/task/{id}/fetch", self._fetch)
        app.router.add_post("/mj/task/list-by-condition", self._list_by_condition)
        app.router.add_post("/mj/task/{id}/cancel", self._only_on(_CSHARP, self._cancel))
        app.router.add_get("/mj/task/{id}/image-seed", self._only_on(_CSHARP, self._image_seed))
        # Java only: C# keeps its accounts behind admin routes and dropped the queue in v10.
        app.router.add_get("/mj/account/list", self._only_on(_LEGACY, self._account_list))
        app.router.add_get("/mj/task/queue", self._only_on(_LEGACY, self._queue))
        app.router.add_get("/images/{id}.png", self._image)
        return app

    @property
    def queue_full_code(self) -> int:
        """The code this flavour answers a full queue with (Java 23, C# 9)."""
        return 23 if self._java else 9

    @property
    def _java(self) -> bool:
        """Plus and open-source are both Spring apps: same auth, errors, codes and empty bodies."""
        return self.flavour != "csharp"

    # --- test helpers -------------------------------------------------------------------------

    @property
    def task_ids(self) -> list[str]:
        """Every task created so far, oldest first."""
        return list(self._tasks)

    def task_json(self, task_id: str) -> dict[str, Any]:
        return self._tasks[task_id].to_json(self.flavour)

    async def wait_for(self, task_id: str, *statuses: str) -> dict[str, Any]:
        """Wait until the task is in one of ``statuses``; its JSON then. Bound it with asyncio.timeout."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._tasks[task_id].status in statuses)
        return self.task_json(task_id)

    # --- middlewares --------------------------------------------------------------------------

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not self.secret or not request.path.startswith("/mj/"):
            return await handler(request)
        if self._java:
            if request.headers.get("mj-api-secret") == self.secret:
                return await handler(request)
            return web.Response(status=401)
        # C# takes the user token from either header.
        if self.secret in (request.headers.get("Authorization"), request.headers.get("Mj-Api-Secret")):
            return await handler(request)
        return web.Response(status=403, text="未登录")

    @web.middleware
    async def _submit_faults(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        fault = self.faults._pop_submit_fault() if request.path.startswith("/mj/submit/") else None
        if fault is None:
            return await handler(request)
        if fault.code is None:
            return self._http_error(fault.status or 500, request.path)
        code = fault.code
        # Open-source Java says what plus says.
        said = _FAULT_DESCRIPTIONS.get(code, {}).get("java" if self._java else "csharp", "")
        description = fault.description or said
        if code == -1:
            return web.json_response(
                {"success": False, "code": -1, "message": description, "timestamp": _iso()}
            )
        properties: dict[str, Any] = {}
        if code == 24:
            body = await request.json()
            properties = {"promptEn": body.get("prompt", ""), "bannedWord": ""}
        return _vo(code, description, properties=properties)

    def _http_error(self, status: int, path: str) -> web.Response:
        if self.flavour == "csharp":
            return web.json_response(
                {"success": False, "code": -1, "message": "操作失败", "timestamp": _iso()}, status=status
            )
        return _spring_error(status, "Internal Server Error", path)

    def _only_on(self, flavours: tuple[Flavour, ...], handler: Handler) -> Handler:
        """``handler`` where this flavour has the route, else what its framework answers without one.

        Decided per request, so a test may switch ``flavour`` on a running fake.
        """

        async def route(request: web.Request) -> web.StreamResponse:
            if self.flavour in flavours:
                return await handler(request)
            if self.flavour == "csharp":
                return web.Response(status=404)  # ASP.NET: no route, empty body
            return _spring_error(404, "Not Found", request.path)

        return route

    # --- submit endpoints ---------------------------------------------------------------------

    async def _imagine(self, request: web.Request) -> web.Response:
        body = await request.json()
        prompt = str(body.get("prompt") or "").strip()
        if not prompt:
            return _vo(4, "prompt不能为空")
        references = body.get("base64Array") or []
        if any(_decode_data_url(item) is None for item in references):
            return _vo(4, "base64格式错误")
        banned = self._banned_word(prompt)
        if banned and self._java:
            return _vo(24, "可能包含敏感词", properties={"promptEn": prompt, "bannedWord": banned})
        task = self._new_task(body, "IMAGINE", prompt, f"/imagine {prompt}", result="grid")
        version = " --niji 6" if task.bot_type == "NIJI_JOURNEY" else " --v 6.1"
        task.final_prompt = prompt if re.search(r"--(v|niji)\b", prompt) else prompt + version
        # C# v10+ accepts a banned prompt and fails the task afterwards.
        task.planned_failure = "可能包含敏感词" if banned else None
        return self._start(task)

    async def _action(self, request: web.Request) -> web.Response:
        body = await request.json()
        parent = self._tasks.get(str(body.get("taskId") or ""))
        custom_id = str(body.get("customId") or "")
        if parent is None:
            return _vo(3, "关联任务不存在或已失效", status=404 if self.flavour == "csharp" else 200)
        if parent.status != "SUCCESS":
            return _vo(4, "关联任务状态错误")
        if not any(b["customId"] == custom_id for b in parent.buttons):
            return _vo(4, "action参数错误")
        if custom_id.startswith("MJ::BOOKMARK::"):
            return _vo(1, "提交成功", result=parent.id, properties=self._instance())
        label = next(b["label"] or b["emoji"] for b in parent.buttons if b["customId"] == custom_id)
        # Plus has no enableRemix; C# honours it (its "account has no Remix" code 4 is not played).
        remix = self.account_remix or (self.flavour == "csharp" and body.get("enableRemix") is True)
        return self._press(body, parent, custom_id, label, remix=remix)

    async def _change(self, request: web.Request) -> web.Response:
        body = await request.json()
        task_id, index = str(body.get("taskId") or ""), body.get("index")
        return self._change_task(body, task_id, body.get("action"), index if isinstance(index, int) else None)

    async def _simple_change(self, request: web.Request) -> web.Response:
        body = await request.json()
        match = _SIMPLE_CHANGE.match(str(body.get("content") or "").strip())
        if match is None:
            return _vo(4, "content参数错误")
        uv, index = match.group("uv"), match.group("index")
        action = "REROLL" if uv is None else ("UPSCALE" if uv.upper() == "U" else "VARIATION")
        return self._change_task(body, match.group("id"), action, int(index) if index else None)

    def _change_task(
        self, body: dict[str, Any], task_id: str, action: Any, index: int | None
    ) -> web.Response:
        """novicezk's /submit/change: the checks in its order, then the button it stands for."""
        if not task_id:
            return _vo(4, "taskId不能为空")
        if action not in get_args(ChangeAction):
            return _vo(4, "action参数错误")
        parent = self._tasks.get(task_id)
        if parent is None:
            return _vo(3, "关联任务不存在或已失效")
        if parent.status != "SUCCESS":
            return _vo(4, "关联任务状态错误")
        if parent.action not in CHANGEABLE_ACTIONS:
            return _vo(4, "关联任务不允许执行变化")
        # The legacy customId this change stands for (re-roll ignores any index it was sent).
        wanted = (action, None if action == "REROLL" else index)
        custom_id = next(
            (b.custom_id for b in grid_buttons(parent.message_hash) if legacy_change(b.custom_id) == wanted),
            None,
        )
        if custom_id is None:
            # The real one sends index 0 or 5 to Discord and the task fails there; refusing is simpler.
            return _vo(4, "index参数错误")
        label = "R" if action == "REROLL" else f"{action[0]}{index}"
        if action == "UPSCALE":
            # novicezk finds the task of the same upscale and answers with it (ReturnCode.EXISTED).
            description = f"/up {parent.id} {label}"
            existing = next((t for t in self._tasks.values() if t.description == description), None)
            if existing is not None:
                properties = {"status": existing.status, "imageUrl": existing.image_url}
                return _vo(21, "任务已存在", result=existing.id, properties=properties)
        return self._press(body, parent, custom_id, label, remix=False)

    def _press(
        self, body: dict[str, Any], parent: _Task, custom_id: str, label: str, *, remix: bool
    ) -> web.Response:
        """Start the task button ``custom_id`` of ``parent`` stands for, or leave it MODAL (code 21).

        ``remix``: Remix is on (account or request), so a remixable button asks for a prompt first.
        """
        rule, match = next((r, m) for r in _ACTIONS if (m := r.pattern.match(custom_id)))
        task = self._new_task(
            body, rule.action, parent.prompt, f"/up {parent.id} {label}", result=rule.result, parent=parent
        )
        task.final_prompt = parent.final_prompt
        index = int(match.group(1)) if match.groups() else 1
        self._set_render(task, rule.result, parent, index)
        modal = rule.modal or ("remix" if remix and rule.remixable else None)
        if modal is None:
            return self._start(task)
        task.status, task.modal = "MODAL", modal
        if modal == "zoom":
            task.final_prompt = f"{parent.final_prompt} --zoom 2"
        elif modal == "inpaint":
            task.final_prompt = ""
        elif modal == "pick":
            task.final_prompt = parent.options[index - 1]
        # A remix offers the parent's full prompt (parameters included) for the member to edit.
        properties = {**self._instance(), "finalPrompt": task.final_prompt, "remix": True}
        return _vo(21, "Waiting for window confirm", result=task.id, properties=properties)

    async def _modal(self, request: web.Request) -> web.Response:
        body = await request.json()
        task = self._tasks.get(str(body.get("taskId") or ""))
        if task is None:
            return _vo(3, "关联任务不存在或已失效", status=404 if self.flavour == "csharp" else 200)
        if task.status != "MODAL":
            return _vo(4, "关联任务状态错误")
        prompt = str(body.get("prompt") or "").strip() or task.final_prompt or task.prompt
        if task.modal == "inpaint" and _decode_data_url(body.get("maskBase64")) is None:
            return _vo(4, "maskBase64 不能为空")
        if task.modal == "zoom" and "--zoom" not in prompt:
            return _vo(4, "自定义变焦需要 --zoom 参数")
        banned = self._banned_word(prompt)
        if banned and self._java:
            return _vo(24, "可能包含敏感词", properties={"promptEn": prompt, "bannedWord": banned})
        task.prompt = task.final_prompt = prompt
        task.planned_failure = "可能包含敏感词" if banned else None
        if task.action == "IMAGINE":
            # A describe/shorten pick is a fresh imagine of the picked prompt.
            task.description = f"/imagine {prompt}"
        if task.action == "IMAGINE" or task.modal == "remix":
            # The grid shows the prompt it was drawn from: the picked or remixed one.
            task.render = self._grid_renderer(prompt, task.id)
        task.modal = None
        return self._start(task)

    async def _blend(self, request: web.Request) -> web.Response:
        body = await request.json()
        uploads = body.get("base64Array") or []
        if not 2 <= len(uploads) <= 5 or any(_decode_data_url(item) is None for item in uploads):
            return _vo(4, "base64List参数错误")
        dimensions = body.get("dimensions") or "SQUARE"
        ratio = {"PORTRAIT": "2:3", "SQUARE": "1:1", "LANDSCAPE": "3:2"}.get(dimensions)
        if ratio is None:
            return _vo(4, "dimensions参数错误")
        task = self._new_task(body, "BLEND", "", "", result="grid")
        task.description = f"/blend {task.id} {len(uploads)}"
        task.final_prompt = " ".join(f"<image {i}>" for i in range(1, len(uploads) + 1)) + f" --ar {ratio}"
        task.render = self._grid_renderer(f"blend of {len(uploads)}", task.id)
        return self._start(task)

    async def _describe(self, request: web.Request) -> web.Response:
        body = await request.json()
        upload = _decode_data_url(body.get("base64"))
        try:
            width, height = images.image_size(upload or b"")
        except ValueError:
            return _vo(4, "base64格式错误")
        task = self._new_task(body, "DESCRIBE", "", "/describe image.png", result="describe")
        task.render = lambda: upload or b""
        task.options = _describe_options(width, height)
        return self._start(task)

    async def _shorten(self, request: web.Request) -> web.Response:
        body = await request.json()
        prompt = str(body.get("prompt") or "").strip()
        if not prompt:
            return _vo(4, "prompt不能为空")
        task = self._new_task(body, "SHORTEN", prompt, f"/shorten {prompt}", result="shorten")
        task.final_prompt = prompt
        task.options = _shorten_options(prompt)
        return self._start(task)

    # --- task endpoints -----------------------------------------------------------------------

    async def _fetch(self, request: web.Request) -> web.Response:
        task = self._tasks.get(request.match_info["id"])
        if task is None:
            # Java serialises null as an empty 200; ASP.NET turns null into 204 No Content.
            return web.Response(status=204 if self.flavour == "csharp" else 200)
        return web.json_response(task.to_json(self.flavour))

    async def _list_by_condition(self, request: web.Request) -> web.Response:
        body = await request.json()
        ids = (body.get("ids") or []) if isinstance(body, dict) else []
        found = [self._tasks[str(i)].to_json(self.flavour) for i in ids if str(i) in self._tasks]
        return web.json_response(found)

    async def _cancel(self, request: web.Request) -> web.Response:
        task = self._tasks.get(request.match_info["id"])
        if task is not None and task.status not in _TERMINAL:
            # trueai marks a cancelled task FAILURE with this reason rather than CANCEL.
            await self._finish(task, "FAILURE", fail_reason="取消任务")
        return web.Response(status=200)

    async def _account_list(self, request: web.Request) -> web.Response:
        """The one Discord account this fake plays, as a DiscordAccount (its token never shown)."""
        account = {
            "id": INSTANCE_ID,
            "channelId": INSTANCE_ID,
            "enable": True,
            "coreSize": self._core_size,
            "queueSize": 10,
            "timeoutMinutes": 5,
        }
        return web.json_response([account])

    async def _queue(self, request: web.Request) -> web.Response:
        """The tasks waiting for a free slot of the account, oldest first."""
        waiting = sorted(
            (t for t in self._tasks.values() if t.status == "SUBMITTED" and t.waiting),
            key=lambda t: t.submit_time,
        )
        return web.json_response([t.to_json(self.flavour) for t in waiting])

    async def _image_seed(self, request: web.Request) -> web.Response:
        """trueai's image-seed: the seed Midjourney DMs for a finished task, as a SubmitResultVO."""
        task = self._tasks.get(request.match_info["id"])
        if task is None:
            return _vo(3, "任务不存在", status=404)
        if task.status != "SUCCESS":
            return _vo(4, "任务状态错误", status=400)
        return _vo(1, "成功", result=task.seed)

    async def _image(self, request: web.Request) -> web.StreamResponse:
        if self.faults.image_override is not None:
            return await self._override_image(request, *self.faults.image_override)
        task = self._tasks.get(request.match_info["id"])
        if task is None or task.render is None:
            raise web.HTTPNotFound()
        png = self._png(task)
        if "progress" in request.query:
            png = images.render_preview(png, int(request.query["progress"]))
        return web.Response(body=png, content_type="image/png")

    async def _override_image(
        self, request: web.Request, body: bytes, content_type: str, repeat: int
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": content_type})
        await response.prepare(request)
        for _ in range(repeat):
            try:
                await response.write(body)
            except ConnectionError:
                break  # the client stopped reading
            self.image_bytes_sent += len(body)
        return response

    # --- task machinery -----------------------------------------------------------------------

    def _new_task(
        self,
        body: dict[str, Any],
        action: str,
        prompt: str,
        description: str,
        *,
        result: str,
        parent: _Task | None = None,
    ) -> _Task:
        # Real ids: currentTimeMillis + 3 digits. Counting up from there keeps them unique.
        self._last_id = max(self._last_id + 1, _now_ms() * 1000 + self._rng.randrange(1000))
        task = _Task(
            id=str(self._last_id),
            action=action,
            prompt=prompt,
            description=description,
            state=str(body.get("state") or ""),
            notify_hook=body.get("notifyHook") or None,
            final_prompt=prompt,
            result=result,
            message_hash=str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
            submit_time=_now_ms(),
            parent_id=parent.id if parent else None,
            bot_type=parent.bot_type if parent else self._bot_type(body),
            seed=str(self._rng.randrange(1, 2**32)),
        )
        task.render = self._grid_renderer(prompt, task.id) if result == "grid" else None
        self._tasks[task.id] = task
        return task

    def _bot_type(self, body: dict[str, Any]) -> str:
        """A new task's bot: plus and C# read ``botType`` (C# also takes "niji"; anything else is
        Midjourney); the open-source proxy has no such field."""
        wanted = str(body.get("botType") or "").upper()
        return (
            "NIJI_JOURNEY" if self.flavour in _PLUS and wanted in ("NIJI_JOURNEY", "NIJI") else "MID_JOURNEY"
        )

    def _grid_renderer(self, prompt: str, seed: str) -> Callable[[], bytes]:
        return lambda: images.render_grid(prompt, seed)

    def _set_render(self, task: _Task, result: str, parent: _Task, index: int) -> None:
        if result == "tile":
            task.render = lambda: images.crop_tile(self._png(parent), index)
        elif result == "enlarge":
            task.render = lambda: images.enlarge(self._png(parent))
        elif result == "describe":
            task.render, task.options = parent.render, parent.options

    def _png(self, task: _Task) -> bytes:
        if task.png is None and task.render is not None:
            task.png = task.render()
        return task.png or b""

    def _banned_word(self, prompt: str) -> str | None:
        words = set(re.findall(r"\w+", prompt.lower()))
        return next((w for w in sorted(self.faults.banned_words) if w.lower() in words), None)

    def _instance(self) -> dict[str, Any]:
        if self.flavour == "csharp":
            return {"discordInstanceId": INSTANCE_ID, "discordChannelId": INSTANCE_ID}
        return {"discordInstanceId": INSTANCE_ID}

    def _start(self, task: _Task) -> web.Response:
        """Queue the task on the fake account and answer its submit (code 1, or 22 when queued)."""
        waiting_ahead = self._active - self._core_size
        self._active += 1
        self.max_active = max(self.max_active, self._active)
        task.status, task.progress = "SUBMITTED", "0%"
        task.planned_failure = task.planned_failure or self.faults._pop_task_failure()
        run = asyncio.create_task(self._run(task, stuck=self.faults._take_stuck()))
        self._runs.add(run)
        run.add_done_callback(self._runs.discard)
        if waiting_ahead < 0:
            return _vo(1, "提交成功", result=task.id, properties=self._instance())
        properties = {**self._instance(), "numberOfQueues": waiting_ahead}
        return _vo(22, f"排队中，前面还有{waiting_ahead}个任务", result=task.id, properties=properties)

    async def _run(self, task: _Task, *, stuck: bool) -> None:
        try:
            await self._publish(task)
            task.waiting = True
            async with self._slots:
                task.waiting = False
                for step in range(1, self.progress_steps + 1):
                    await asyncio.sleep(self.step_seconds)
                    if task.status in _TERMINAL:
                        return
                    if task.planned_failure is not None:
                        await self._finish(task, "FAILURE", fail_reason=task.planned_failure)
                        return
                    percent = step * 100 // (self.progress_steps + 1)
                    task.status, task.progress = "IN_PROGRESS", f"{percent}%"
                    task.start_time = task.start_time or _now_ms()
                    if task.render is not None:
                        task.image_url = f"{self.base_url}/images/{task.id}.png?progress={percent}"
                    await self._publish(task)
                    if stuck:
                        # Holds the account slot forever, like a task whose Discord message vanished.
                        await asyncio.Event().wait()
                await asyncio.sleep(self.step_seconds)
                if task.status not in _TERMINAL:
                    await self._succeed(task)
        finally:
            self._active -= 1

    async def _succeed(self, task: _Task) -> None:
        task.start_time = task.start_time or _now_ms()
        extra = (
            _button(f"MJ::JOB::extra_{n}::1::{task.message_hash}", f"Extra {n}")
            for n in range(1, 1 + self.faults.extra_buttons)
        )
        task.buttons = [*_BUTTONS[task.result](task.message_hash), *extra]
        task.image_url = f"{self.base_url}/images/{task.id}.png" if task.render is not None else None
        if task.image_url and self.faults.expired_images:
            signature = uuid.UUID(int=self._rng.getrandbits(128)).hex * 16
            task.image_url = f"{self.base_url}/images/expired/{task.id}.png?ex=0&is=0&hm={signature}"
        if task.result == "describe":
            task.final_prompt = "\n\n".join(f"{_KEYCAPS[i]} {o}" for i, o in enumerate(task.options))
        elif task.result == "shorten":
            task.final_prompt = _shorten_analysis(task.prompt, task.options)
        await self._finish(task, "SUCCESS")

    async def _finish(self, task: _Task, status: str, *, fail_reason: str | None = None) -> None:
        task.status, task.finish_time = status, _now_ms()
        task.progress = "100%" if status == "SUCCESS" else ""
        task.fail_reason = fail_reason
        await self._publish(task)

    async def _publish(self, task: _Task) -> None:
        """Wake waiters, then push the task to its notifyHook (subject to the hook faults)."""
        async with self._changed:
            self._changed.notify_all()
        if task.notify_hook is None or self.faults.drop_hooks:
            return
        body = task.to_json(self.flavour)
        if self.faults.reorder_hooks and task.status not in _TERMINAL:
            task.held_hooks.append(body)
            return
        bodies = [body, *reversed(task.held_hooks)]
        task.held_hooks.clear()
        for item in bodies:
            for _ in range(2 if self.faults.duplicate_hooks else 1):
                await self._post_hook(task.notify_hook, item)

    async def _post_hook(self, url: str, body: dict[str, Any]) -> None:
        assert self._session is not None
        delivered = False
        try:
            async with self._session.post(url, json=body) as response:
                delivered = response.status < 300
        except (aiohttp.ClientError, TimeoutError) as exc:
            # One attempt, no retry: the real proxies only log a failed callback.
            log.info("notifyHook %s failed: %s", url, type(exc).__name__)
        self.hook_deliveries.append(HookDelivery(url, body, delivered))


def _vo(
    code: int,
    description: str,
    *,
    result: str | None = None,
    properties: dict[str, Any] | None = None,
    status: int = 200,
) -> web.Response:
    body = {"code": code, "description": description, "result": result, "properties": properties or {}}
    return web.json_response(body, status=status)


def _iso() -> str:
    return datetime.now(UTC).isoformat()


def _spring_error(status: int, error: str, path: str) -> web.Response:
    """Spring Boot's default error body: no ``code``, so not a SubmitResultVO."""
    body = {"timestamp": _iso(), "status": status, "error": error, "path": path}
    return web.json_response(body, status=status)


def _describe_options(width: int, height: int) -> list[str]:
    divisor = math.gcd(width, height) or 1
    ratio = f"--ar {width // divisor}:{height // divisor}"
    styles = ("flat colour fields", "a minimalist poster", "abstract geometric tiles", "a sandbox test card")
    return [f"{style}, {width}x{height} image {ratio}" for style in styles]


def _shorten_options(prompt: str) -> list[str]:
    words = prompt.split()
    # Five ever shorter versions, as /shorten offers: keep 100%, 80%… 20% of the words.
    return [" ".join(words[: max(1, math.ceil(len(words) * (5 - k) / 5))]) for k in range(5)]


def _shorten_analysis(prompt: str, options: list[str]) -> str:
    tokens = ", ".join(prompt.split()[:5])
    shortened = "\n".join(f"{_KEYCAPS[i]} {o}" for i, o in enumerate(options))
    return f"**Important tokens**\n{tokens}\n\n**Shortened prompts**\n{shortened}"
