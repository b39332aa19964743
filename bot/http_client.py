"""The one HTTP client the bot uses for backends and result downloads.

Its transport lets at most ``MAX_IN_FLIGHT`` requests into httpx's connection pool at once; the
rest wait in a FIFO semaphore. httpcore's pool re-matches every waiting request against every
connection each time a connection frees (waiting × connections work per change): with a burst
of 1000 submits queued inside it, that matching took 170 s of CPU in the load benchmark, starved
the event loop, and every submit timed out. Waiting outside the pool costs O(1) per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx

#: Requests inside the pool at once, all of them kept alive between requests (a busy bot talks to
#: the same few backend hosts, so reconnecting would only cost CPU).
MAX_IN_FLIGHT = 50


def make_http_client() -> httpx.AsyncClient:
    # Redirects stay off (httpx's default): a backend must not bounce a download elsewhere.
    limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=MAX_IN_FLIGHT)
    return httpx.AsyncClient(
        timeout=httpx.Timeout(30.0, connect=10.0),
        transport=_GatedTransport(httpx.AsyncHTTPTransport(limits=limits), MAX_IN_FLIGHT),
    )


class _GatedTransport(httpx.AsyncBaseTransport):
    """``inner`` with at most ``limit`` requests in it; a slot is held until the response closes."""

    def __init__(self, inner: httpx.AsyncBaseTransport, limit: int) -> None:
        self._inner = inner
        self._slots = asyncio.Semaphore(limit)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await self._slots.acquire()
        try:
            response = await self._inner.handle_async_request(request)
        except BaseException:
            self._slots.release()
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Releasing(response.stream, self._slots.release)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class _Releasing(httpx.AsyncByteStream):
    """A response body that gives its request's slot back when closed (once)."""

    def __init__(self, inner: httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        self._inner = inner
        self._release: Callable[[], None] | None = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()
