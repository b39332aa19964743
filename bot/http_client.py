"""The one HTTP client the bot uses for backends and result downloads.

Its transport lets at most ``PER_HOST`` requests to one host into httpx's connection pool at
once; the rest wait in a FIFO semaphore. httpcore's pool re-matches every waiting request against
every connection each time a connection frees (waiting × connections work per change, enough to
starve the event loop: docs/performance.md); waiting outside the pool costs O(1) per request. The
limit is per host, so a backend that hangs cannot hold up the others' requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable

import httpcore
import httpx

from bot.net import AddressPolicy, parse_address

#: Requests to one host inside the pool at once. Idle connections are kept alive (up to four
#: hosts' worth): a busy bot talks to the same few backend hosts, so reconnecting would only
#: cost CPU.
PER_HOST = 16


def make_http_client(policy: AddressPolicy | None = None) -> httpx.AsyncClient:
    """The client; with ``policy``, every connection goes only to an address it allows."""
    # Redirects stay off (httpx's default): a backend must not bounce a download elsewhere.
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=PER_HOST * 4)
    transport = httpx.AsyncHTTPTransport(limits=limits)
    if policy is not None:
        # httpx has no option for the network backend; its pool is rebuilt with the same limits.
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_CheckedBackend(policy),
        )
    return httpx.AsyncClient(
        timeout=httpx.Timeout(30.0, connect=10.0), transport=_GatedTransport(transport, PER_HOST)
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


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """Resolves the host, checks every address it has, and connects to a checked one, so a DNS
    answer that changes between the check and the connection (rebinding) cannot slip through.
    TLS still verifies and sends the name (httpcore passes the origin host as SNI)."""

    def __init__(self, policy: AddressPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, TimeoutError) as exc:
            raise httpcore.ConnectError(f"cannot resolve the host ({type(exc).__name__})") from None
        addresses = list(dict.fromkeys(parse_address(str(info[4][0])) for info in found))
        if not addresses or not all(self._policy.allows(a) for a in addresses):
            raise httpcore.ConnectError("the host is on a private or local network")
        # Each checked address in turn (an unreachable IPv6 one before a working IPv4 one).
        for address in addresses[:-1]:
            with contextlib.suppress(httpcore.ConnectError, httpcore.ConnectTimeout):
                return await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
        return await self._inner.connect_tcp(
            str(addresses[-1]),
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


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
