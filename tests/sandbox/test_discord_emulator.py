"""End-to-end: a real discord.py bot, defined here, against the Discord emulator over loopback."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import discord.gateway
import discord.http
import pytest
from discord import app_commands
from discord.ext import commands
from PIL import Image

from sandbox.discord import DiscordEmulator, DriverError, Limits, Rate, point_discord_py_at

pytestmark = pytest.mark.timeout(30)


def png(width: int = 8, height: int = 6) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "red").save(out, "PNG")
    return out.getvalue()


class JobButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"job:(?P<key>\w+):(?P<n>\d)"):
    def __init__(self, key: str, n: int) -> None:
        super().__init__(discord.ui.Button(label=f"U{n}", custom_id=f"job:{key}:{n}"))
        self.key = key

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> JobButton:
        return cls(match["key"], int(match["n"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(EditModal(self.key))


class EditModal(discord.ui.Modal, title="Edit prompt"):
    prompt: discord.ui.TextInput[EditModal] = discord.ui.TextInput(label="Prompt", max_length=50)

    def __init__(self, key: str) -> None:
        super().__init__(custom_id=f"modal:{key}")
        self.key = key

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"re-rolling {self.key}: {self.prompt.value}", ephemeral=True)


class SettingsModal(discord.ui.Modal, title="Settings"):
    intro: discord.ui.TextDisplay[Any] = discord.ui.TextDisplay("Choose how images look.")
    style: discord.ui.Label[SettingsModal] = discord.ui.Label(
        text="Style", component=discord.ui.TextInput(custom_id="style", min_length=3)
    )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        assert isinstance(self.style.component, discord.ui.TextInput)
        await interaction.response.send_message(f"style={self.style.component.value}", ephemeral=True)


class SandboxBot(commands.Bot):
    def __init__(self) -> None:
        super().__init__(command_prefix="!", intents=discord.Intents.default())
        self.ready = asyncio.Event()
        self.held: list[discord.Interaction] = []
        self.seen: list[str] = []
        self.holding = asyncio.Event()

        @self.tree.command(description="Answer with an image grid")
        async def ping(
            interaction: discord.Interaction, text: str, image: discord.Attachment | None = None
        ) -> None:
            self.held.append(interaction)
            await interaction.response.defer()
            self.seen.append(
                f"ping {text} {image.filename if image else None} {image and await image.read()!r}"
            )
            view = discord.ui.View(timeout=None)
            for n in range(1, 5):
                view.add_item(JobButton("job42", n))
            await interaction.edit_original_response(
                content=f"pong {text}", attachments=[discord.File(io.BytesIO(png()), "grid.png")], view=view
            )

        @self.tree.command(description="Post buttons")
        async def buttons(interaction: discord.Interaction) -> None:
            view = discord.ui.View(timeout=None)
            view.add_item(JobButton("b7", 1))
            view.add_item(discord.ui.Button(label="docs", url="https://example.com"))
            await interaction.response.send_message("pick one", view=view)

        @self.tree.command(description="Open a modal")
        async def edit(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(EditModal("direct"))

        @self.tree.command(description="Open a modal made of labels")
        async def settings(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(SettingsModal(custom_id="settings"))

        @self.tree.command(description="Keep the interaction without answering")
        async def hold(interaction: discord.Interaction) -> None:
            self.held.append(interaction)
            self.holding.set()

        @self.tree.command(description="Think, then answer privately twice")
        async def later(interaction: discord.Interaction) -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            await interaction.followup.send("first", ephemeral=True)
            await interaction.followup.send("second", ephemeral=True)

        @self.tree.command(description="Pick a style")
        async def style(interaction: discord.Interaction, name: str) -> None:
            await interaction.response.send_message(name, ephemeral=True)

        @style.autocomplete("name")
        async def style_names(
            interaction: discord.Interaction, current: str
        ) -> list[app_commands.Choice[str]]:
            return [
                app_commands.Choice(name=s, value=s)
                for s in ("raw", "vivid", "retro")
                if s.startswith(current)
            ]

    async def setup_hook(self) -> None:
        self.add_dynamic_items(JobButton)
        await self.tree.sync()

    async def on_ready(self) -> None:
        self.ready.set()


@pytest.fixture
async def emulator() -> AsyncIterator[DiscordEmulator]:
    saved = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    emu = DiscordEmulator()
    await emu.start()
    point_discord_py_at(emu)
    yield emu
    await emu.stop()
    discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved


@pytest.fixture
async def bot(emulator: DiscordEmulator) -> AsyncIterator[SandboxBot]:
    client = SandboxBot()
    client._connection.guild_ready_timeout = 0.05
    task = asyncio.create_task(client.start(emulator.world.token))
    await asyncio.wait_for(client.ready.wait(), 5)
    yield client
    await client.close()
    await task


def channel(bot: SandboxBot, emu: DiscordEmulator, name: str = "general") -> discord.TextChannel:
    found = bot.get_channel(emu.channel(name).id)
    assert isinstance(found, discord.TextChannel)
    return found


async def test_login_sync_and_guild(emulator: DiscordEmulator, bot: SandboxBot) -> None:
    routes = [(c.method, c.route) for c in emulator.calls]
    assert routes[:3] == [
        ("GET", "/users/@me"),
        ("GET", "/oauth2/applications/@me"),
        ("PUT", "/applications/{application_id}/commands"),
    ]
    ping = emulator.driver.command("ping")
    assert [(o["name"], o["type"], o.get("required", False)) for o in ping["options"]] == [
        ("text", 3, True),
        ("image", 11, False),
    ]
    guild = bot.get_guild(emulator.world.guild.id)
    assert guild is not None
    assert {c.name for c in guild.text_channels} == {"general", "art", "after-dark"}
    assert channel(bot, emulator, "after-dark").is_nsfw()
    assert emulator.violations == []


async def test_wrong_token_is_refused(emulator: DiscordEmulator) -> None:
    client = SandboxBot()
    with pytest.raises(discord.LoginFailure):
        await client.login("not-the-token")
    await client.close()
    assert emulator.violations[0].status == 401


async def test_slash_defer_edit_click_modal_submit(emulator: DiscordEmulator, bot: SandboxBot) -> None:
    world, general = emulator.world, emulator.channel("general").id
    upload = ("cat.png", png(4, 3), "image/png")
    ping = await emulator.slash(world.member.id, general, "ping", text="hello", image=upload)
    await emulator.wait_for(lambda: ping.original is not None and not ping.original.loading)
    assert ping.response_type == 5
    original = ping.original
    assert original is not None
    assert original.content == "pong hello"
    assert [(a.filename, a.width, a.height) for a in original.attachments] == [("grid.png", 8, 6)]
    assert bot.seen == [f"ping hello cat.png {upload[1]!r}"]  # Attachment.read() fetched the emulator URL
    assert emulator.messages(general) == [original]

    click = await emulator.click(world.member.id, original.id, "job:job42:2")
    await emulator.wait_for_response(click)
    assert click.response_type == 9
    assert click.modal is not None
    assert click.modal["custom_id"] == "modal:job42"

    with pytest.raises(DriverError):
        await emulator.submit_modal(click, "modal:job42", {"prompt": "x" * 51})  # max_length=50
    submit = await emulator.submit_modal(click, "modal:job42", {"prompt": "a blue fox"})
    await emulator.wait_for_response(submit)
    assert [m.content for m in submit.ephemeral] == ["re-rolling job42: a blue fox"]
    assert emulator.messages(general) == [original]  # the ephemeral reply is not public
    assert emulator.messages(general, viewer=world.member.id)[-1].content.startswith("re-rolling")

    edit_call = next(c for c in emulator.calls if c.method == "PATCH")
    assert edit_call.route == "/webhooks/{webhook_id}/{webhook_token}/messages/@original"
    assert edit_call.files == [("grid.png", len(png()))]
    assert emulator.violations == []


async def test_button_command_modal_command_and_autocomplete(
    emulator: DiscordEmulator, bot: SandboxBot
) -> None:
    world, art = emulator.world, emulator.channel("art").id
    posted = await emulator.slash(world.admin.id, art, "buttons")
    await emulator.wait_for_response(posted)
    assert posted.original is not None
    with pytest.raises(DriverError, match=r"not a clickable button|no component"):
        await emulator.click(world.admin.id, posted.original.id, "nope")
    click = await emulator.click(world.admin.id, posted.original.id, "job:b7:1")
    await emulator.wait_for_response(click)
    assert click.modal is not None

    opened = await emulator.slash(world.member.id, art, "edit")
    await emulator.wait_for_response(opened)
    submit = await emulator.submit_modal(world.member.id, "modal:direct", {"prompt": "retro"})
    await emulator.wait_for_response(submit)
    assert submit.ephemeral[0].content == "re-rolling direct: retro"

    opened = await emulator.slash(world.member.id, art, "settings")
    await emulator.wait_for_response(opened)
    with pytest.raises(DriverError, match="3-4000"):
        await emulator.submit_modal(opened, "settings", {"Style": "no"})
    submit = await emulator.submit_modal(opened, "settings", {"Style": "vivid"})
    await emulator.wait_for_response(submit)
    assert submit.ephemeral[0].content == "style=vivid"

    assert await emulator.autocomplete(world.member.id, art, "style", "name", name="r") == [
        {"name": "raw", "value": "raw"},
        {"name": "retro", "value": "retro"},
    ]
    with pytest.raises(DriverError, match="required"):
        await emulator.slash(world.member.id, art, "ping")
    with pytest.raises(DriverError, match="no slash command"):
        await emulator.slash(world.member.id, art, "imagine")
    assert emulator.violations == []


async def test_limits_reject_what_discord_rejects(emulator: DiscordEmulator, bot: SandboxBot) -> None:
    general = channel(bot, emulator)
    with pytest.raises(discord.HTTPException) as too_long:
        await general.send("x" * 2001)
    assert (too_long.value.status, too_long.value.code) == (400, 50035)
    assert emulator.violations[-1].errors == {
        "content": {
            "_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]
        }
    }

    view = discord.ui.View()
    view.add_item(discord.ui.Button(label="long", custom_id="c" * 101))
    with pytest.raises(discord.HTTPException) as long_id:
        await general.send("hi", view=view)
    assert long_id.value.code == 50035
    assert "custom_id" in str(emulator.violations[-1].errors)

    # discord.py refuses a 6th row itself, so send the raw body Discord would receive.
    rows = [
        {"type": 1, "components": [{"type": 2, "style": 1, "label": "b", "custom_id": f"r{i}"}]}
        for i in range(6)
    ]
    route = discord.http.Route("POST", "/channels/{channel_id}/messages", channel_id=general.id)
    with pytest.raises(discord.HTTPException) as six_rows:
        await bot.http.request(route, json={"content": "rows", "components": rows})
    assert six_rows.value.code == 50035
    assert emulator.violations[-1].errors == {
        "components": {
            "_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 5 or fewer in length."}]
        }
    }

    with pytest.raises(discord.HTTPException) as not_in_spec:
        await bot.http.request(route, json={"content": "x", "embeds": [{"title": 5}]})
    assert not_in_spec.value.code == 50035
    assert emulator.violations[-1].errors == {
        "embeds": {
            "0": {
                "title": {
                    "_errors": [{"code": "SCHEMA_TYPE", "message": "5 is not of type 'string', 'null'"}]
                }
            }
        }
    }

    with pytest.raises(discord.HTTPException) as empty:
        await bot.http.request(route, json={"content": ""})
    assert empty.value.code == 50006
    assert len(emulator.violations) == 5
    assert emulator.messages(general.id) == []


async def test_late_callback_and_expired_token(emulator: DiscordEmulator, bot: SandboxBot) -> None:
    world, general = emulator.world, emulator.channel("general").id
    held = await emulator.slash(world.member.id, general, "hold")
    await asyncio.wait_for(bot.holding.wait(), 5)  # the bot's own state: the emulator cannot see it
    emulator.clock.advance(3.1)
    with pytest.raises(discord.NotFound) as late:
        await bot.held[0].response.defer()
    assert late.value.code == 10062
    assert held.error is not None
    assert held.error.code == 10062

    ping = await emulator.slash(world.member.id, general, "ping", text="t")
    await emulator.wait_for(lambda: ping.original is not None and not ping.original.loading)
    emulator.clock.advance(15 * 60 + 1)
    with pytest.raises(discord.HTTPException) as expired:
        await bot.held[1].edit_original_response(content="late")
    assert (expired.value.status, expired.value.code) == (401, 50027)
    assert ping.error is not None


async def test_rate_limits_are_retried(emulator: DiscordEmulator, bot: SandboxBot) -> None:
    emulator.limits.channel_edit_rate = Rate(1, 0.3)
    general = channel(bot, emulator)
    message = await general.send("v1")
    await message.edit(content="v2")
    await message.edit(content="v3")  # refused with 429 once, then retried by discord.py
    assert emulator.message(message.id).content == "v3"
    assert [(c.status, c.scope) for c in emulator.rate_limited] == [(429, "shared")]
    assert emulator.violations == []
    patch = [c for c in emulator.calls if c.method == "PATCH"]
    assert [c.status for c in patch] == [200, 429, 200]


async def test_injected_fault_and_event_stream(emulator: DiscordEmulator, bot: SandboxBot) -> None:
    events = emulator.subscribe()
    general = channel(bot, emulator)
    message = await general.send("hello")
    emulator.inject_fault("PATCH /channels/*/messages/*", 404, code=10008, message="Unknown Message")
    with pytest.raises(discord.NotFound):
        await message.edit(content="gone?")
    await message.edit(content="edited")
    kinds = []
    while not events.empty():
        kinds.append(events.get_nowait().kind)
    assert kinds == ["message_created", "message_updated"]
    assert emulator.violations == []


def test_limits_are_configurable() -> None:
    limits = Limits(content=10, route_rates={"POST /channels/{channel_id}/messages": Rate(5, 5.0)})
    assert DiscordEmulator(limits=limits).limits.content == 10


async def test_followups_after_an_ephemeral_defer(emulator: DiscordEmulator, bot: SandboxBot) -> None:
    world, general = emulator.world, emulator.channel("general").id
    later = await emulator.slash(world.admin.id, general, "later")
    await emulator.wait_for(lambda: len(later.followups) == 1)
    # Discord: the first followup after a defer fills the "thinking…" message.
    assert [m.content for m in later.ephemeral] == ["first", "second"]
    assert later.original is not None
    assert not later.original.loading
    assert emulator.messages(general) == []
    assert emulator.violations == []


async def test_channel_files_edits_and_limits(emulator: DiscordEmulator, bot: SandboxBot) -> None:
    general = channel(bot, emulator, "art")
    files = [discord.File(io.BytesIO(png()), "a.png"), discord.File(io.BytesIO(b"notes"), "b.txt")]
    message = await general.send("two files", files=files)
    assert [a.filename for a in message.attachments] == ["a.png", "b.txt"]
    assert (message.attachments[0].width, message.attachments[0].content_type) == (8, "image/png")
    assert await message.attachments[1].read() == b"notes"

    edited = await message.edit(
        attachments=[message.attachments[1], discord.File(io.BytesIO(b"new"), "c.txt")]
    )
    assert [a.filename for a in edited.attachments] == ["b.txt", "c.txt"]
    assert [a.filename for a in emulator.message(message.id).attachments] == ["b.txt", "c.txt"]

    emulator.limits.attachment_size_limit = 100
    with pytest.raises(discord.HTTPException) as too_big:
        await general.send(file=discord.File(io.BytesIO(b"x" * 101), "big.bin"))
    assert (too_big.value.status, too_big.value.code) == (413, 40005)

    with pytest.raises(discord.NotFound):
        await bot.http.request(
            discord.http.Route("GET", "/guilds/{guild_id}/bans", guild_id=general.guild.id)
        )
    assert [(v.status, v.route) for v in emulator.violations] == [
        (413, "/channels/{channel_id}/messages"),
        (404, None),
    ]


async def test_attachment_links_are_signed_and_expire(emulator: DiscordEmulator, bot: SandboxBot) -> None:
    message = await channel(bot, emulator, "art").send(file=discord.File(io.BytesIO(b"notes"), "a.txt"))
    url = message.attachments[0].url
    query = dict(part.split("=") for part in url.split("?")[1].split("&") if part)
    assert set(query) == {"ex", "is", "hm"}
    assert int(query["ex"], 16) - int(query["is"], 16) == pytest.approx(
        emulator.limits.attachment_url_seconds, abs=1
    )
    path = url.split("?")[0]
    forged = url.replace(query["hm"], "0" * len(query["hm"]))
    later = url.replace(query["ex"], f"{int(query['ex'], 16) + 3600:x}")  # a longer life, same signature
    async with aiohttp.ClientSession() as http:
        for probe, status in ((url, 200), (path, 404), (forged, 404), (later, 404)):
            async with http.get(probe) as response:
                assert (probe, response.status) == (probe, status)
        emulator.clock.advance(emulator.limits.attachment_url_seconds + 1)
        async with http.get(url) as response:
            assert response.status == 404
            assert await response.text() == "This content is no longer available."


async def test_global_rate_limit_and_gateway_resume(emulator: DiscordEmulator, bot: SandboxBot) -> None:
    emulator.limits.global_rate = Rate(2, 0.2)
    general = channel(bot, emulator)
    for n in range(3):
        await general.send(f"m{n}")
    assert [(c.status, c.scope) for c in emulator.rate_limited] == [(429, "global")]
    assert [m.content for m in emulator.messages(general.id)] == ["m0", "m1", "m2"]

    await emulator.reconnect_gateway()
    await emulator.wait_for(lambda: any(e.kind == "gateway_resumed" for e in emulator.events))
    ping = await emulator.slash(emulator.world.member.id, general.id, "ping", text="after resume")
    await emulator.wait_for(lambda: ping.original is not None and not ping.original.loading)
    assert emulator.violations == []


async def _identify(emu: DiscordEmulator, shard: list[int]) -> tuple[aiohttp.ClientSession, Any, list[Any]]:
    """A raw gateway session identified on ``shard``, and the dispatches it got up to its guilds."""
    http = aiohttp.ClientSession()
    ws = await http.ws_connect(emu.gateway_url)
    await ws.receive_json()  # HELLO
    await ws.send_json(
        {"op": 2, "d": {"token": emu.world.token, "intents": 1, "shard": shard, "properties": {}}}
    )
    ready = (await ws.receive_json())["d"]
    creates = [(await ws.receive_json())["d"] for _ in ready["guilds"]]
    return http, ws, [ready, *creates]


async def test_shards_get_only_their_guilds() -> None:
    emu = DiscordEmulator(guilds=3, recommended_shards=3)
    await emu.start()
    try:
        seen = {}
        for shard in range(3):
            http, ws, (ready, *creates) = await _identify(emu, [shard, 3])
            assert ready["shard"] == [shard, 3]
            seen[shard] = [int(g["id"]) for g in creates]
            assert [g["id"] for g in ready["guilds"]] == [g["id"] for g in creates]
            await ws.close()
            await http.close()
        assert sorted(gid for ids in seen.values() for gid in ids) == sorted(g.id for g in emu.world.guilds)
        assert all((gid >> 22) % 3 == shard for shard, ids in seen.items() for gid in ids)

        async with aiohttp.ClientSession() as http, http.ws_connect(emu.gateway_url) as ws:
            await ws.receive_json()  # HELLO
            await ws.send_json({"op": 2, "d": {"token": emu.world.token, "intents": 1, "shard": [3, 3]}})
            assert (await ws.receive()).type == aiohttp.WSMsgType.CLOSE
            assert ws.close_code == 4010
    finally:
        await emu.stop()


async def test_a_guild_event_reaches_only_the_shard_that_holds_the_guild() -> None:
    emu = DiscordEmulator(guilds=2, recommended_shards=2)
    await emu.start()
    try:
        sessions = [await _identify(emu, [shard, 2]) for shard in range(2)]
        guild = emu.world.guilds[1]
        holder = (guild.id >> 22) % 2
        await emu.gateway.dispatch("GUILD_UPDATE", {"guild_id": str(guild.id), "id": str(guild.id)})
        got = await sessions[holder][1].receive_json(timeout=2)
        assert got["t"] == "GUILD_UPDATE"
        with pytest.raises(asyncio.TimeoutError):
            await sessions[1 - holder][1].receive_json(timeout=0.3)
        for http, ws, _ in sessions:
            await ws.close()
            await http.close()
    finally:
        await emu.stop()


async def test_heartbeats_are_acknowledged_after_a_round_trip(
    emulator: DiscordEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    """An ACK sent the instant a heartbeat arrives beats discord.py's own note of the send, which
    its log then reports as a 40 s delay ("Can't keep up"); Discord's answer takes a round trip."""
    emulator.gateway.heartbeat_interval_ms = 1000
    client = SandboxBot()
    client._connection.guild_ready_timeout = 0.05
    task = asyncio.create_task(client.start(emulator.world.token))
    try:
        await asyncio.wait_for(client.ready.wait(), 5)
        await asyncio.sleep(2.5)  # two heartbeats
        # An instant ACK measures from the heartbeat before (the interval, 1 s here, 41 s on Discord).
        assert client.latency < 0.5
        assert "Can't keep up" not in caplog.text
    finally:
        await client.close()
        await task


