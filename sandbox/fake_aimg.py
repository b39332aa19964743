"""A fake AIMG back-end: the endpoints the bot uses, with AIMG's paths, methods and names.

Shapes follow ``docs/backends/aimg.md``: every answer is ``{"payload": ..., "hasError": false}``
(plus ``metadata`` on paginated lists) and every error is HTTP 200 ``{"payload": null,
"hasError": true, "errorMessage": ..., "errorCode": ...}`` with an HTTP-style code. Where AIMG's
API is silent the fake chooses, and says so here:

* ``GenerationStatus.status`` is ``queued`` → ``processing`` → ``completed`` (or ``failed``);
  ``queuePosition`` is 1-based and only sent while queued; ``ignoredWords`` is a comma-separated
  string (empty when none). A ``progress`` field (0-100, not in AIMG's API) is added while processing
  unless ``report_progress=False``;
* files are served at AIMG's ``GET /getFile?id=``: ``<item>`` is the PNG (a GIF for a video),
  ``<item>-<n>`` a video frame. No session is needed for files, as for any CDN URL;
* sessions: ``TEST_SESSION_ID`` is a signed-in user of tier ``tier``; ``getSelfUser`` without a
  header makes an anonymous session; ``requestOTP`` then ``authenticateUser`` signs a session in
  (the OTP is readable with :meth:`FakeAimg.otp_for`, standing in for the email);
* API2 (``/2/…``) answers AIMG's refusal to users of PRO tier 0. ``enqueueWorkflow`` takes
  the ``parameters`` array and the explicit fields (which stand for their parameters, and win);
  a parameter the template lacks, or a number outside its min/max, is refused. The run's
  parameters (template defaults filled in, the generation seed used) come back in the item's
  ``workflowRunParameters``. Each item of the batch is an ordinary queued item. ``lora`` and
  ``lora_strength`` stand for the ``Lora X`` and ``Lora X Strength`` parameters, X counting
  from 1 (AIMG's "Lora X"), and must be as long as each other; a dropdown parameter takes one
  of its ``dropdownItems`` (or nothing). A run whose item fails is in ``error`` with an
  ``errorMessage`` (:meth:`FakeAimgFaults.fail_next_workflow` chooses it);
* a report keeps its ``reportQueue`` and ``additionalInformation`` (:attr:`FakeItem.reports`).

Items run on their own through one queue served by ``concurrency`` workers. Images are real PNGs
from :mod:`sandbox.images`. Faults live in :attr:`FakeAimg.faults`; every request except
``getFile`` is recorded in :attr:`FakeAimg.requests`.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from bot.backends.aimg import WORKFLOW_FIELDS
from sandbox import images

TEST_SESSION_ID = "5f0c1c53-7a0e-4c34-9a43-3f4f2b1d9e01"
TEST_EMAIL = "bot@sandbox.test"
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
VIDEO_FRAMES = 4
LORAS = ["detail-tweaker", "film-grain", "watercolor"]
REPORT_QUEUES = ["Not Specified", "Illegal content", "Non-consensual content", "Copyright", "Spam"]
SAMPLE_PROMPTS = [
    {"positivePrompt": "a lighthouse on a cliff at dawn, oil painting", "negativePrompt": "blurry"},
    {"positivePrompt": "a red fox in fresh snow, telephoto", "negativePrompt": "cartoon"},
    {"positivePrompt": "a bowl of ramen, studio lighting"},
]


def _parameter(name: str, data_type: str, default: str, description: str, **extra: Any) -> dict[str, Any]:
    """A WorkflowTemplateParameter with every mandatory field; ``extra`` holds
    the optional camelCase ones (min, max, increment, dropdownItems…)."""
    return {
        "name": name,
        "type": "input",
        "dataType": data_type,
        "description": description,
        "defaultValue": default,
        "replaceFromString": f"%{name.upper().replace(' ', '_')}%",
        "isOptional": True,
        "optionName": name,
        "isAlwaysVisible": True,
        "isHidden": False,
    } | extra


def _template(name: str, steps: tuple[int, int, int], *extra: dict[str, Any]) -> dict[str, Any]:
    """A WorkflowTemplate taking prompts, seed, steps (min, max, default), CFG, size and batch size."""
    low, high, default = steps
    size = {"min": "512", "max": "1024", "increment": "64"}
    parameters = [
        _parameter("Positive Prompt", "string", "", "What to generate.", isOptional=False),
        _parameter("Negative Prompt", "string", "", "What to keep out of the image."),
        _parameter("Seed", "number", "-1", "The seed; -1 draws one."),
        _parameter("Steps", "number", str(default), "Steps.", min=str(low), max=str(high), increment="1"),
        _parameter("CFG Scale", "number", "7", "Prompt weight.", min="1", max="12", increment="0.5"),
        _parameter("Width", "number", "512", "Width in pixels.", **size),
        _parameter("Height", "number", "512", "Height in pixels.", **size),
        _parameter("Batch Size", "number", "1", "Items per run.", min="1", max="4", increment="1"),
        *extra,
    ]  # fmt: skip
    files = {"checkpoint": {"fileNames": [f"{name}.safetensors"], "supportFileType": "checkpoint"}}
    return {"name": name, "deployments": ["a2prod"], "parameters": parameters, "workflowTemplateFiles": files}


#: In getAggregatedWorkflowTemplates order.
WORKFLOW_TEMPLATES: list[dict[str, Any]] = [
    _template("txt2img-basic", (10, 40, 20)),
    _template(
        "txt2img-hires",
        (20, 60, 30),
        _parameter("Upscale Factor", "dropdown", "1.5", "How much to enlarge.", dropdownItems=["1.5", "2"]),
        *(
            parameter
            for n in (1, 2)
            for parameter in (
                _parameter(f"Lora {n}", "dropdown", "", "A LoRA.", dropdownItems=LORAS),
                _parameter(
                    f"Lora {n} Strength", "number", "0.8", "Its weight.", min="0", max="2", increment="0.05"
                ),
            )
        ),
    ),
]
_TERMINAL = ("completed", "failed")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_SAMPLERS = ["DPM++ 2M Karras", "Euler a", "DDIM"]


def _model(model_id: str, name: str, **overrides: Any) -> dict[str, Any]:
    """A Model object with every field AIMG lists; ``overrides`` are the camelCase fields."""
    model: dict[str, Any] = {
        "modelID": model_id,
        "name": name,
        "description": f"{name} (sandbox model)",
        "mediaType": "StaticImage",
        "minTier": 0,
        "tier0Concurrent": 2,
        "tier1Concurrent": 4,
        "tier2Concurrent": 8,
        "positiveTokens": [],
        "negativeTokens": [],
        "sampleImages": [],
        "minSteps": 10,
        "maxSteps": 50,
        "allowedWidths": [512, 768],
        "allowedHeights": [512, 768],
        "maxResolution": 512 * 768,
        "defaultResolution": [512, 512],
        "allowedSamplers": _SAMPLERS[:2],
        "defaultSampler": _SAMPLERS[0],
        "minCfgScale": 1,
        "maxCfgScale": 12,
        "supportsVariations": False,
        "registrationWall": False,
        "defaultFaceFix": False,
    }
    return model | overrides


#: In getModels order. f222 and model3 are AIMG's defaults for images and videos.
MODELS: list[dict[str, Any]] = [
    _model("f222", "F222"),
    _model(
        "photoreal",
        "Photoreal",
        supportsVariations=True,
        minSteps=20,
        maxSteps=40,
        allowedWidths=[512, 640, 768],
        allowedHeights=[512, 640, 768],
        maxResolution=640 * 768,
        defaultResolution=[640, 640],
        allowedSamplers=_SAMPLERS,
        minCfgScale=3,
        maxCfgScale=10,
        defaultFaceFix=True,
        wikiURL="https://wiki.sexy.ai/en/ModelGuides",
    ),
    _model(
        "pro-xl",
        "Pro XL",
        minTier=2,
        supportsVariations=True,
        minSteps=25,
        maxSteps=60,
        allowedWidths=[1024],
        allowedHeights=[1024],
        maxResolution=1024 * 1024,
        defaultResolution=[1024, 1024],
    ),
    _model("members", "Members Only", registrationWall=True),
    # A video model lets a tier-0 user run one item at a time.
    _model(
        "model3",
        "Motion",
        mediaType="Video",
        allowedWidths=[512],
        allowedHeights=[512],
        maxSteps=30,
        tier0Concurrent=1,
    ),
]


class _ApiError(Exception):
    """An error the fake answers as AIMG does: HTTP 200 with hasError."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    json: Any
    session: str | None


