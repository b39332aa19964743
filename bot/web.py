"""The bot's HTTP server (aiohttp): backend webhooks and a health check.

Webhook URLs carry the job id and a per-job random secret: ``/hooks/{job_id}/{secret}``. A wrong
secret gets the same 404 as an unknown job, so the endpoint tells an attacker nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable

from aiohttp import web

from bot.jobs.engine import JobEngine

log = logging.getLogger(__name__)

#: Webhook bodies are one task JSON; anything much larger is not from a backend.
MAX_HOOK_BYTES = 256 * 1024
#: Liveness: 200 while the process serves HTTP (readiness is /readyz, bot/ops.py).
HEALTH_PATH = "/healthz"
#: The answer to an accepted webhook, encoded once (every backend event gets it).
_ACCEPTED = b'{"ok": true}'


class WebServer:
    def __init__(
        self,
        engine: JobEngine,
        host: str,
        port: int,
        public_url: str | None,
        routes: Iterable[web.RouteDef] = (),
    ) -> None:
        self._engine = engine
        self._host = host
        self._port = port
        self._public_url = public_url
        self._runner: web.AppRunner | None = None
        app = web.Application(client_max_size=MAX_HOOK_BYTES)
        # At most 18 digits: a larger id overflows SQLite's integers (no job has one anyway).
        app.router.add_post("/hooks/{job_id:[0-9]{1,18}}/{secret}", self._hook)
        app.router.add_get(HEALTH_PATH, self._health)
        app.router.add_routes(list(routes))
        self._app = app

    @property
    def public_url(self) -> str:
        if self._public_url:
            return self._public_url.rstrip("/")
        # A wildcard bind address is not something a backend can call.
        host = "127.0.0.1" if self._host in ("0.0.0.0", "::", "") else self._host
        return f"http://{host}:{self._port}"

    async def start(self) -> None:
        self._runner = web.AppRunner(self._app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        if self._port == 0:
            self._port = self._runner.addresses[0][1]
        log.info("web server listening on %s:%s", self._host, self._port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _hook(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return web.json_response({"error": "body is not JSON"}, status=400)
        accepted = await self._engine.on_push(
            int(request.match_info["job_id"]), request.match_info["secret"], body
        )
        if not accepted:
            return web.json_response({"error": "unknown job"}, status=404)
        return web.Response(body=_ACCEPTED, content_type="application/json")

    async def _health(self, _request: web.Request) -> web.Response:
        return web.json_response({"ok": True})
