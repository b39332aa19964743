"""What the fake backend servers share: the request record, webhook deliveries, and the
middlewares that record every API request and delay answers on demand."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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


def delaying(prefix: str, delay: Callable[[], float]) -> Middleware:
    """Hold every answer under ``prefix`` for ``delay()`` seconds (client read timeouts)."""

    @web.middleware
    async def hold(request: web.Request, handler: Handler) -> web.StreamResponse:
        seconds = delay()
        if seconds and request.path.startswith(prefix):
            await asyncio.sleep(seconds)
        return await handler(request)

    return hold