@dataclass
class FakeAimgFaults:
    """Faults the next requests or items meet. The boolean ones hold while they are set."""

    #: Every request with a session answers "Invalid session" (an expired or revoked session).
    session_invalid: bool = False
    #: generateImage, generateVideo and enqueueWorkflow answer "Not enough credits".
    out_of_credits: bool = False
    #: The same three answer "queue is full".
    queue_full: bool = False
    #: Prompts with one of these words are refused by the NSFW filter.
    banned_words: set[str] = field(default_factory=lambda: {"forbidden"})
    #: Words dropped from prompts and reported in ``ignoredWords``.
    ignored_words: set[str] = field(default_factory=lambda: {"watermark", "signature"})
    #: Seconds every API response waits before being handled (client read timeouts).
    response_delay: float = 0.0
    _failures: int = 0
    _stuck: int = 0
    _workflow_errors: list[str] = field(default_factory=list)

    def fail_next_workflow(self, message: str) -> None:
        """The next workflow run's items end ``failed``, the run in error with ``message``."""
        self._workflow_errors.append(message)

    def fail_next_item(self) -> None:
        """The next item created ends ``failed`` after processing."""
        self._failures += 1

    def stick_next_item(self) -> None:
        """The next item created starts processing and never ends (it holds a worker)."""
        self._stuck += 1

    # The fake draws the one-shot faults when it creates an item.

    def _take_failure(self) -> bool:
        if self._failures:
            self._failures -= 1
            return True
        return False

    def _take_stuck(self) -> bool:
        if self._stuck:
            self._stuck -= 1
            return True
        return False


@dataclass
class FakeUser:
    id: str
    email: str | None
    tier: int = 0
    authenticated: bool = False
    #: The user said they are 18 or older (``isAtLeast18Confirmed``); the back-end remembers it.
    adult_confirmed: bool = False


@dataclass
class FakeReport:
    id: str
    queue: str
    information: str | None


@dataclass
class FakeItem:
    id: str
    owner: FakeUser
    mtype: str
    model_id: str
    params: dict[str, Any]
    ignored_words: list[str]
    created_ms: int
    workflow_id: str | None = None
    workflow_template: str | None = None
    folder_id: str | None = None
    status: str = "queued"
    progress: int = 0
    completed_ms: int | None = None
    likes: set[str] = field(default_factory=set)
    dislikes: set[str] = field(default_factory=set)
    #: By reporting user id.
    reports: dict[str, FakeReport] = field(default_factory=dict)
    #: A workflow item's run parameters (WorkflowRunParameter objects).
    run_parameters: list[dict[str, str]] = field(default_factory=list)
    deleted: bool = False
    fails: bool = False
    stuck: bool = False
    file: bytes | None = None
    frames: list[bytes] = field(default_factory=list)


@dataclass
class _Workflow:
    id: str
    internal_id: str
    template: str
    parameters: list[dict[str, str]]
    items: list[FakeItem]
    start: str
    end: str | None = None
    #: The errorMessage the run reports once an item failed.
    error: str = "An item of the workflow failed."


def _now_ms() -> int:
    return int(time.time() * 1000)


