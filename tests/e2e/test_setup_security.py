"""/setup against a server admin who is a stranger to the operator: accounts added in Discord reach
only public addresses (unless the operator allows more), never carry a stored secret to a new
host, take only the options their service has, and `account test` never shows what a service
answered."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.config import NetworkSettings, Settings
from bot.domain import BackendKind
from sandbox.discord import Interaction
from sandbox.fake_mj_proxy import FakeMjProxy
from sandbox.runner import Sandbox
from tests.e2e.conftest import FAST_JOBS, Running

SECRET = "sk-stored-secret-5678"
INTERNAL = "INTERNAL-ONLY admin page"
SECRET_FIELD = "Secret (API key, token or session id)"


class Internal:
    """A service on the bot's own machine that no server admin should reach: it records every
    request (path, query and headers) and answers with a body that must never be shown."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def _any(self, request: web.Request) -> web.Response:
        self.requests.append((str(request.rel_url), dict(request.headers)))
        return web.Response(status=500, text=INTERNAL)

    async def start(self, host: str = "127.0.0.1") -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._any)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def internal() -> AsyncIterator[Internal]:
    server = Internal()
    await server.start()
    yield server
    await server.stop()


async def _reply(box: Sandbox, inter: Interaction) -> str:
    def text() -> str | None:
        for m in inter.ephemeral:
            body = m.content + " ".join(str(e) for e in m.embeds)
            if body.strip() and not m.loading:
                return body
        return None

    return await box.emulator.wait_for(text, timeout=10)


async def _setup(box: Sandbox, subcommand: str, **options: Any) -> str:
    emu = box.emulator
    return await _reply(
        box,
        await emu.slash(
            emu.world.admin.id, emu.channel("general").id, "setup", subcommand=subcommand, **options
        ),
    )


async def _add(box: Sandbox, name: str, base_url: str, secret: str = "", **options: Any) -> str:
    emu = box.emulator
    inter = await emu.slash(
        emu.world.admin.id,
        emu.channel("general").id,
        "setup",
        subcommand="account add",
        kind=options.pop("kind", "mj_proxy"),
        name=name,
        base_url=base_url,
        **options,
    )
    await emu.wait_for_response(inter)
    assert inter.modal is not None
    done = await emu.submit_modal(inter, inter.modal["custom_id"], {SECRET_FIELD: secret})
    return await _reply(box, done)


# ------------------------------------------------------------------------ private addresses


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "169.254.169.254"])
async def test_an_admin_cannot_point_an_account_at_the_bot_s_own_network(
    make_sandbox: Callable[..., Sandbox], internal: Internal, host: str
) -> None:
    async with Running(make_sandbox(allow_private_backends=False)) as box:
        port = internal.port if host != "169.254.169.254" else 80
        added = await _add(box, "inside", f"http://{host}:{port}/admin/x?")
        assert "private or local network" in added
        assert "inside" not in await _setup(box, "account list")
    assert internal.requests == []


async def test_the_operator_may_allow_some_private_networks(tmp_path: Path) -> None:
    settings = Settings(jobs=FAST_JOBS, network=NetworkSettings(private_backend_networks=["127.0.0.1/32"]))
    outside = FakeMjProxy()
    # The operator allows 127.0.0.1 only, so the sandbox's fakes can be added; ::1 and 10/8 stay out.
    box = Sandbox(settings, store_path=tmp_path / "mjbot.sqlite3", allow_private_backends=False)
    async with Running(box):
        await outside.start()
        try:
            assert "Added" in await _add(box, "outside", outside.base_url)
            assert "✅ outside" in await _setup(box, "account test", name="outside")
            refused = await _setup(box, "account edit", name="outside", base_url="http://[::1]:8080")
            assert "private or local network" in refused
            refused = await _setup(box, "account edit", name="outside", base_url="http://10.1.2.3:8080")
            assert "private or local network" in refused
        finally:
            await outside.stop()


async def test_every_connection_is_checked_not_only_the_address_typed(
    make_sandbox: Callable[..., Sandbox], internal: Internal
) -> None:
    """An account whose host resolves somewhere private later (DNS rebinding, or an account added
    while the operator allowed it) still cannot reach it: the address connected to is checked."""
    async with Running(make_sandbox(allow_private_backends=False)) as box:
        assert box.bot is not None
        emu = box.emulator
        await box.bot.store.add_account(
            guild_id=emu.world.guild.id,
            name="rebound",
            kind=BackendKind.MJ_PROXY,
            base_url=f"http://localhost:{internal.port}/admin/x?",
            secret="",
            max_jobs=1,
            channel_id=None,
            options={},
            created_by=emu.world.admin.id,
        )
        await box.bot.engine.setup.reload_accounts()
        tested = await _setup(box, "account test", name="rebound")
        assert tested.startswith("❌ rebound") and "unreachable" in tested
        # The operator's own account on loopback (the config file's) keeps working.
        assert (await _setup(box, "account test", name="sandbox-proxy")).startswith("✅ sandbox-proxy")
    assert internal.requests == []


