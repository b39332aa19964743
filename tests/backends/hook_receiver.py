"""A tiny aiohttp server that records the webhook bodies POSTed to it (a bot's webhook stand-in)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web


class HookReceiver:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._receive)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/hook"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_until(self, predicate: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
        """Wait (bound it with asyncio.timeout) until ``predicate(bodies)`` holds; the bodies then."""
        async with self._changed:
            await self._changed.wait_for(lambda: predicate(self.bodies))
        return list(self.bodies)

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.json()
        async with self._changed:
            self.bodies.append(body)
            self._changed.notify_all()
        return web.Response(status=204)