def _iso(ms: int | None = None) -> str:
    return datetime.fromtimestamp((ms or _now_ms()) / 1000, UTC).isoformat().replace("+00:00", "Z")


def _ok(payload: Any, metadata: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"payload": payload, "hasError": False}
    if metadata is not None:
        body["metadata"] = metadata
    return web.json_response(body)


class FakeAimg:
    def __init__(
        self,
        *,
        tier: int = 1,
        step_seconds: float = 0.02,
        progress_steps: int = 3,
        concurrency: int = 1,
        report_progress: bool = True,
        seed: int = 0,
    ) -> None:
        self.step_seconds = step_seconds
        self.progress_steps = progress_steps
        self.report_progress = report_progress
        self.faults = FakeAimgFaults()
        self.requests: list[RecordedRequest] = []
        self.items: dict[str, FakeItem] = {}
        self._rng = random.Random(seed)
        self._concurrency = concurrency
        self._users: dict[str, FakeUser] = {}
        self._sessions: dict[str, FakeUser] = {}
        self._otps: dict[str, str] = {}
        self._workflows: dict[str, _Workflow] = {}
        self._waiting: list[FakeItem] = []
        self._last_ms = 0
        self._changed = asyncio.Condition()
        self._workers: list[asyncio.Task[None]] = []
        self._runner: web.AppRunner | None = None
        self._base_url = ""
        self._sessions[TEST_SESSION_ID] = self._user_for(TEST_EMAIL, tier)

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application(middlewares=[self._record, self._delay, self._errors])
        routes: list[tuple[str, str, Callable[[web.Request], Coroutine[Any, Any, web.Response]]]] = [
            ("GET", "/getSelfUser", self._get_self_user),
            ("POST", "/requestOTP", self._request_otp),
            ("POST", "/authenticateUser", self._authenticate_user),
            ("POST", "/signOutUser", self._sign_out_user),
            ("POST", "/generateImage", self._generate_image),
            ("POST", "/generateVideo", self._generate_video),
            ("GET", "/getItemStatus", self._get_item_status),
            ("GET", "/getItem", self._get_item),
            ("GET", "/getItemDetails", self._get_item_details),
            ("GET", "/getModels", self._get_models),
            ("GET", "/getQueuesLength", self._get_queues_length),
            ("GET", "/getSamplePrompts", self._get_sample_prompts),
            ("GET", "/getMyCreations", self._get_my_creations),
            ("POST", "/likeItems", self._like_items),
            ("POST", "/unlikeItems", self._unlike_items),
            ("POST", "/dislikeItems", self._dislike_items),
            ("POST", "/undislikeItems", self._undislike_items),
            ("DELETE", "/deleteItems", self._delete_items),
            ("POST", "/reportItems", self._report_items),
            ("GET", "/getReportQueues", self._get_report_queues),
            ("GET", "/2/getAggregatedWorkflowTemplates", self._get_workflow_templates),
            ("POST", "/2/enqueueWorkflow", self._enqueue_workflow),
            ("GET", "/2/getWorkflowStatus", self._get_workflow_status),
            ("GET", "/getFile", self._get_file),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, handler)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        self._base_url = f"http://{bound_host}:{bound_port}"
        self._workers = [asyncio.create_task(self._work()) for _ in range(self._concurrency)]

    async def stop(self) -> None:
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        if not self._base_url:
            raise RuntimeError("FakeAimg is not started")
        return self._base_url

    # --- test helpers -------------------------------------------------------------------------

    def add_session(self, *, email: str | None = None, tier: int = 0) -> str:
        """A new session id: signed in as ``email`` (created with ``tier``), or anonymous."""
        session_id = self._new_uuid()
        self._sessions[session_id] = self._user_for(email, tier) if email else self._anonymous()
        return session_id

    def otp_for(self, email: str) -> str | None:
        """The OTP "emailed" by requestOTP, if one is pending."""
        return self._otps.get(email)

    def status_json(self, item_id: str) -> dict[str, Any]:
        return self._status(self.items[item_id])

    async def wait_for(self, item_id: str, *statuses: str) -> dict[str, Any]:
        """Wait until the item is in one of ``statuses``; its GenerationStatus then."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.items[item_id].status in statuses)
        return self.status_json(item_id)

    def count(self, path: str, method: str | None = None) -> int:
        return sum(1 for r in self.requests if r.path == path and method in (None, r.method))

    # --- middlewares --------------------------------------------------------------------------

    @web.middleware
    async def _record(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path != "/getFile":
            body: Any = None
            if request.can_read_body:
                try:
                    body = await request.json()
                except ValueError:
                    body = await request.text()
            self.requests.append(
                RecordedRequest(
                    request.method,
                    request.path,
                    dict(request.query),
                    body,
                    request.headers.get("X-Session-ID"),
                )
            )
        return await handler(request)

    @web.middleware
    async def _delay(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self.faults.response_delay and request.path != "/getFile":
            await asyncio.sleep(self.faults.response_delay)
        return await handler(request)

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except _ApiError as exc:
            # AIMG's error shape (docs/backends/aimg.md): HTTP 200, hasError, payload present but null.
            body = {"payload": None, "hasError": True, "errorMessage": exc.message, "errorCode": exc.code}
            return web.json_response(body)

    # --- sessions and users -------------------------------------------------------------------

    def _new_uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _user_for(self, email: str, tier: int = 0) -> FakeUser:
        user = next((u for u in self._users.values() if u.email == email), None)
        if user is None:
            user = FakeUser(id=self._new_uuid(), email=email, tier=tier, authenticated=True)
            self._users[user.id] = user
        return user

    def _anonymous(self) -> FakeUser:
        user = FakeUser(id=self._new_uuid(), email=None)
        self._users[user.id] = user
        return user

    def _session_id(self, request: web.Request) -> str:
        session_id = request.headers.get("X-Session-ID", "")
        if not _UUID.match(session_id):
            raise _ApiError("The X-Session-ID header must be a valid UUID.", 400)
        if self.faults.session_invalid or session_id not in self._sessions:
            raise _ApiError("Invalid session: please sign in again.", 401)
        return session_id

    def _user(self, request: web.Request) -> FakeUser:
        return self._sessions[self._session_id(request)]

    def _self_user(self, session_id: str) -> dict[str, Any]:
        user = self._sessions[session_id]
        owned = [i for i in self.items.values() if i.owner is user and not i.deleted]
        return {
            "sessionID": session_id,
            "userID": user.id,
            "email": user.email or "",
            "username": (user.email or "guest").split("@")[0],
            "isAuthenticated": user.authenticated,
            "isAtLeast18Confirmed": user.adult_confirmed,
            "tier": user.tier,
            "merchantProcessor": "admin" if user.tier else "none",
            "subscriptions": [],
            "itemCount": len(owned),
            "rootFolderItemCount": sum(1 for i in owned if i.folder_id is None),
        }

    async def _get_self_user(self, request: web.Request) -> web.Response:
        if "X-Session-ID" in request.headers:
            session_id = self._session_id(request)
        else:
            # Without the header AIMG creates a session and returns it (docs/backends/aimg.md).
            session_id = self._new_uuid()
            self._sessions[session_id] = self._anonymous()
        return _ok(self._self_user(session_id))

    async def _request_otp(self, request: web.Request) -> web.Response:
        self._session_id(request)
        email = _text(await _body(request), "email")
        self._otps[email] = f"{self._rng.randrange(10**6):06d}"
        return _ok({"success": True, "message": f"A one-time password was sent to {email}."})

    async def _authenticate_user(self, request: web.Request) -> web.Response:
        session_id = self._session_id(request)
        body = await _body(request)
        email, otp = _text(body, "email"), _text(body, "otp")
        if self._otps.get(email) != otp:
            raise _ApiError("Invalid or expired OTP.", 400)
        del self._otps[email]  # an OTP can only be used once
        user = self._sessions[session_id] = self._user_for(email)
        user.adult_confirmed = user.adult_confirmed or body.get("isAtLeast18Confirmed") is True
        return _ok(self._self_user(session_id))

    async def _sign_out_user(self, request: web.Request) -> web.Response:
        existed = self._sessions.pop(self._session_id(request), None) is not None
        return _ok({"success": existed, "message": "Signed out."})

    # --- generation ---------------------------------------------------------------------------

    def _check_can_generate(self, prompt: str) -> None:
        if self.faults.out_of_credits:
            raise _ApiError("Not enough credits to generate. Upgrade your plan to continue.", 402)
        if self.faults.queue_full:
            raise _ApiError("The generation queue is full, please try again later.", 503)
        if not prompt.strip():
            raise _ApiError("prompt is required.", 400)
        words = set(re.findall(r"\w+", prompt.lower()))
        banned = sorted(w for w in self.faults.banned_words if w.lower() in words)
        if banned:
            raise _ApiError(f"Your prompt contains banned words (NSFW filter): {', '.join(banned)}", 400)

    def _model_for(self, model_id: str, user: FakeUser, *, video: bool) -> dict[str, Any]:
        model = next((m for m in MODELS if m["modelID"] == model_id), None)
        if model is None:
            raise _ApiError(f"Invalid modelName: {model_id!r} is not an available model.", 400)
        if (model["mediaType"] == "Video") != video:
            kind = "videos" if video else "images"
            raise _ApiError(f"Model {model_id} cannot generate {kind}.", 400)
        if model["registrationWall"] and not user.authenticated:
            raise _ApiError(f"Please sign up to use the model {model['name']}.", 401)
        if user.tier < model["minTier"]:
            raise _ApiError(f"The model {model['name']} requires PRO tier {model['minTier']}.", 403)
        active = sum(
            1
            for i in self.items.values()
            if i.owner is user and i.model_id == model_id and i.status not in _TERMINAL
        )
        limit = model[f"tier{min(user.tier, 2)}Concurrent"]
        if active >= limit:
            raise _ApiError(f"Too many concurrent generations with this model (limit {limit}).", 429)
        return model

    def _filtered(self, prompt: str) -> tuple[str, list[str]]:
        ignored = sorted(
            w for w in self.faults.ignored_words if re.search(rf"\b{re.escape(w)}\b", prompt, re.I)
        )
        for word in ignored:
            prompt = re.sub(rf"\s*\b{re.escape(word)}\b", "", prompt, flags=re.I)
        return prompt.strip(), ignored

    async def _generate_image(self, request: web.Request) -> web.Response:
        user = self._user(request)
        body = await _body(request)
        prompt = str(body.get("prompt") or "")
        self._check_can_generate(prompt)
        model = self._model_for(str(body.get("modelName") or "f222"), user, video=False)
        params = {
            "prompt": prompt,
            "negprompt": str(body.get("negprompt") or ""),
            "steps": _number(body, "steps", 20),
            "seed": _number(body, "seed", self._rng.randrange(2**32)),
            "subseed": _number(body, "subseed", 0),
            "subseed_strength": _number(body, "subseed_strength", 0),
            "width": _number(body, "width", model["defaultResolution"][0]),
            "height": _number(body, "height", model["defaultResolution"][1]),
            "sampler": str(body.get("sampler") or model["defaultSampler"]),
            "cfgscale": _number(body, "cfgscale", 7),
            "restoreFaces": bool(body.get("restoreFaces", model["defaultFaceFix"])),
        }
        _check_params(model, params)
        item = await self._new_item(user, "image", model["modelID"], params, folder_id=body.get("folderID"))
        return _ok(self._status(item))

    async def _generate_video(self, request: web.Request) -> web.Response:
        user = self._user(request)
        body = await _body(request)
        prompt = str(body.get("prompt") or "")
        self._check_can_generate(prompt)
        model = self._model_for(str(body.get("modelName") or "model3"), user, video=True)
        params = {
            "prompt": prompt,
            "negprompt": "",
            "steps": _number(body, "steps", 20),
            "seed": _number(body, "seed", self._rng.randrange(2**32)),
            "subseed": 0,
            "subseed_strength": 0,
            "width": model["defaultResolution"][0],
            "height": model["defaultResolution"][1],
            "sampler": model["defaultSampler"],
            "cfgscale": 7,
            "restoreFaces": bool(body.get("restoreFaces", False)),
        }
        _check_params(model, params)
        item = await self._new_item(user, "video", model["modelID"], params, folder_id=body.get("folderID"))
        return _ok(self._status(item))

    def _stamp(self) -> int:
        """A strictly increasing epoch-ms, so pagination by timestamp never ties."""
        self._last_ms = max(self._last_ms + 1, _now_ms())
        return self._last_ms

    async def _new_item(
        self,
        user: FakeUser,
        mtype: str,
        model_id: str,
        params: dict[str, Any],
        *,
        folder_id: Any = None,
        workflow: tuple[str, str] | None = None,
    ) -> FakeItem:
        prompt, ignored = self._filtered(params["prompt"])
        item = FakeItem(
            id=self._new_uuid(),
            owner=user,
            mtype=mtype,
            model_id=model_id,
            params=params | {"prompt": prompt},
            ignored_words=ignored,
            created_ms=self._stamp(),
            folder_id=str(folder_id) if folder_id else None,
            workflow_id=workflow[0] if workflow else None,
            workflow_template=workflow[1] if workflow else None,
            fails=self.faults._take_failure(),
            stuck=self.faults._take_stuck(),
        )
        self.items[item.id] = item
        self._waiting.append(item)
        await self._wake()
        return item

    async def _wake(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _work(self) -> None:
        while True:
            async with self._changed:
                await self._changed.wait_for(lambda: bool(self._waiting))
                item = self._waiting.pop(0)
            await self._process(item)

    async def _process(self, item: FakeItem) -> None:
        item.status = "processing"
        await self._wake()
        for step in range(1, self.progress_steps + 1):
            await asyncio.sleep(self.step_seconds)
            item.progress = step * 100 // (self.progress_steps + 1)
            await self._wake()
            if item.stuck:
                await asyncio.Event().wait()
        await asyncio.sleep(self.step_seconds)
        if item.fails:
            item.status = "failed"
        else:
            item.status, item.progress, item.completed_ms = "completed", 100, self._stamp()
        await self._wake()

    # --- item views ---------------------------------------------------------------------------

    def _file_url(self, file_id: str) -> str:
        return f"{self.base_url}/getFile?id={file_id}"

    def _status(self, item: FakeItem) -> dict[str, Any]:
        """A GenerationStatus object."""
        status: dict[str, Any] = {
            "imageID": item.id,
            "status": item.status,
            "ignoredWords": ", ".join(item.ignored_words),
            "mtype": item.mtype,
        }
        if item.folder_id:
            status["folderID"] = item.folder_id
        if item.status == "queued":
            status["queuePosition"] = self._waiting.index(item) + 1
        if item.status == "processing" and self.report_progress:
            status["progress"] = item.progress
        if item.status == "completed":
            status["url"] = self._file_url(item.id)
            if item.mtype == "video":
                status["frames"] = [
                    {
                        "frameCount": VIDEO_FRAMES,
                        "frameNumber": n,
                        "frameUrl": self._file_url(f"{item.id}-{n}"),
                    }
                    for n in range(VIDEO_FRAMES)
                ]
        return status

    def _image(self, item: FakeItem, viewer: FakeUser) -> dict[str, Any]:
        """An Image object, as ``viewer`` sees it."""
        model = next(m for m in MODELS if m["modelID"] == item.model_id)
        image: dict[str, Any] = {
            "id": item.id,
            "userID": item.owner.id,
            "url": self._file_url(item.id) if item.status == "completed" else "",
            "viewCount": 0,
            "likeCount": len(item.likes),
            "dislikeCount": len(item.dislikes),
            "mtype": item.mtype,
            "mediaType": model["mediaType"],
            "tags": [],
            "isLiked": viewer.id in item.likes,
            "isDisliked": viewer.id in item.dislikes,
            "isPublic": False,
            "isPubliclyVisible": False,
            "folderID": item.folder_id,
        }
        if item.workflow_id:
            image["batchID"] = item.workflow_id
        if item.completed_ms is not None:
            image["completedDate"] = item.completed_ms
            image["completedTimestamp"] = _iso(item.completed_ms)
        if viewer is item.owner:
            image["publicApprovalStatus"] = "none"
        return image

    def _image_info(self, item: FakeItem, viewer: FakeUser) -> dict[str, Any]:
        """An ImageInfo object: the Image plus how it was made."""
        model = next(m for m in MODELS if m["modelID"] == item.model_id)
        info = self._image(item, viewer) | {
            "username": (item.owner.email or "guest").split("@")[0],
            "modelName": model["name"],
            "modelID": item.model_id,
            "generatorVersion": "2" if item.workflow_id else "1",
            "lora": [],
            "lora_strength": [],
            **item.params,
        }
        if item.workflow_template:
            info["workflowTemplateName"] = item.workflow_template
            info["workflowRunParameters"] = item.run_parameters
        return info

    def _visible(self, item_id: str) -> FakeItem:
        item = self.items.get(item_id)
        if item is None or item.deleted:
            raise _ApiError("Item not found.", 404)
        return item

    async def _get_item_status(self, request: web.Request) -> web.Response:
        user = self._user(request)
        item = self._visible(request.query.get("imageID", ""))
        if item.owner is not user:
            raise _ApiError("Item not found.", 404)
        return _ok(self._status(item))

    async def _get_item(self, request: web.Request) -> web.Response:
        user = self._user(request)
        return _ok(self._image(self._visible(request.query.get("imageID", "")), user))

    async def _get_item_details(self, request: web.Request) -> web.Response:
        user = self._user(request)
        return _ok(self._image_info(self._visible(request.query.get("imageID", "")), user))

    async def _get_file(self, request: web.Request) -> web.Response:
        match = re.fullmatch(r"(?P<item>[0-9a-f-]{36})(?:-(?P<frame>\d+))?", request.query.get("id", ""))
        item = self.items.get(match.group("item")) if match else None
        if match is None or item is None or item.status != "completed":
            raise web.HTTPNotFound()
        if match.group("frame") is not None:
            frames = self._frames(item)
            index = int(match.group("frame"))
            if index >= len(frames):
                raise web.HTTPNotFound()
            return web.Response(body=frames[index], content_type="image/png")
        if item.file is None:
            item.file = images.animate(self._frames(item)) if item.mtype == "video" else self._render(item)
        return web.Response(
            body=item.file, content_type="image/gif" if item.mtype == "video" else "image/png"
        )

    def _render(self, item: FakeItem, label: str = "") -> bytes:
        params = item.params
        label = label or f"seed {params['seed']}"
        if params["subseed_strength"]:
            label += f" sub {params['subseed']}@{params['subseed_strength']}"
        return images.render_image(
            params["prompt"], str(params["seed"]), params["width"], params["height"], label
        )

    def _frames(self, item: FakeItem) -> list[bytes]:
        if item.mtype != "video":
            return []
        if not item.frames:
            item.frames = [self._render(item, f"frame {n + 1}/{VIDEO_FRAMES}") for n in range(VIDEO_FRAMES)]
        return item.frames

    # --- models and service info --------------------------------------------------------------

    async def _get_models(self, request: web.Request) -> web.Response:
        self._session_id(request)
        wanted = _csv(request.query.get("modelIDs"))
        return _ok([m for m in MODELS if not wanted or m["modelID"] in wanted])

    async def _get_queues_length(self, request: web.Request) -> web.Response:
        self._session_id(request)
        wanted = _csv(request.query.get("modelIDs"))
        queues = []
        for model in MODELS:
            if wanted and model["modelID"] not in wanted:
                continue
            waiting = [i for i in self._waiting if i.model_id == model["modelID"]]
            # PRO users' items wait in the priority ("-p1-") queue.
            for priority in (0, 1):
                length = sum(1 for i in waiting if (i.owner.tier > 0) == bool(priority))
                queue_id = f"{model['modelID']}-p{priority}-queue"
                queues.append({"modelID": model["modelID"], "queueID": queue_id, "queueLength": length})
        return _ok(queues)

    async def _get_sample_prompts(self, request: web.Request) -> web.Response:
        self._session_id(request)
        if request.query.get("randomOne") == "true":
            return _ok([self._rng.choice(SAMPLE_PROMPTS)])
        return _ok(SAMPLE_PROMPTS)

    # --- item actions -------------------------------------------------------------------------

    async def _get_my_creations(self, request: web.Request) -> web.Response:
        user = self._user(request)
        query = request.query
        limit = _query_int(query, "limit", DEFAULT_LIMIT)
        if not 1 <= limit <= MAX_LIMIT:
            raise _ApiError(f"limit must be between 1 and {MAX_LIMIT}.", 400)
        skip = _query_int(query, "skipCount", 0)
        index = _query_int(query, "paginationIndex", 0)
        reverse = query.get("reversePagination") == "true"
        owned = [i for i in self.items.values() if i.owner is user and not i.deleted and i.completed_ms]
        mine = [
            i
            for i in owned
            if query.get("mtype") in (None, i.mtype)
            and query.get("folderID") in (None, i.folder_id, "root" if i.folder_id is None else None)
        ]
        mine.sort(key=lambda i: i.completed_ms or 0, reverse=not reverse)
        if index:
            mine = [
                i
                for i in mine
                if ((i.completed_ms or 0) > index if reverse else (i.completed_ms or 0) < index)
            ]
        mine = mine[skip:]
        page = mine[:limit]
        more = len(mine) > limit
        metadata = {
            "paginationIndex": str(index),
            "nextPaginationIndex": str(page[-1].completed_ms) if more else None,
            "reversePagination": reverse,
            "skipCount": skip,
            "limit": limit,
            "count": len(page),
            "totalCount": len(owned),
        }
        return _ok([self._image(i, user) for i in page], metadata)

    async def _feedback(
        self, request: web.Request, apply: Callable[[FakeItem, str], str | None]
    ) -> web.Response:
        """likeItems and friends: ``apply`` changes one item, or says why it could not."""
        user = self._user(request)
        ids = _ids(await _body(request), "imageIDs")
        outcomes = []
        for item_id in ids:
            item = self.items.get(item_id)
            problem = "Item not found." if item is None or item.deleted else apply(item, user.id)
            outcomes.append({"id": item_id, "success": problem is None, "message": problem or ""})
        return _ok(outcomes)

    async def _like_items(self, request: web.Request) -> web.Response:
        def like(item: FakeItem, user_id: str) -> str | None:
            if user_id in item.likes:
                return "Item already liked."
            item.likes.add(user_id)
            item.dislikes.discard(user_id)  # AIMG: liking removes a dislike
            return None

        return await self._feedback(request, like)

    async def _unlike_items(self, request: web.Request) -> web.Response:
        def unlike(item: FakeItem, user_id: str) -> str | None:
            if user_id not in item.likes:
                return "Item is not liked."
            item.likes.discard(user_id)
            return None

        return await self._feedback(request, unlike)

    async def _dislike_items(self, request: web.Request) -> web.Response:
        def dislike(item: FakeItem, user_id: str) -> str | None:
            if user_id in item.dislikes:
                return "Item already disliked."
            item.dislikes.add(user_id)
            item.likes.discard(user_id)  # AIMG: disliking removes a like
            return None

        return await self._feedback(request, dislike)

    async def _undislike_items(self, request: web.Request) -> web.Response:
        def undislike(item: FakeItem, user_id: str) -> str | None:
            if user_id not in item.dislikes:
                return "Item is not disliked."
            item.dislikes.discard(user_id)
            return None

        return await self._feedback(request, undislike)

    async def _delete_items(self, request: web.Request) -> web.Response:
        user = self._user(request)
        owner_id = request.query.get("userID")
        if owner_id is not None:
            # Deleting a whole library: own library only, and PRO tier above 2 (docs/backends/aimg.md).
            if owner_id != user.id or user.tier <= 2:
                raise _ApiError("Deleting all Items requires PRO tier 3 or more.", 403)
            ids = [i.id for i in self.items.values() if i.owner is user and not i.deleted]
        else:
            ids = _csv(request.query.get("imageIDs"))
            if not ids:
                raise _ApiError("imageIDs or userID is required.", 400)
        outcomes = []
        for item_id in ids:
            item = self.items.get(item_id)
            if item is None or item.deleted:
                outcomes.append({"id": item_id, "success": False, "message": "Item not found."})
            elif item.owner is not user:
                outcomes.append(
                    {"id": item_id, "success": False, "message": "Item does not belong to the current User."}
                )
            else:
                item.deleted = True
                outcomes.append({"id": item_id, "success": True, "message": ""})
        return _ok(outcomes)

    async def _report_items(self, request: web.Request) -> web.Response:
        user = self._user(request)
        body = await _body(request)
        ids = _ids(body, "itemIds")
        queue = body.get("reportQueue") or REPORT_QUEUES[0]
        if queue not in REPORT_QUEUES:
            raise _ApiError(f"Invalid reportQueue {queue!r}.", 400)
        outcomes = []
        for item_id in ids:
            item = self.items.get(item_id)
            outcome: dict[str, Any] = {"id": item_id, "reportId": None, "success": False}
            if item is None or item.deleted:
                outcome["message"] = "Item not found."
            elif user.id in item.reports:
                outcome["message"] = "Item already reported."
            else:
                information = body.get("additionalInformation")
                report = FakeReport(self._new_uuid(), queue, str(information) if information else None)
                item.reports[user.id] = report
                outcome |= {"reportId": report.id, "success": True, "message": ""}
            outcomes.append(outcome)
        return _ok(outcomes)

    async def _get_report_queues(self, request: web.Request) -> web.Response:
        self._session_id(request)
        return _ok(REPORT_QUEUES)

    # --- API2 workflows -----------------------------------------------------------------------

    def _api2_user(self, request: web.Request) -> FakeUser:
        """API2 endpoints serve signed-in users whose PRO tier is above 0 only (docs/backends/aimg.md)."""
        user = self._user(request)
        if user.tier <= 0 or not user.authenticated:
            raise _ApiError("API2 endpoints can only be used with a PRO tier higher than 0.", 403)
        return user

    async def _get_workflow_templates(self, request: web.Request) -> web.Response:
        self._api2_user(request)
        wanted = _csv(request.query.get("workflowTemplateNames"))
        return _ok([t for t in WORKFLOW_TEMPLATES if not wanted or t["name"] in wanted])

    async def _enqueue_workflow(self, request: web.Request) -> web.Response:
        user = self._api2_user(request)
        body = await _body(request)
        name = str(body.get("workflowTemplateName") or "")
        if not name:
            raise _ApiError("workflowTemplateName is required.", 400)
        template = next((t for t in WORKFLOW_TEMPLATES if t["name"] == name), None)
        if template is None:
            raise _ApiError(f"Workflow template {name!r} not found.", 404)
        given = {
            str(p.get("name")): str(p.get("value"))
            for p in body.get("parameters") or []
            if isinstance(p, dict)
        }
        # The explicit fields stand for their parameters (docs/backends/aimg.md) and win over the array.
        given |= {
            param: _stringified(body[key])
            for key, param in WORKFLOW_FIELDS.items()
            if body.get(key) is not None
        }
        given |= _loras(body)
        known = {p["name"]: p for p in template["parameters"]}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise _ApiError(f"Workflow template {name!r} has no parameter {', '.join(unknown)}.", 400)
        for param, value in given.items():
            _check_parameter(known[param], value)
        run = {param: given.get(param, p["defaultValue"]) for param, p in known.items()}
        self._check_can_generate(run["Positive Prompt"])
        workflow = _Workflow(
            id=self._new_uuid(),
            internal_id=uuid.UUID(int=self._rng.getrandbits(96)).hex[:24],
            template=name,
            parameters=[{"name": n, "value": v} for n, v in given.items()],
            items=[],
            start=_iso(),
        )
        error = self.faults._workflow_errors.pop(0) if self.faults._workflow_errors else None
        if error is not None:
            workflow.error = error
        for _ in range(int(float(run["Batch Size"]))):
            seed = int(float(run["Seed"]))
            params = {
                "prompt": run["Positive Prompt"],
                "negprompt": run["Negative Prompt"],
                "steps": int(float(run["Steps"])),
                "seed": seed if seed >= 0 else self._rng.randrange(2**32),
                "subseed": 0,
                "subseed_strength": 0,
                "width": int(float(run["Width"])),
                "height": int(float(run["Height"])),
                "sampler": _SAMPLERS[0],
                "cfgscale": float(run["CFG Scale"]),
                "restoreFaces": False,
            }
            item = await self._new_item(user, "image", "f222", params, workflow=(workflow.id, name))
            item.fails = item.fails or error is not None  # read when its processing ends
            item.run_parameters = [
                {"name": n, "value": v} for n, v in (run | {"Seed": str(params["seed"])}).items()
            ]
            workflow.items.append(item)
        self._workflows[workflow.id] = workflow
        return _ok({"itemIds": [i.id for i in workflow.items], "workflowId": workflow.id})

    def _workflow_state(self, workflow: _Workflow) -> dict[str, Any]:
        """A WorkflowStateObject (``runParamaters`` is AIMG's spelling)."""
        started = any(i.status != "queued" for i in workflow.items)
        complete = all(i.status in _TERMINAL for i in workflow.items)
        error = any(i.status == "failed" for i in workflow.items)
        if complete and workflow.end is None:
            workflow.end = _iso()
        outputs = [
            {
                "fileName": f"{item.id}.png",
                "downloadURL": self._file_url(item.id),
                "isMainOutput": index == 0,
                "height": item.params["height"],
                "width": item.params["width"],
                "type": "image/png",
            }
            for index, item in enumerate(workflow.items)
            if item.status == "completed"
        ]
        return {
            "_id": workflow.internal_id,
            "publicId": workflow.id,
            "runParamaters": {
                "publicId": None,
                "workflowTemplateName": workflow.template,
                "parameters": workflow.parameters,
            },
            "isStarted": started,
            "isComplete": complete,
            "isError": error,
            "errorMessage": workflow.error if error else None,
            "outputFiles": outputs,
            "log": [],
            "state": "error" if error else "completed" if complete else "running",
            "startTime": workflow.start,
            "endTime": workflow.end,
            "itemIds": [i.id for i in workflow.items],
        }

    async def _get_workflow_status(self, request: web.Request) -> web.Response:
        user = self._api2_user(request)
        single = request.query.get("workflowId")
        ids = [single] if single else _csv(request.query.get("workflowIds"))
        if not ids:
            raise _ApiError("workflowId or workflowIds is required.", 400)
        states = []
        for workflow_id in ids:
            workflow = self._workflows.get(workflow_id)
            if workflow is None or workflow.items[0].owner is not user:
                raise _ApiError(f"Workflow {workflow_id} not found.", 404)
            states.append(self._workflow_state(workflow))
        return _ok(states[0] if single else states)


# --- request helpers --------------------------------------------------------------------------


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise _ApiError("The request body must be a JSON object.", 400) from None
    if not isinstance(body, dict):
        raise _ApiError("The request body must be a JSON object.", 400)
    return body


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise _ApiError(f"{name} is required.", 400)
    return value


def _number(body: dict[str, Any], name: str, default: Any) -> Any:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _ApiError(f"{name} must be a number.", 400)
    return value


def _stringified(value: Any) -> str:
    """A WorkflowRunParameter's value: a string whatever the parameter's type (docs/backends/aimg.md)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _loras(body: dict[str, Any]) -> dict[str, str]:
    """The ``Lora X`` and ``Lora X Strength`` parameters the explicit ``lora`` and
    ``lora_strength`` arrays stand for."""
    names, strengths = body.get("lora") or [], body.get("lora_strength") or []
    if not isinstance(names, list) or not isinstance(strengths, list):
        raise _ApiError("lora and lora_strength must be arrays.", 400)
    if names and strengths and len(names) != len(strengths):
        raise _ApiError("lora and lora_strength must have the same length.", 400)
    loras = {f"Lora {n}": str(name) for n, name in enumerate(names, start=1)}
    return loras | {f"Lora {n} Strength": _stringified(s) for n, s in enumerate(strengths, start=1)}


def _check_parameter(parameter: dict[str, Any], value: str) -> None:
    """A number parameter's min and max and a dropdown's items, as a workflow engine would
    enforce them."""
    items = parameter.get("dropdownItems")
    if parameter["dataType"] == "dropdown" and items and value and value not in items:
        raise _ApiError(f"{parameter['name']} must be one of {', '.join(items)}.", 400)
    if parameter["dataType"] != "number":
        return
    try:
        number = float(value)
    except ValueError:
        raise _ApiError(f"{parameter['name']} must be a number.", 400) from None
    low, high = parameter.get("min"), parameter.get("max")
    if (low is not None and number < float(low)) or (high is not None and number > float(high)):
        raise _ApiError(f"{parameter['name']} must be between {low} and {high}.", 400)


def _ids(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise _ApiError(f"{name} must be a non-empty array of strings.", 400)
    return value


def _csv(value: str | None) -> list[str]:
    return [part for part in (value or "").split(",") if part]


def _query_int(query: Any, name: str, default: int) -> int:
    value = query.get(name)
    if value is None:
        return default
    if not str(value).isdigit():
        raise _ApiError(f"{name} must be a stringified integer.", 400)
    return int(value)


def _check_params(model: dict[str, Any], params: dict[str, Any]) -> None:
    """The model's limits, as generateImage enforces them."""
    name = model["name"]
    if not model["minSteps"] <= params["steps"] <= model["maxSteps"]:
        raise _ApiError(f"steps must be between {model['minSteps']} and {model['maxSteps']} for {name}.", 400)
    low, high = max(1, model["minCfgScale"]), min(12, model["maxCfgScale"])
    if not low <= params["cfgscale"] <= high:
        raise _ApiError(f"cfgscale must be between {low} and {high} for {name}.", 400)
    if params["width"] not in model["allowedWidths"] or params["height"] not in model["allowedHeights"]:
        raise _ApiError(f"{params['width']}x{params['height']} is not an allowed size for {name}.", 400)
    if params["width"] * params["height"] > model["maxResolution"]:
        raise _ApiError(f"The resolution is above the maximum of {model['maxResolution']} pixels.", 400)
    if params["sampler"] not in model["allowedSamplers"]:
        raise _ApiError(f"sampler {params['sampler']!r} is not allowed for {name}.", 400)
    if not 0 <= params["subseed_strength"] <= 1:
        raise _ApiError("subseed_strength must be between 0 and 1.", 400)
    if params["subseed_strength"] and not model["supportsVariations"]:
        raise _ApiError(f"The model {name} does not support variations.", 400)
