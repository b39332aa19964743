"""The bot's HTTP server (aiohttp): backend webhooks and a health check.

Webhook URLs carry the job id and a per-job random secret: ``/hooks/{job_id}/{secret}``. The secret
is checked before the body is read, and a wrong one gets the same 404 as an unknown job, so the
endpoint tells an attacker nothing. Bodies are bounded in size, JSON depth and read time; idle
connections are closed and the number open at once is capped (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import cast

from aiohttp import web

from bot.config import StartupError
from bot.jobs.engine import JobEngine
from bot.relay import PushRelay

log = logging.getLogger(__name__)

#: Webhook bodies are one task JSON; anything much larger is not from a backend.
MAX_HOOK_BYTES = 256 * 1024
#: Liveness: 200 while the process serves HTTP (readiness is /readyz, bot/ops.py).
HEALTH_PATH = "/healthz"
#: The answer to an accepted webhook, encoded once (every backend event gets it).
_ACCEPTED = b'{"ok": true}'
#: What a connection over the cap gets before it is closed.
_BUSY = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class WebServer:
    def __init__(
        self,
        engine: JobEngine,
        host: str,
        port: int,
        public_url: str | None,
        *,
        max_connections: int = 100,
        idle_timeout: float = 5.0,
        relay: PushRelay | None = None,
    ) -> None:
        """``max_connections``: open at once, more are answered 503 and closed. ``idle_timeout``:
        the longest wait for a request's headers (from the connection's start or the last
        response) and, separately, for its body. ``relay``: where pushes for jobs of servers on
        other processes' shards go (None: this process runs every shard)."""
        self._engine = engine
        self._relay = relay
        self._host = host
        self._port = port
        self._public_url = public_url
        self._max_connections = max_connections
        self._idle_timeout = idle_timeout
        self._runner: web.AppRunner | None = None
        app = web.Application(client_max_size=MAX_HOOK_BYTES)
        # At most 18 digits: a larger id overflows SQLite's integers (no job has one anyway).
        app.router.add_post("/hooks/{job_id:[0-9]{1,18}}/{secret}", self._hook)
        app.router.add_get(HEALTH_PATH, self._health)
        self._app = app

    def add_routes(self, routes: list[web.RouteDef]) -> None:
        """More routes (/readyz and /metrics, the mask editor's); before start()."""
        self._app.add_routes(routes)

    @property
    def public_url(self) -> str:
        if self._public_url:
            return self._public_url.rstrip("/")
        # A wildcard bind address is not something a backend can call.
        host = "127.0.0.1" if self._host in ("0.0.0.0", "::", "") else self._host
        return f"http://{host}:{self._port}"

    async def start(self) -> None:
        # aiohttp's keep-alive timer runs from a connection's start, so it also drops a client
        # that sends its headers too slowly (or nothing). No handler_cancellation: a push whose
        # client leaves once its body is read is still applied whole.
        self._runner = web.AppRunner(self._app, access_log=None, keepalive_timeout=self._idle_timeout)
        await self._runner.setup()
        site = _CappedSite(self._runner, self._host, self._port, self._max_connections)
        try:
            await site.start()
        except OSError as exc:
            raise StartupError(
                f"The webhook server cannot listen on {self._host}:{self._port} ({exc.strerror}): stop "
                "what uses that port, or set another [web] host/port (MJBOT_WEB_PORT)."
            ) from None
        if self._port == 0:
            self._port = self._runner.addresses[0][1]
        log.info("web server listening on %s:%s", self._host, self._port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _hook(self, request: web.Request) -> web.Response:
        job_id, secret = int(request.match_info["job_id"]), request.match_info["secret"]
        if not await self._engine.tracking.hook_secret_matches(job_id, secret):
            return _unknown_job()
        try:
            raw = await self._body(request)
        except TimeoutError:
            return web.json_response({"error": "body too slow"}, status=408)
        except ConnectionError as exc:
            # A client that went away mid-body: nothing to answer, nothing worth a traceback.
            log.info("webhook for job %s: client left before its body was read (%s)", job_id, exc)
            return web.Response(status=400)
        try:
            body = json.loads(raw)
        except RecursionError:
            # The C decoder stops at the interpreter's recursion limit, in microseconds; a task
            # JSON is a few levels deep. Scanning every push for its depth first cost more.
            return web.json_response({"error": "body is nested too deeply"}, status=400)
        except (ValueError, UnicodeDecodeError):
            return web.json_response({"error": "body is not JSON"}, status=400)
        if self._relay is not None and await self._relay.hand_off(job_id, body):
            return web.Response(body=_ACCEPTED, content_type="application/json")
        if not await self._engine.tracking.on_push(job_id, secret, body):
            return _unknown_job()
        return web.Response(body=_ACCEPTED, content_type="application/json")

    async def _body(self, request: web.Request) -> bytes:
        """The request's body, within ``idle_timeout`` of the handler's start. A push's body
        usually came with its headers: then no timer is set (docs/performance.md)."""
        if request.content.is_eof():
            return await request.read()
        async with asyncio.timeout(self._idle_timeout):
            return await request.read()

    async def _health(self, _request: web.Request) -> web.Response:
        return web.json_response({"ok": True})


def _unknown_job() -> web.Response:
    return web.json_response({"error": "unknown job"}, status=404)


class _CappedSite(web.TCPSite):
    """A TCPSite that answers connections beyond ``limit`` open at once with a 503 and closes
    them: aiohttp has no such knob (``backlog`` only bounds the accept queue)."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, limit: int) -> None:
        super().__init__(runner, host, port, backlog=limit)
        self._limit = limit

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site; TCPSite.start would bind it uncapped
        server = self._runner.server
        assert server is not None
        limit = self._limit
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _Capped(server, limit),
            self._host,
            self._port,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )


class _Capped(asyncio.Protocol):
    """aiohttp's protocol for one connection, unless ``limit`` connections are already open (the
    count is read when the connection is made, so a burst of accepts cannot overshoot it)."""

    def __init__(self, server: web.Server, limit: int) -> None:
        self._server, self._limit = server, limit
        self._inner: asyncio.Protocol | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if len(self._server.connections) >= self._limit:
            cast(asyncio.Transport, transport).write(_BUSY)
            transport.close()
            return
        self._inner = self._server()
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._inner is not None:
            self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()
