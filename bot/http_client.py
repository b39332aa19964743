"""The one HTTP client the bot uses for backends and result downloads.

Its transport lets at most ``PER_HOST`` requests to one host into httpx's connection pool at
once; the rest wait in a FIFO semaphore. httpcore's pool re-matches every waiting request against
every connection each time a connection frees, and checks each connection with a system call
(waiting × connections work per change): with a burst of 1000 submits queued inside it, that
took 170 s of CPU in the load benchmark, starved the event loop, and every submit timed out.
Waiting outside the pool costs O(1) per request. The limit is per host, so a backend that hangs
cannot hold up the others' requests.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Callable

import httpx

#: Requests to one host inside the pool at once. Idle connections are kept alive (up to four
#: hosts' worth): a busy bot talks to the same few backend hosts, so reconnecting would only
#: cost CPU.
PER_HOST = 16


def make_http_client() -> httpx.AsyncClient:
    # Redirects stay off (httpx's default): a backend must not bounce a download elsewhere.
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=PER_HOST * 4)
    return httpx.AsyncClient(
        timeout=httpx.Timeout(30.0, connect=10.0),
        transport=_GatedTransport(httpx.AsyncHTTPTransport(limits=limits), PER_HOST),
    )


async def read_capped(http: httpx.AsyncClient, url: str, limit: int) -> bytes | None:
    """The body at ``url``, or None once it passes ``limit`` bytes (reading stops there, so a huge
    body is never held whole). Raises httpx.HTTPError for a failed request or an error status."""
    async with http.stream("GET", url) as response:
        response.raise_for_status()
        chunks = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
        return b"".join(chunks)


class _GatedTransport(httpx.AsyncBaseTransport):
    """``inner`` with at most ``limit`` requests per host in it; a slot is held until the
    response closes."""

    def __init__(self, inner: httpx.AsyncBaseTransport, limit: int) -> None:
        self._inner = inner
        self._hosts: defaultdict[tuple[str, str, int | None], asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(limit)
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        slots = self._hosts[(request.url.scheme, request.url.host, request.url.port)]
        await slots.acquire()
        try:
            response = await self._inner.handle_async_request(request)
        except BaseException:
            slots.release()
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Releasing(response.stream, slots.release)
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
