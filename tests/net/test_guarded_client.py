"""The guarded HTTP client (accounts added in Discord): the address connected to is checked."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web

from bot.http_client import make_http_client
from bot.net import AddressPolicy, is_public, parse_address, shown_url


@pytest.fixture
async def loopback() -> AsyncIterator[tuple[int, list[str]]]:
    seen: list[str] = []

    async def any_path(request: web.Request) -> web.Response:
        seen.append(request.path)
        if request.path == "/bounce":
            raise web.HTTPFound("http://127.0.0.1:1/elsewhere")
        return web.Response(text="inside")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", any_path)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield runner.addresses[0][1], seen
    await runner.cleanup()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_name_or_address_on_loopback_is_never_connected_to(
    loopback: tuple[int, list[str]], host: str
) -> None:
    port, seen = loopback
    async with make_http_client(AddressPolicy()) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://{host}:{port}/admin")
    assert seen == []


async def test_an_allowed_network_is_reached_and_redirects_are_not_followed(
    loopback: tuple[int, list[str]],
) -> None:
    port, seen = loopback
    policy = AddressPolicy(networks=(ipaddress.ip_network("127.0.0.0/8"),))
    async with make_http_client(policy) as http:
        assert (await http.get(f"http://localhost:{port}/ok")).text == "inside"
        assert (await http.get(f"http://127.0.0.1:{port}/bounce")).status_code == 302
    assert seen == ["/ok", "/bounce"]


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
        ("::ffff:8.8.8.8", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.100.100.200", False),  # CGNAT (Alibaba's metadata)
        ("192.0.0.192", False),  # Oracle's metadata
        ("224.0.0.1", False),
        ("0.0.0.0", False),
        ("::1", False),
        ("::", False),
        ("fe80::1%eth0", False),
        ("fd00:ec2::254", False),  # AWS metadata over IPv6
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
    ],
)
def test_which_addresses_are_public(address: str, public: bool) -> None:
    assert is_public(parse_address(address)) is public


def test_an_address_is_shown_without_its_credentials() -> None:
    shown = shown_url("https://user:pa%40ss@proxy.example.com:8443/v2?token=abc&key=def&flag#frag")
    assert shown == "https://***@proxy.example.com:8443/v2?token=***&key=***&flag#***"
    assert shown_url("https://proxy.example.com/v2") == "https://proxy.example.com/v2"
