"""A fake TheNextLeg v2 API, plus what it shares with the fake useapi.net (:class:`HostedFake`).

The fake follows ``docs/backends/thenextleg.md``:

* submits (``POST /v2/imagine``, ``POST /v2/button``, ``GET``/``POST /v2/settings``) answer
  ``{"success": true, "messageId", "createdAt"}``; the banned-word prefilter answers 400
  ``{"success": false, "msg": "Invalid phrase: '…'"}`` unless ``ignorePrefilter`` is set (then
  Midjourney bans it: the message ends with ``content`` ``"BANNED_PROMPT"``);
* every other failure is text in ``content`` with HTTP 200 (``BUTTON_NOT_FOUND``,
  ``ALREADY_REQUESTED_UPSCALE``, or whatever :meth:`HostedFaults.job_fails` injects);
* ``GET /v2/message/{id}?expireMins=`` answers ``{"progress": n, "progressImageUrl"}`` while
  running, ``{"progress": 100, "response": payload}`` when done (or the payload flat beside
  ``progress`` with :attr:`NextLegFaults.flat_results`), ``{"progress": "incomplete"}`` for a
  message unfinished after ``expireMins`` (fake minutes: :attr:`FakeNextLeg.minute_seconds`);
* the finished payload is POSTed once to ``webhookOverride`` (else :attr:`FakeNextLeg.webhook_url`);
* the settings panel keeps state: toggles change the "Current suffix" the content shows;
* :attr:`NextLegFaults.min_interval` makes requests closer together than that answer 429;
* ``POST /v2/describe`` (``url``), ``POST /v2/blend`` (``urls``, 2–5) and the image prompts at the
  start of an imagine's ``msg`` fetch their images like the service does (a link that does not
  answer 200 ends with ``content`` ``"INVALID_LINK"``);
  describe's finished ``content`` is four prompts and ``type`` ``"describe"``;
* Custom Zoom is ``/v2/button`` with ``prompt``, ``zoom`` (1–2, else ``INVALID_PARAMETER``), ``ar``;
* ``POST /v2/seed`` ``{messageId}`` answers ``{"seed"}`` at once for a finished image message;
* ``GET /v2/info`` is a message whose finished ``content`` is the account's info object and
  ``type`` ``"info"``.

Images are real PNGs from :mod:`sandbox.images`, served at ``/images/{name}.png``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import re
import string
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler

from sandbox import images
from sandbox.fake_common import FakeServer, HookDelivery, delaying, recording

log = logging.getLogger(__name__)

Renderer = Callable[[], bytes]

# --------------------------------------------------------------------------------------------
# Midjourney's button labels (both hosted APIs name buttons by them)
# --------------------------------------------------------------------------------------------

GRID_BUTTONS = ["U1", "U2", "U3", "U4", "🔄", "V1", "V2", "V3", "V4"]
UPSCALE_BUTTONS = [
    "Upscale (Subtle)", "Upscale (Creative)", "Vary (Subtle)", "Vary (Strong)", "Vary (Region)",
    "Zoom Out 2x", "Zoom Out 1.5x", "Custom Zoom", "⬅️", "➡️", "⬆️", "⬇️",
]  # fmt: skip
#: Buttons Midjourney lets you press once per message.
ONE_SHOT = re.compile(r"^(U[1-4]|Upscale \(.+\))$")


def _upscales(label: str) -> bool:
    return bool(re.fullmatch(r"U[1-4]", label)) or label.startswith("Upscale (")


def buttons_after(label: str) -> list[str]:
    """The buttons of the result pressing ``label`` makes."""
    return UPSCALE_BUTTONS if _upscales(label) else GRID_BUTTONS


def render_after(label: str, parent: Renderer, prompt: str, seed: str) -> Renderer:
    """Draws the result of pressing ``label`` on the image ``parent`` draws."""
    tile = re.fullmatch(r"U([1-4])", label)
    if tile:
        index = int(tile.group(1))
        return lambda: images.crop_tile(parent(), index)
    if label.startswith("Upscale ("):
        return lambda: images.enlarge(parent())
    # Variations, rerolls, zooms and pans all give a new grid.
    return lambda: images.render_grid(prompt, seed)


_LEADING_URL = re.compile(r"\s*(https?://\S+)")


def image_prompt_urls(prompt: str) -> list[str]:
    """The image prompts at the start of a Midjourney prompt (``"<url> <url> text --ar 1:1"``)."""
    urls, at = [], 0
    while found := _LEADING_URL.match(prompt, at):
        urls.append(found.group(1))
        at = found.end()
    return urls


def iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --------------------------------------------------------------------------------------------
# Shared fake machinery
# --------------------------------------------------------------------------------------------


@dataclass
class HostedFaults:
    """Faults both hosted fakes know. The flags apply while set; the rest are one-shot."""

    banned_words: set[str] = field(default_factory=lambda: {"forbidden"})
    #: Seconds every API response waits before being handled (client read timeouts).
    response_delay: float = 0.0
    #: Never deliver webhooks/replies (a lost push).
    drop_hooks: bool = False
    #: Deliver every webhook/reply twice.
    duplicate_hooks: bool = False
    _submits: deque[tuple[int, dict[str, Any] | None]] = field(default_factory=deque)
    _job_failures: deque[str] = field(default_factory=deque)
    _stuck: int = 0

    def fail_next_submit(self, status: int, body: dict[str, Any] | None = None) -> None:
        """The next submit answers HTTP ``status`` with ``body`` (default: the API's own shape)."""
        self._submits.append((status, body))

    def job_fails(self, reason: str) -> None:
        """The next job that starts fails with ``reason`` (TheNextLeg: its ``content``, e.g.
        ``"QUEUE_FULL"``; useapi: its ``error``)."""
        self._job_failures.append(reason)

    def stick_next_job(self) -> None:
        """The next job that starts reaches its first progress step and stays there."""
        self._stuck += 1

    def _pop_submit(self) -> tuple[int, dict[str, Any] | None] | None:
        return self._submits.popleft() if self._submits else None

    def _pop_failure(self) -> str | None:
        return self._job_failures.popleft() if self._job_failures else None

    def _take_stuck(self) -> bool:
        if self._stuck:
            self._stuck -= 1
            return True
        return False


class HostedFake(FakeServer):
    """An aiohttp fake of a hosted API under ``/v2/``: Bearer auth, request recording, response
    delay and submit faults (middlewares), PNGs at ``/images/{name}.png``, webhook delivery, and
    background job runs. Subclasses add routes (:meth:`_add_routes`) and their error shapes."""

    #: Paths that are submits (the ones :meth:`HostedFaults.fail_next_submit` hits).
    submit_paths: tuple[str, ...] = ()

    def __init__(
        self, *, secret: str, faults: HostedFaults, step_seconds: float, progress_steps: int, seed: int
    ) -> None:
        super().__init__()
        self.secret = secret
        self.faults = faults
        self.step_seconds = step_seconds
        self.progress_steps = progress_steps
        self._rng = random.Random(seed)
        self._renderers: dict[str, Renderer] = {}
        self._pngs: dict[str, bytes] = {}
        self._changed = asyncio.Condition()

    # --- lifecycle ----------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application(
            middlewares=[
                recording("/v2/", self.requests),
                delaying("/v2/", lambda: self.faults.response_delay),
                self._auth,
                self._submit_faults,
            ]
        )
        app.router.add_get("/images/{name}.png", self._image)
        self._add_routes(app)
        return app

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` holds after some job change. Bound it with asyncio.timeout."""
        async with self._changed:
            await self._changed.wait_for(predicate)

    # --- for subclasses -----------------------------------------------------------------------

    def _add_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def _error(self, status: int, message: str, /) -> web.Response:
        """The API's error body for ``status``."""
        raise NotImplementedError

    def _token(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        return header.removeprefix("Bearer ") if header.startswith("Bearer ") else None

    def image_url(self, name: str, progress: int | None = None) -> str:
        query = f"?progress={progress}" if progress is not None else ""
        return f"{self.base_url}/images/{name}.png{query}"

    def _add_image(self, name: str, render: Renderer) -> None:
        self._renderers[name] = render

    def _png(self, name: str) -> bytes:
        if name not in self._pngs:
            self._pngs[name] = self._renderers[name]()
        return self._pngs[name]

    def _spawn(self, coro: Any) -> None:
        run: asyncio.Task[None] = asyncio.create_task(coro)
        self._runs.add(run)
        run.add_done_callback(self._runs.discard)

    async def _percents(self) -> AsyncIterator[int]:
        """The progress steps of a job, one per ``step_seconds``; the caller finishes after them."""
        for step in range(1, self.progress_steps + 1):
            await asyncio.sleep(self.step_seconds)
            yield step * 100 // (self.progress_steps + 1)
        await asyncio.sleep(self.step_seconds)

    async def _changed_now(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _unreadable(self, urls: list[str]) -> str | None:
        """``INVALID_LINK`` when one of ``urls`` does not answer 200 (the service, or Midjourney,
        downloads them)."""
        assert self._session is not None
        for url in urls:
            try:
                async with self._session.get(url) as response:
                    if response.status != 200:
                        return "INVALID_LINK"
            except (aiohttp.ClientError, ValueError):
                return "INVALID_LINK"
        return None

    def _banned_word(self, prompt: str) -> str | None:
        words = set(re.findall(r"\w+", prompt.lower()))
        return next((w for w in sorted(self.faults.banned_words) if w.lower() in words), None)

    def _new_id(self, length: int = 20) -> str:
        return "".join(self._rng.choice(string.ascii_letters + string.digits) for _ in range(length))

    async def _deliver(self, url: str | None, body: dict[str, Any]) -> None:
        """POST ``body`` to ``url`` (subject to the hook faults); one attempt, errors only logged."""
        if url is None or self.faults.drop_hooks:
            return
        assert self._session is not None
        for _ in range(2 if self.faults.duplicate_hooks else 1):
            delivered = False
            try:
                async with self._session.post(url, json=body) as response:
                    delivered = response.status < 300
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.info("webhook %s failed: %s", url, type(exc).__name__)
            self.hook_deliveries.append(HookDelivery(url, body, delivered))

    # --- middlewares and shared routes ----------------------------------------------------------

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/v2/") and self._token(request) != self.secret:
            return self._error(401, "Unauthorized")
        return await handler(request)

    @web.middleware
    async def _submit_faults(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        is_submit = request.path in self.submit_paths
        fault = self.faults._pop_submit() if is_submit else None
        if fault is None:
            return await handler(request)
        status, body = fault
        return web.json_response(body, status=status) if body is not None else self._error(status, "Injected")

    async def _image(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self._renderers:
            raise web.HTTPNotFound()
        png = self._png(name)
        if "progress" in request.query:
            png = images.render_preview(png, int(request.query["progress"]))
        return web.Response(body=png, content_type="image/png")


# --------------------------------------------------------------------------------------------
# TheNextLeg
# --------------------------------------------------------------------------------------------

ACCOUNT_ID = "fake-tnl-account"

#: The settings labels as TheNextLeg lists them ("Base quality" twice included; docs/backends/thenextleg.md).
SETTINGS_LABELS = [
    "MJ version 1", "MJ version 2", "MJ version 3", "MJ version 4", "MJ version 5", "Niji version 4",
    "Niji version 5", "MJ Test", "MJ Test Photo", "Half quality", "Base quality", "Base quality",
    "High quality (2x cost)", "Style low", "Style med", "Style high", "Style very high", "Reset Settings",
    "Public mode", "Stealth mode", "Remix mode", "Fast mode", "Relax mode",
]  # fmt: skip
_VERSION_FLAGS = {
    **{f"MJ version {n}": f"--v {n}" for n in range(1, 6)},
    "Niji version 4": "--niji 4",
    "Niji version 5": "--niji 5",
    "MJ Test": "--test",
    "MJ Test Photo": "--testp",
}
_QUALITY_FLAGS = {"Half quality": "--q .5", "Base quality": "", "High quality (2x cost)": "--q 2"}
_STYLE_FLAGS = {"Style low": "--s 50", "Style med": "", "Style high": "--s 250", "Style very high": "--s 750"}


@dataclass
class SettingsState:
    """The account's /settings: the parameter choices (in the suffix) and the modes (not in it)."""

    version: str | None = None
    quality: str = "Base quality"
    style: str = "Style med"
    stealth: bool = False
    remix: bool = False
    relax: bool = False

    @property
    def suffix(self) -> str:
        flags = (
            _VERSION_FLAGS.get(self.version or ""),
            _QUALITY_FLAGS[self.quality],
            _STYLE_FLAGS[self.style],
        )
        return " ".join(flag for flag in flags if flag)

    @property
    def content(self) -> str:
        # TheNextLeg's exact format, spaces around the suffix included (docs/backends/thenextleg.md).
        suffix = self.suffix
        return (
            f"Adjust your settings here. Current suffix: ` {suffix}` "
            if suffix
            else "Adjust your settings here."
        )

    def toggle(self, label: str) -> bool:
        """Press ``label``; False when there is no such settings button."""
        if label in _VERSION_FLAGS:
            self.version = label
        elif label in _QUALITY_FLAGS:
            self.quality = label
        elif label in _STYLE_FLAGS:
            self.style = label
        elif label == "Reset Settings":
            self.version, self.quality, self.style = None, "Base quality", "Style med"
        elif label in ("Public mode", "Stealth mode"):
            self.stealth = label == "Stealth mode"
        elif label == "Remix mode":
            self.remix = not self.remix
        elif label in ("Fast mode", "Relax mode"):
            self.relax = label == "Relax mode"
        else:
            return False
        return True


#: What the fake's /describe says of any image: Midjourney's four keycap-numbered prompts.
DESCRIBED = [
    "1️⃣ a red square on a plain background, minimalism --ar 1:1",
    "2️⃣ flat colour field, colour study, bauhaus --ar 1:1",
    "3️⃣ a single colour swatch, product photography --ar 1:1",
    "4️⃣ abstract monochrome painting, rothko style --ar 1:1",
]


def seed_of(message_id: str) -> str:
    """The seed of an image message: stable per message, like Midjourney's."""
    return str(int.from_bytes(message_id.encode()[:4], "big"))


def _zoom_ok(zoom: Any) -> bool:
    return isinstance(zoom, int | float) and not isinstance(zoom, bool) and 1 <= zoom <= 2


@dataclass
class NextLegFaults(HostedFaults):
    #: Requests closer together than this (seconds) answer 429, like the real sliding window.
    min_interval: float = 0.0
    #: ``GET /message`` puts the finished payload beside ``progress`` (the doc example's shape).
    flat_results: bool = False


@dataclass
class _Message:
    id: str
    kind: str
    prompt: str
    ref: str
    webhook: str | None
    created: float
    created_at: str
    #: Labels of the result's buttons; empty for failures and settings messages until done.
    buttons: list[str] = field(default_factory=list)
    button_message_id: str = ""
    progress: int = 0
    payload: dict[str, Any] | None = None
    #: The image name in the fake's image store, for messages that make one.
    image: str | None = None
    #: One-shot labels already pressed on this message's result.
    pressed: set[str] = field(default_factory=set)


class FakeNextLeg(HostedFake):
    submit_paths = ("/v2/imagine", "/v2/button", "/v2/settings", "/v2/describe", "/v2/blend", "/v2/info")

    def __init__(
        self,
        *,
        secret: str = "tnl-token",
        step_seconds: float = 0.05,
        progress_steps: int = 3,
        minute_seconds: float = 60.0,
        seed: int = 0,
    ) -> None:
        self.faults: NextLegFaults = NextLegFaults()
        super().__init__(
            secret=secret,
            faults=self.faults,
            step_seconds=step_seconds,
            progress_steps=progress_steps,
            seed=seed,
        )
        #: How long a fake minute lasts, for ``expireMins`` (tests shrink it).
        self.minute_seconds = minute_seconds
        #: The dashboard's default webhook: where results without ``webhookOverride`` go.
        self.webhook_url: str | None = None
        self.settings = SettingsState()
        self._messages: dict[str, _Message] = {}
        self._by_button_id: dict[str, _Message] = {}
        self._last_request = -float("inf")

    # --- test helpers -------------------------------------------------------------------------

    def info(self) -> dict[str, str]:
        """The account's /info object, its keys as the service documents them."""
        return {
            "Fast Time Remaining": "12.34/15.0 hours (82.27%)",
            "Job Mode": "Relaxed" if self.settings.relax else "Fast",
            "Lifetime Usage": "312 images (21.05 hours)",
            "Queued Jobs (fast)": "0",
            "Queued Jobs (relax)": "0",
            "Relaxed Usage": "0 images (0.00 hours)",
            "Subscription": "Standard (Active monthly, renews next on Jan 1, 2027 0:00 UTC)",
            "Visibility Mode": "Stealth" if self.settings.stealth else "Public",
        }

    def progress(self, message_id: str) -> int:
        return self._messages[message_id].progress

    async def wait_done(self, message_id: str) -> dict[str, Any]:
        """Wait until the message is finished; its payload. Bound it with asyncio.timeout."""
        await self.wait_until(lambda: self._messages[message_id].payload is not None)
        payload = self._messages[message_id].payload
        assert payload is not None
        return payload

    # --- HostedFake ---------------------------------------------------------------------------

    def _add_routes(self, app: web.Application) -> None:
        app.middlewares.append(self._pace)
        app.router.add_post("/v2/imagine", self._imagine)
        app.router.add_post("/v2/button", self._button)
        app.router.add_get("/v2/message/{id}", self._message)
        app.router.add_get("/v2/settings", self._get_settings)
        app.router.add_post("/v2/settings", self._toggle_settings)
        app.router.add_post("/v2/describe", self._describe)
        app.router.add_post("/v2/blend", self._blend)
        app.router.add_post("/v2/seed", self._seed)
        app.router.add_get("/v2/info", self._info)

    def _error(self, status: int, message: str, /) -> web.Response:
        return web.json_response({"success": False, "msg": message}, status=status)

    def _token(self, request: web.Request) -> str | None:
        # The GET variants also take the token as ?authToken=.
        return super()._token(request) or (
            request.query.get("authToken") if request.method == "GET" else None
        )

    @web.middleware
    async def _pace(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/v2/") and self.faults.min_interval:
            now = time.monotonic()
            if now - self._last_request < self.faults.min_interval:
                return self._error(429, "Too many requests: one request per 3 seconds.")
            self._last_request = now
        return await handler(request)

    # --- routes -------------------------------------------------------------------------------

    async def _imagine(self, request: web.Request) -> web.Response:
        body = await json_object(request)
        prompt = str(body.get("msg") or "").strip()
        if not prompt:
            return self._error(400, "msg is required")
        banned = self._banned_word(prompt)
        if banned and not body.get("ignorePrefilter"):
            return self._error(400, f"Invalid phrase: '{banned}'")
        message = self._new_message(body, "imagine", prompt)
        message.image = message.id
        self._add_image(message.id, lambda: images.render_grid(prompt, message.id))
        message.buttons = GRID_BUTTONS
        # Midjourney downloads the image prompts; one it cannot read ends the job.
        unreadable = await self._unreadable(image_prompt_urls(prompt))
        self._spawn(self._run(message, failure="BANNED_PROMPT" if banned else unreadable))
        return self._accepted(message)

    async def _button(self, request: web.Request) -> web.Response:
        body = await json_object(request)
        label, button_message_id = body.get("button"), body.get("buttonMessageId")
        if not isinstance(label, str) or not label or not isinstance(button_message_id, str):
            return self._error(400, "button and buttonMessageId are required")
        parent = self._by_button_id.get(button_message_id)
        message = self._new_message(body, "button", parent.prompt if parent else "")
        # Anything wrong with the press is only known once Midjourney answers: content text.
        failure = None
        if parent is None or label not in parent.buttons or parent.image is None:
            failure = "BUTTON_NOT_FOUND"
        elif ONE_SHOT.match(label) and label in parent.pressed:
            failure = "ALREADY_REQUESTED_UPSCALE"
        elif label == "Custom Zoom" and not _zoom_ok(body.get("zoom")):
            failure = "INVALID_PARAMETER"
        else:
            if ONE_SHOT.match(label):
                parent.pressed.add(label)
            parent_image = parent.image
            message.buttons = buttons_after(label)
            message.image = message.id
            self._add_image(
                message.id, render_after(label, lambda: self._png(parent_image), parent.prompt, message.id)
            )
        self._spawn(self._run(message, failure=failure))
        return self._accepted(message)

    async def _describe(self, request: web.Request) -> web.Response:
        body = await json_object(request)
        url = body.get("url")
        if not isinstance(url, str) or not url:
            return self._error(400, "url is required")
        message = self._new_message(body, "describe", "")
        self._spawn(self._run(message, failure=await self._unreadable([url])))
        return self._accepted(message)

    async def _blend(self, request: web.Request) -> web.Response:
        body = await json_object(request)
        urls = body.get("urls")
        if not isinstance(urls, list) or not 2 <= len(urls) <= 5 or not all(isinstance(u, str) for u in urls):
            return self._error(400, "urls must list 2 to 5 image URLs")
        message = self._new_message(body, "blend", "")
        message.image, message.buttons = message.id, GRID_BUTTONS
        self._add_image(message.id, lambda: images.render_grid("blend", message.id))
        self._spawn(self._run(message, failure=await self._unreadable(urls)))
        return self._accepted(message)

    async def _seed(self, request: web.Request) -> web.Response:
        body = await json_object(request)
        message = self._messages.get(str(body.get("messageId") or ""))
        if message is None or message.image is None or message.payload is None:
            return self._error(404, "Message not found")
        return web.json_response({"seed": seed_of(message.id)})

    async def _info(self, request: web.Request) -> web.Response:
        message = self._new_message({}, "info", "")
        self._spawn(self._run(message))
        return self._accepted(message)

    async def _get_settings(self, request: web.Request) -> web.Response:
        message = self._new_message({}, "settings", "")
        self._spawn(self._run(message))
        return self._accepted(message)

    async def _toggle_settings(self, request: web.Request) -> web.Response:
        body = await json_object(request)
        label = body.get("settingsToggle")
        if not isinstance(label, str) or not label:
            return self._error(400, "settingsToggle is required")
        message = self._new_message(body, "settings", "")
        self._spawn(self._run(message, failure=None if self.settings.toggle(label) else "BUTTON_NOT_FOUND"))
        return self._accepted(message)

    async def _message(self, request: web.Request) -> web.Response:
        message = self._messages.get(request.match_info["id"])
        if message is None:
            return self._error(404, "Message not found")
        if message.payload is not None:
            if self.faults.flat_results:
                return web.json_response({"progress": 100, **message.payload})
            return web.json_response({"progress": 100, "response": message.payload})
        try:
            expire_mins = float(request.query.get("expireMins", "12"))
        except ValueError:
            return self._error(400, "expireMins must be a number")
        if time.monotonic() - message.created > expire_mins * self.minute_seconds:
            return web.json_response({"progress": "incomplete"})
        preview = (
            self.image_url(message.image, message.progress) if message.image and message.progress else None
        )
        return web.json_response({"progress": message.progress, "progressImageUrl": preview})

    # --- message machinery --------------------------------------------------------------------

    def _new_message(self, body: dict[str, Any], kind: str, prompt: str) -> _Message:
        message = _Message(
            id=self._new_id(),
            kind=kind,
            prompt=prompt,
            ref=str(body.get("ref") or ""),
            webhook=body.get("webhookOverride") or self.webhook_url,
            created=time.monotonic(),
            created_at=iso_now(),
        )
        self._messages[message.id] = message
        return message

    def _accepted(self, message: _Message) -> web.Response:
        return web.json_response({"success": True, "messageId": message.id, "createdAt": message.created_at})

    async def _run(self, message: _Message, *, failure: str | None = None) -> None:
        failure = failure or (self.faults._pop_failure() if message.kind != "settings" else None)
        stuck = message.kind != "settings" and self.faults._take_stuck()
        async for percent in self._percents():
            message.progress = percent
            await self._changed_now()
            if failure is not None:
                break
            if stuck:
                await asyncio.Event().wait()  # never finishes: GET reports it incomplete in time
        await self._finish(message, failure)

    def _tile(self, grid: str, index: int) -> bytes:
        return images.crop_tile(self._png(grid), index)

    async def _finish(self, message: _Message, failure: str | None) -> None:
        payload: dict[str, Any] = {
            "createdAt": message.created_at,
            "responseAt": iso_now(),
            "buttons": [],
            "originatingMessageId": message.id,
            "ref": message.ref,
            "accountId": ACCOUNT_ID,
        }
        if failure is not None:
            payload["content"] = failure
            message.buttons = []
        elif message.kind == "settings":
            payload |= {"buttons": SETTINGS_LABELS, "content": self.settings.content}
        elif message.kind in ("describe", "info"):
            content = DESCRIBED if message.kind == "describe" else self.info()
            payload |= {"content": content, "type": message.kind}
        else:
            assert message.image is not None
            message.button_message_id = self._new_id()
            self._by_button_id[message.button_message_id] = message
            tiles = []
            if message.buttons == GRID_BUTTONS:
                for index in range(1, 5):
                    name, grid = f"{message.image}-{index}", message.image
                    self._add_image(name, functools.partial(self._tile, grid, index))
                    tiles.append(self.image_url(name))
            payload |= {
                "buttons": message.buttons,
                "imageUrl": self.image_url(message.image),
                "imageUrls": tiles,
                "buttonMessageId": message.button_message_id,
                "content": message.prompt,
                "type": message.kind,
            }
        message.progress, message.payload = 100, payload
        await self._changed_now()
        await self._deliver(message.webhook, payload)


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request's JSON body when it is an object, else ``{}`` (handlers then report what is missing)."""
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