def _command_with(option_names: list[dict[str, str]], **extra: Any) -> dict[str, Any]:
    options = [
        {"type": 3, "name": f"opt{i}", "description": "An option.", "name_localizations": names}
        for i, names in enumerate(option_names)
    ]
    return {"type": 1, "name": "draw", "description": "Draw.", "options": options, **extra}


async def test_localized_names_follow_discords_name_rules(emulator: DiscordEmulator, bot: SandboxBot) -> None:
    app_id = emulator.world.application_id
    fine = _command_with(
        [{"zh-CN": "提示词", "ja": "プロンプト"}, {"hi": "इमेज", "th": "ภาพ"}, {"zh-CN": "图片1"}],
        description_localizations={"zh-CN": "画画。"},
    )
    await bot.http.bulk_upsert_global_commands(app_id, [fine])
    assert emulator.violations == []
    refused: list[tuple[dict[str, Any], str, str]] = [
        (_command_with([{"zh-CN": "Prompt"}]), "APPLICATION_COMMAND_INVALID_NAME", "zh-CN"),
        (_command_with([{"ja": "画像 1"}]), "APPLICATION_COMMAND_INVALID_NAME", "ja"),
        (_command_with([{"ja": "・点"}]), "APPLICATION_COMMAND_INVALID_NAME", "ja"),
        (_command_with([{"zh-CN": "长" * 33}]), "SCHEMA_MAXLENGTH", "zh-CN"),  # the spec says it
        (_command_with([{"zh": "提示词"}]), "LOCALE_INVALID", "zh"),
        (
            _command_with([{"zh-CN": "图片"}, {"zh-CN": "图片"}]),
            "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
            "",
        ),
        (_command_with([], description_localizations={"jp": "描く。"}), "LOCALE_INVALID", "jp"),
    ]
    for command, code, where in refused:
        with pytest.raises(discord.HTTPException) as error:
            await bot.http.bulk_upsert_global_commands(app_id, [command])
        assert error.value.code == 50035
        errors = str(emulator.violations[-1].errors)
        assert code in errors and where in errors, (command, errors)
    assert len(emulator.violations) == len(refused)
