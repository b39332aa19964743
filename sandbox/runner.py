"""The sandbox: the real bot against the local Discord emulator and a fake midjourney-proxy.

`mjbot` with no Discord token runs :func:`run_sandbox`; the end-to-end tests use :class:`Sandbox`
directly, so what a newcomer sees is exactly what the tests exercise.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import SecretStr

from bot.config import AccountSettings, Settings, StartupError
from bot.discord_side.app import MjBot
from bot.domain import BackendKind
from sandbox.discord import DiscordEmulator, point_discord_py_at
from sandbox.discord.state import Event, Message
from sandbox.fake_aimg import TEST_SESSION_ID, FakeAimg
from sandbox.fake_mj_proxy import FakeMjProxy
from sandbox.playground import Playground


class FakeServer(Protocol):
    @property
    def base_url(self) -> str: ...

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class ExtraBackend:
    """Another fake service and the guild account that uses it (tests of other backends)."""

    fake: FakeServer
    kind: BackendKind
    name: str
    secret: str = ""
    max_jobs: int = 3
    options: dict[str, str] = field(default_factory=dict)


class Sandbox:
    """Emulator + fake backend + bot, all on loopback. The bot can be restarted on the same store."""

    def __init__(
        self,
        settings: Settings,
        *,
        store_path: Path,
        store_url: str | None = None,
        emulator: DiscordEmulator | None = None,
        proxy: FakeMjProxy | None = None,
        emulator_port: int = 0,
        max_jobs: int = 3,
        extra: Sequence[ExtraBackend] = (),
        with_proxy: bool = True,
        allow_private_backends: bool = True,
    ) -> None:
        self.emulator = emulator or DiscordEmulator()
        self.proxy = proxy or FakeMjProxy()
        self._base_settings = settings
        self._store_path = store_path
        #: A PostgreSQL store instead of the SQLite file (never the operator's own database).
        self._store_url = SecretStr(store_url) if store_url else None
        self._emulator_port = emulator_port
        self._max_jobs = max_jobs
        self.extra = list(extra)
        #: False: the guild has only the extra backends' accounts.
        self._with_proxy = with_proxy
        #: The fakes run on loopback, so accounts added with /setup may reach it unless a test
        #: checks the operator's default (False).
        self._allow_private_backends = allow_private_backends
        self.bot: MjBot | None = None
        self._bot_task: asyncio.Task[None] | None = None

    @property
    def settings(self) -> Settings:
        """The user's settings with the sandbox's token, store, web port and account."""
        world = self.emulator.world
        # Each guild of the world has its own account on the fake proxy.
        proxy_accounts = [
            AccountSettings(
                guild_id=guild.id,
                name="sandbox-proxy",
                kind=BackendKind.MJ_PROXY,
                base_url=self.proxy.base_url,
                secret=SecretStr(self.proxy.secret),
                max_jobs=self._max_jobs,
                options={"flavour": self.proxy.flavour},
            )
            for guild in world.guilds
        ]
        # One guild: its own commands, synced at once; several: global commands, as a public bot has.
        dev_guild = world.guild.id if len(world.guilds) == 1 else None
        return self._base_settings.model_copy(
            update={
                "discord": self._base_settings.discord.model_copy(
                    update={"token": SecretStr(world.token), "dev_guild_id": dev_guild}
                ),
                "store": self._base_settings.store.model_copy(
                    update={"path": self._store_path, "url": self._store_url}
                ),
                "web": self._base_settings.web.model_copy(
                    update={"host": "127.0.0.1", "port": 0, "public_url": None}
                ),
                "network": self._base_settings.network.model_copy(
                    update={"allow_private_backends": self._allow_private_backends}
                ),
                "accounts": (proxy_accounts if self._with_proxy else [])
                + [
                    AccountSettings(
                        guild_id=world.guild.id,
                        name=e.name,
                        kind=e.kind,
                        base_url=e.fake.base_url,
                        secret=SecretStr(e.secret),
                        max_jobs=e.max_jobs,
                        options=e.options,
                    )
                    for e in self.extra
                ],
            }
        )

    async def start(self) -> None:
        await self.emulator.start(port=self._emulator_port)
        await self.proxy.start()
        for e in self.extra:
            await e.fake.start()
        point_discord_py_at(self.emulator)
        await self.start_bot()

    async def start_bot(self) -> MjBot:
        settings = self.settings
        # The emulator sends every guild at once, so waiting 2 s for more is pointless here.
        bot = MjBot(settings, guild_ready_timeout=0.05)
        token = settings.discord.token
        assert token is not None
        self._bot_task = asyncio.create_task(bot.start(token.get_secret_value()), name="mjbot-sandbox-bot")
        ready = asyncio.create_task(bot.wait_until_ready())
        done, _ = await asyncio.wait({ready, self._bot_task}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            ready.cancel()
            if self._bot_task in done:
                self._bot_task.result()  # raises why the bot died
            raise TimeoutError("the bot did not become ready within 30 s")
        self.bot = bot
        return bot

    async def stop_bot(self) -> None:
        if self.bot is not None:
            await self.bot.close()
            self.bot = None
        if self._bot_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._bot_task
            self._bot_task = None

    async def restart_bot(self) -> MjBot:
        await self.stop_bot()
        return await self.start_bot()

    async def stop(self) -> None:
        await self.stop_bot()
        await self.proxy.stop()
        for e in self.extra:
            await e.fake.stop()
        await self.emulator.stop()


async def run_sandbox(
    settings: Settings, *, port: int = 8765, demo: bool = True, playground_port: int | None = None
) -> None:
    """What `mjbot` does with no token: start everything, open the playground, play a demo, keep running.

    The playground (the web page) listens on `playground_port`, by default the emulator's port + 1
    (any free port when the emulator's is 0).
    """
    with tempfile.TemporaryDirectory(prefix="mjbot-sandbox-") as tmp:
        # Slow enough to watch the progress in the demo.
        proxy = FakeMjProxy(step_seconds=0.8, progress_steps=3)
        # The mask editor is served by the bot on this machine, which the playground's browser reaches.
        settings = settings.model_copy(
            update={
                "jobs": settings.jobs.model_copy(update={"progress_edit_seconds": 0.5}),
                "web": settings.web.model_copy(update={"mask_editor": True}),
            }
        )
        # A fake AIMG service too, so the playground can use /aimg (in #after-dark).
        aimg = ExtraBackend(
            fake=FakeAimg(step_seconds=0.8),
            kind=BackendKind.AIMG,
            name="sandbox-aimg",
            secret=TEST_SESSION_ID,
        )
        sandbox = Sandbox(
            settings, store_path=Path(tmp) / "sandbox.sqlite3", proxy=proxy, emulator_port=port, extra=[aimg]
        )
        if playground_port is None:
            playground_port = port + 1 if port else 0
        with _port_in_use(port):
            await sandbox.start()
        playground = Playground(sandbox.emulator, sandbox.proxy)
        try:
            with _port_in_use(playground_port):
                await playground.start(port=playground_port)
        except BaseException:
            await sandbox.stop()
            raise
        emu = sandbox.emulator
        print(
            "mjbot sandbox is running.\n"
            f"  Discord emulator: {emu.base_url} (REST {emu.api_base}, gateway {emu.gateway_url})\n"
            f"  Fake midjourney-proxy: {sandbox.proxy.base_url}\n"
            f"  Server {emu.world.guild.name!r} with channels "
            + ", ".join(f"#{c.name}" for c in emu.world.guild.channels)
            + f"; members {emu.world.admin.username} (admin) and {emu.world.member.username}.\n"
            "\n"
            f"  ==> Open {playground.url} in your browser to use the bot as in Discord. <==\n",
            flush=True,
        )
        try:
            if demo:
                await play_demo(sandbox)
            print("The sandbox keeps running; press Ctrl+C to stop.", flush=True)
            await asyncio.Event().wait()
        finally:
            await playground.stop()
            await sandbox.stop()


@contextlib.contextmanager
def _port_in_use(port: int) -> Iterator[None]:
    """Turn "address already in use" into one sentence for `mjbot` to print."""
    try:
        yield
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise StartupError(
            f"Port {port} is already in use: stop what listens there, or start the sandbox on "
            "other ports with --port (e.g. mjbot --port 8800; the playground page uses the next port)."
        ) from None


async def play_demo(sandbox: Sandbox) -> None:
    """A member runs /imagine and clicks U1, as in Discord; the channel is printed as it changes."""
    emu = sandbox.emulator
    channel = emu.channel("art")
    member = emu.world.member
    names = {u.id: u.username for u in (emu.world.bot, emu.world.admin, member)}
    feed = emu.subscribe()
    printer = asyncio.create_task(_print_channel(feed, channel.id, names))
    try:
        prompt = "a lighthouse at dusk, oil painting"
        print(f"[demo] {member.username} types: /imagine prompt:{prompt}", flush=True)
        await emu.slash(member.id, channel.id, "imagine", prompt=prompt)
        grid = await emu.wait_for_message(
            channel.id, lambda m: bool(m.attachments) and bool(m.components), 60
        )
        u1 = _custom_id(grid, "U1")
        print(f"[demo] {member.username} clicks U1", flush=True)
        await emu.click(member.id, grid.id, u1)
        await emu.wait_for_message(
            channel.id, lambda m: m.id != grid.id and bool(m.attachments) and bool(m.components), 60
        )
        await asyncio.sleep(0.2)
        print("[demo] done: that is /imagine → grid → U1 through the real bot.\n", flush=True)
    finally:
        printer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await printer


def _custom_id(message: Message, label: str) -> str:
    for row in message.components:
        for component in row.get("components", []):
            if component.get("label") == label:
                return str(component["custom_id"])
    raise LookupError(f"no {label} button on message {message.id}")


async def _print_channel(feed: asyncio.Queue[Event], channel_id: int, names: dict[int, str]) -> None:
    while True:
        event = await feed.get()
        if event.kind not in ("message_created", "message_updated"):
            continue
        data: dict[str, Any] = event.data["message"]
        if int(data["channel_id"]) != channel_id:
            continue
        author = names.get(int(data["author"]["id"]), "?")
        buttons = [
            c.get("label") or c.get("emoji", {}).get("name", "")
            for row in data.get("components", [])
            for c in row.get("components", [])
        ]
        files = [a["filename"] for a in data.get("attachments", [])]
        verb = "posts" if event.kind == "message_created" else "edits"
        line = f"  {author} {verb}: {data.get('content', '')}"
        if files:
            line += f"  [image: {', '.join(files)}]"
        if buttons:
            line += f"  [buttons: {' '.join(buttons)}]"
        print(line, flush=True)