async def test_account_test_never_shows_what_the_service_answered(
    sandbox: Sandbox, internal: Internal
) -> None:
    # The sandbox's operator allows loopback: the request is made, its answer is not shown.
    assert "Added" in await _add(sandbox, "inside", f"http://127.0.0.1:{internal.port}/admin/x?")
    tested = await _setup(sandbox, "account test", name="inside")
    assert internal.requests, "the operator allows loopback here, so the call is made"
    assert tested.startswith("❌ inside")
    assert INTERNAL not in tested and "500" not in tested


# ------------------------------------------------------------------- secrets and new hosts


async def test_a_new_host_clears_the_stored_secret_until_it_is_entered_again(
    make_sandbox: Callable[..., Sandbox], internal: Internal
) -> None:
    home = FakeMjProxy(secret=SECRET, step_seconds=0.02)
    async with Running(make_sandbox()) as box:
        await home.start()
        try:
            assert "Added" in await _add(box, "mine", home.base_url, SECRET)
            # Same scheme, host and port: the secret stays.
            kept = await _setup(box, "account edit", name="mine", base_url=home.base_url + "/")
            assert "secret: set (hidden)" in kept

            thief = f"http://127.0.0.1:{internal.port}"
            moved = await _setup(box, "account edit", name="mine", base_url=thief)
            assert "secret: none" in moved and "/setup account secret" in moved
            await _setup(box, "account test", name="mine")
            assert internal.requests
            assert not [r for r in internal.requests if SECRET in str(r)]
            listing = await _setup(box, "account list")
            assert "out of rotation" in listing

            # Back home, the admin types the secret again: in rotation, and it works.
            await _setup(box, "account edit", name="mine", base_url=home.base_url)
            emu = box.emulator
            inter = await emu.slash(
                emu.world.admin.id,
                emu.channel("general").id,
                "setup",
                subcommand="account secret",
                name="mine",
            )
            await emu.wait_for_response(inter)
            assert inter.modal is not None
            await _reply(box, await emu.submit_modal(inter, inter.modal["custom_id"], {SECRET_FIELD: SECRET}))
            assert "out of rotation" not in (await _setup(box, "account list")).split("mine")[1]
            assert (await _setup(box, "account test", name="mine")).startswith("✅ mine")
        finally:
            await home.stop()


# ----------------------------------------------------------------------------- options


async def test_options_a_service_does_not_have_are_refused(sandbox: Sandbox, internal: Internal) -> None:
    token = "MTIzNDU2Nzg5.discord-user-token"
    added = await _add(
        sandbox, "hosted", f"http://127.0.0.1:{internal.port}", kind="useapi", options=f"discord={token}"
    )
    assert "no option 'discord'" in added and "channel=" in added
    assert token not in added
    listing = await _setup(sandbox, "account list")
    assert "hosted" not in listing and token not in listing
    assert "Added" in await _add(
        sandbox,
        "hosted",
        f"http://127.0.0.1:{internal.port}",
        kind="useapi",
        options="channel=123; server=456",
    )


# ----------------------------------------------------------------------------- autocomplete


async def test_account_names_are_not_offered_to_members(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    general = emu.channel("general").id
    offered = await emu.autocomplete(
        emu.world.admin.id, general, "setup", "name", subcommand="account test", name=""
    )
    assert [c["value"] for c in offered] == ["sandbox-proxy"]
    hidden = await emu.autocomplete(
        emu.world.member.id, general, "setup", "name", subcommand="account test", name=""
    )
    assert hidden == []


# ------------------------------------------------------------------ credentials in addresses


async def test_credentials_inside_a_base_url_are_never_shown(sandbox: Sandbox, internal: Internal) -> None:
    base = f"http://operator:hunter2pass@127.0.0.1:{internal.port}/api?token=tok-abc123&key=key-xyz789"
    added = await _add(sandbox, "withcreds", base)
    listing = await _setup(sandbox, "account list")
    shown = await _setup(sandbox, "show")
    await _setup(sandbox, "account edit", name="withcreds", base_url=base + "&v=2")
    audit = await _setup(sandbox, "audit")
    for text in (added, listing, shown, audit):
        for secret in ("hunter2pass", "tok-abc123", "key-xyz789"):
            assert secret not in text
    assert f"***@127.0.0.1:{internal.port}/api?token=***&key=***" in listing
