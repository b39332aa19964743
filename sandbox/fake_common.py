"""What the fake backend servers share: the request record, webhook deliveries, and the
middlewares that record every API request and delay answers on demand."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware


@dataclass
class RecordedRequest:
    method: str
    path: str
    json: Any


@dataclass
class HookDelivery:
    url: str
    body: dict[str, Any]
    delivered: bool


def recording(prefix: str, into: list[RecordedRequest]) -> Middleware:
    """Record every request under ``prefix`` (its JSON body, or its text when not JSON)."""

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(prefix):
            body: Any = None
            if request.can_read_body:
                try:
                    body = await request.json()
                except ValueError:
                    body = await request.text()
            into.append(RecordedRequest(request.method, request.path, body))
        return await handler(request)

    return record


def delaying(prefix: str, delay: Callable[[], float], *, after: bool = False) -> Middleware:
    """Hold every answer under ``prefix`` for ``delay()`` seconds (client read timeouts): before
    the request is handled, or ``after`` it (what it started runs while the answer waits)."""

    @web.middleware
    async def hold(request: web.Request, handler: Handler) -> web.StreamResponse:
        seconds = delay() if request.path.startswith(prefix) else 0.0
        if seconds and not after:
            await asyncio.sleep(seconds)
        response = await handler(request)
        if seconds and after:
            await asyncio.sleep(seconds)
        return response

    return hold


class FakeServer:
    """The lifecycle every fake service shares: its aiohttp app on loopback, a client session for
    the webhooks it sends, background runs cancelled on stop, and the record of API requests."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.hook_deliveries: list[HookDelivery] = []
        self._runs: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._base_url = ""

    def _build_app(self) -> web.Application:
        raise NotImplementedError

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = self._build_app()
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        self._base_url = f"http://{bound_host}:{bound_port}"

    async def stop(self) -> None:
        for run in self._runs:
            run.cancel()
        await asyncio.gather(*self._runs, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        if not self._base_url:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._base_url

    def count(self, path: str, method: str = "POST") -> int:
        """How many requests were made to ``path`` (a prefix is enough: ``/mj/submit/``)."""
        return sum(1 for r in self.requests if r.method == method and r.path.startswith(path))
