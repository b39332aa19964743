"""The bot: a commands.Bot subclass whose setup_hook wires the store, engine, web server and cogs."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from typing import Any

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands
from discord.http import Route

from bot.config import Settings
from bot.discord_side.early_acks import EarlyAcks, early_names
from bot.discord_side.host import Host
from bot.discord_side.language import CatalogTranslator
from bot.discord_side.publisher import JobPublisher
from bot.http_client import make_http_client
from bot.i18n import render, tr
from bot.jobs.accounts import AccountPool
from bot.jobs.engine import JobEngine
from bot.mask_editor import LinkSigner, MaskEditor
from bot.metrics import Metrics
from bot.ops import OpsRoutes
from bot.relay import PushRelay
from bot.shards import owns
from bot.store import Store, open_store
from bot.web import WebServer

log = logging.getLogger(__name__)

#: One extension per feature, loaded in this order.
EXTENSIONS = (
    "cogs.buttons",
    "cogs.imagine",
    "cogs.settings",
    "cogs.preferences",
    "cogs.aimg",
    "cogs.setup",
    "cogs.member",
    "cogs.errors",
)

#: What a member reads (in their language) when they start something while the bot shuts down.
RESTARTING = tr("The bot is restarting, try again in a minute.")
#: A shutdown (SIGTERM) ends within this many seconds; the last is kept for closing.
SHUTDOWN_SECONDS = 10.0
_CLOSE_RESERVE = 2.0
#: Commands acknowledged just before the shutdown get this long to store their jobs.
_ACKED_GRACE = 0.5
_AUTOCOMPLETE = 4
_CHANNEL_MESSAGE, _AUTOCOMPLETE_RESULT, _EPHEMERAL = 4, 8, 64


class JobTree(app_commands.CommandTree["MjBot"]):
    async def interaction_check(self, interaction: discord.Interaction[MjBot], /) -> bool:
        # First thing for every command: take over its acknowledgement if it was sent early.
        await self.client.early_acks.claim(interaction)
        return True


class MjBot(Host):
    # Set in setup_hook; typed here (and in Host) so cogs can rely on them.
    store: Store
    publisher: JobPublisher
    web: WebServer
    early_acks: EarlyAcks
    #: None when Vary (Region) uses the region modal instead ([web] mask_editor).
    mask_editor: MaskEditor | None
    #: Set when this process runs some of the shards (docs/scaling.md).
    relay: PushRelay | None = None
    _resuming: asyncio.Task[None] | None = None

    def __init__(self, settings: Settings, **options: Any) -> None:
        # discord.py's gateway DEBUG lines echo raw events, including what members type into
        # modals (account secrets): keep that logger at INFO whatever the level asked for.
        gateway_log = logging.getLogger("discord.gateway")
        gateway_log.setLevel(max(gateway_log.getEffectiveLevel(), logging.INFO))
        # The bot never joins voice; skip discord.py's warnings about voice libraries.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        intents = discord.Intents.none()
        intents.guilds = True
        metrics = Metrics()
        if settings.discord.shard_ids is not None:
            options["shard_ids"] = settings.discord.shard_ids  # this process's part (docs/scaling.md)
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=JobTree,
            shard_count=settings.discord.shard_count,
            http_trace=metrics.discord_trace(),
            **options,
        )
        self.settings = settings
        self.metrics = metrics
        self.http_client = make_http_client()
        #: For accounts added in Discord: only where the operator allows (see [network]).
        self.guarded_http = make_http_client(settings.network.policy())
        #: Set by a shutdown: new interactions are refused, /readyz says 503.
        self.stopping = False
        self._shutdown: asyncio.Task[None] | None = None
        self._refusals: set[asyncio.Task[None]] = set()

    async def setup_hook(self) -> None:
        settings = self.settings
        self.store, box = await open_store(settings.store)
        accounts = AccountPool(self.http_client, guarded=self.guarded_http, policy=settings.network.policy())
        config_secrets = await self._upsert_config_accounts()
        self.publisher = JobPublisher(self, settings.jobs.progress_edit_seconds)
        shards, shard_count = settings.discord.shard_ids, settings.discord.shard_count
        self.engine = JobEngine(
            self.store,
            accounts,
            self.publisher,
            settings.jobs,
            config_secrets,
            metrics=self.metrics,
            owns=lambda guild_id: owns(guild_id, shards, shard_count),
        )
        await self.engine.setup.reload_accounts()
        ops = OpsRoutes(
            self.metrics,
            self.engine,
            self.store,
            gateway_open=self._gateway_open,
            stopping=lambda: self.stopping,
        )
        web = settings.web
        # Only a process that runs some of the shards has pushes to hand to others.
        self.relay = (
            None
            if shards is None or shard_count is None
            else PushRelay(self.store, self.engine, shards, shard_count)
        )
        self.web = WebServer(
            self.engine,
            web.host,
            web.port,
            web.public_url,
            max_connections=web.max_connections,
            idle_timeout=web.idle_timeout_seconds,
            relay=self.relay,
        )
        self.web.add_routes(ops.routes())
        self.mask_editor = None
        if web.mask_editor_on:
            signer = LinkSigner(box.derived_key("mask-editor-links"))
            web_server = self.web
            self.mask_editor = MaskEditor(self.engine, self.store, signer, lambda: web_server.public_url)
            self.web.add_routes(self.mask_editor.routes())
        await self.web.start()
        self.engine.submitting.hook_base_url = self.web.public_url
        for name in EXTENSIONS:
            await self.load_extension(name)
        self.early_acks = EarlyAcks(self, early_names(self.tree), self.store)
        self.early_acks.install()
        await self.tree.set_translator(CatalogTranslator())
        if settings.discord.dev_guild_id:
            guild = discord.Object(settings.discord.dev_guild_id)
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)
        else:
            await self.tree.sync()
        self.publisher.start()
        await self.engine.start()
        if self.relay is not None:
            await self.relay.start()
        self._resuming = asyncio.create_task(self._resume_acked_commands())
        # What exists now (modules, discord.py, pydantic's validators, the cogs) lives as long as the
        # process: frozen, it is out of full collections' walk (docs/performance.md).
        gc.freeze()

    async def _resume_acked_commands(self) -> None:
        # Their members, channels and guilds are discord.py's once the gateway is ready.
        await self.wait_until_ready()
        await self.early_acks.resume()

    async def _upsert_config_accounts(self) -> dict[int, str]:
        """Config-declared accounts go into the store (without secret); their secrets, by id."""
        secrets = {}
        for acc in self.settings.accounts:
            account_id = await self.store.upsert_config_account(
                guild_id=acc.guild_id,
                name=acc.name,
                kind=acc.kind,
                base_url=acc.base_url,
                max_jobs=acc.max_jobs,
                channel_id=acc.channel_id,
                options=acc.options,
            )
            secrets[account_id] = acc.secret.get_secret_value()
        return secrets

    def _gateway_open(self) -> bool:
        """Every shard's gateway connection is up."""
        shards = self.shards.values()
        return self.is_ready() and bool(shards) and not any(shard.is_closed() for shard in shards)

    async def serve(self, token: str) -> None:
        """``start``, with SIGTERM as a graceful :meth:`shutdown` (no signal handlers on Windows)."""
        with contextlib.suppress(NotImplementedError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, self.request_shutdown)
        await self.start(token)
        if self._shutdown is not None:
            # start() returns as the shutdown closes the gateway; the store closes after that.
            await self._shutdown

    def request_shutdown(self) -> None:
        if self._shutdown is None:
            self._shutdown = asyncio.create_task(self.shutdown(), name="mjbot-shutdown")

    async def shutdown(self) -> None:
        """Stop taking work, let acknowledged commands and submits under way finish, write the
        finals that are ready, then close, within SHUTDOWN_SECONDS. Jobs still at a backend are
        picked up by the next start (docs/reliability.md)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + SHUTDOWN_SECONDS - _CLOSE_RESERVE
        self.stopping = True
        log.info("shutting down: new commands are refused, pending writes are flushed")
        if hasattr(self, "engine"):
            self._connection.parsers["INTERACTION_CREATE"] = self._refuse_interaction
            await asyncio.sleep(_ACKED_GRACE)
            await self.engine.drain(max(0.0, (end - loop.time()) / 2))
            await self.publisher.flush(max(0.0, end - loop.time()))
        await self.close()

    def _refuse_interaction(self, data: dict[str, Any]) -> None:
        task = asyncio.create_task(self._say_restarting(data))
        self._refusals.add(task)
        task.add_done_callback(self._refusals.discard)

    async def _say_restarting(self, data: dict[str, Any]) -> None:
        if data.get("type") == _AUTOCOMPLETE:
            body: dict[str, Any] = {"type": _AUTOCOMPLETE_RESULT, "data": {"choices": []}}
        else:
            # discord.py has not parsed the payload: the member's and the server's locale as sent.
            said = render(RESTARTING, data.get("locale"), data.get("guild_locale"))
            body = {"type": _CHANNEL_MESSAGE, "data": {"content": said, "flags": _EPHEMERAL}}
        route = Route(
            "POST",
            "/interactions/{interaction_id}/{interaction_token}/callback",
            interaction_id=data["id"],
            interaction_token=data["token"],
        )
        with contextlib.suppress(discord.HTTPException, aiohttp.ClientError):
            await self.http.request(route, json=body)

    async def close(self) -> None:
        if hasattr(self, "engine"):
            if self.relay is not None:
                await self.relay.stop()
            await self.engine.stop()
            await self.publisher.stop()
            await self.web.stop()
        if self._resuming is not None:
            self._resuming.cancel()
        if hasattr(self, "early_acks"):
            await self.early_acks.close()
        await super().close()
        await self.http_client.aclose()
        await self.guarded_http.aclose()
        if hasattr(self, "store"):
            await self.store.close()
