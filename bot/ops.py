"""What an operator's tools read from the web server: ``/metrics`` (Prometheus) and ``/readyz``.

``/readyz`` is 200 when the gateway is connected, the store takes a write and every server with
shared accounts has at least one in rotation; else 503 with the reasons. ``/healthz`` (alive) is
the web server's own.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bot.jobs.engine import JobEngine
from bot.metrics import Metrics
from bot.store import Store

METRICS_PATH = "/metrics"
READY_PATH = "/readyz"


class OpsRoutes:
    def __init__(
        self,
        metrics: Metrics,
        engine: JobEngine,
        store: Store,
        *,
        gateway_open: Callable[[], bool],
        stopping: Callable[[], bool],
    ) -> None:
        self._metrics = metrics
        self._engine = engine
        self._store = store
        self._gateway_open = gateway_open
        self._stopping = stopping

    def routes(self) -> list[web.RouteDef]:
        return [web.get(METRICS_PATH, self._scrape), web.get(READY_PATH, self._ready)]

    async def _scrape(self, _request: web.Request) -> web.Response:
        self._metrics.set_load(*await self._engine.dispatch.load())
        return web.Response(body=self._metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def reasons_not_ready(self) -> list[str]:
        reasons = []
        if self._stopping():
            reasons.append("the bot is shutting down")
        if not self._gateway_open():
            reasons.append("not connected to Discord's gateway")
        problem = await self._store.writable()
        if problem:
            reasons.append(problem)
        reasons += [
            f"server {guild}: no account is in rotation (see /setup account list)"
            for guild in self._engine.dispatch.unhealthy_guilds()
        ]
        return reasons

    async def _ready(self, _request: web.Request) -> web.Response:
        reasons = await self.reasons_not_ready()
        if reasons:
            return web.json_response({"ready": False, "reasons": reasons}, status=503)
        return web.json_response({"ready": True})
