"""The bot: a commands.Bot subclass whose setup_hook wires the store, engine, web server and cogs."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.config import Settings
from bot.crypto import SecretBox
from bot.early_acks import EarlyAcks, early_names
from bot.http_client import make_http_client
from bot.jobs.accounts import AccountPool
from bot.jobs.engine import JobEngine
from bot.store import Store
from bot.web import WebServer
from cogs.publisher import JobPublisher

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


class JobTree(app_commands.CommandTree["MjBot"]):
    async def interaction_check(self, interaction: discord.Interaction[MjBot], /) -> bool:
        # First thing for every command: take over its acknowledgement if it was sent early.
        await self.client.early_acks.claim(interaction)
        return True


class MjBot(commands.Bot):
    # Set in setup_hook; typed here so cogs can rely on them.
    store: Store
    engine: JobEngine
    publisher: JobPublisher
    web: WebServer
    early_acks: EarlyAcks
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
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=JobTree,
            **options,
        )
        self.settings = settings
        self.http_client = make_http_client()

    async def setup_hook(self) -> None:
        settings = self.settings
        key = settings.store.secret_key.get_secret_value() if settings.store.secret_key else None
        self.store = await Store.open(settings.store.path, SecretBox.load(key, settings.store.key_file))
        accounts = AccountPool(self.http_client)
        config_secrets = await self._upsert_config_accounts()
        self.publisher = JobPublisher(self, self.http_client, settings.jobs.progress_edit_seconds)
        self.engine = JobEngine(self.store, accounts, self.publisher, settings.jobs, config_secrets)
        await self.engine.reload_accounts()
        self.web = WebServer(self.engine, settings.web.host, settings.web.port, settings.web.public_url)
        await self.web.start()
        self.engine.hook_base_url = self.web.public_url
        for name in EXTENSIONS:
            await self.load_extension(name)
        self.early_acks = EarlyAcks(self, early_names(self.tree), self.store)
        self.early_acks.install()
        if settings.discord.dev_guild_id:
            guild = discord.Object(settings.discord.dev_guild_id)
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)
        else:
            await self.tree.sync()
        self.publisher.start()
        await self.engine.start()
        self._resuming = asyncio.create_task(self._resume_acked_commands())
        # What exists now (modules, discord.py, pydantic's validators, the cogs) lives as long as
        # the process: out of the collector's sight, a full collection no longer walks it
        # (50–90 ms each, a stall every acknowledgement and edit waits behind).
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

    async def close(self) -> None:
        if hasattr(self, "engine"):
            await self.engine.stop()
            await self.publisher.stop()
            await self.web.stop()
        if self._resuming is not None:
            self._resuming.cancel()
        if hasattr(self, "early_acks"):
            await self.early_acks.close()
        await super().close()
        await self.http_client.aclose()
        if hasattr(self, "store"):
            await self.store.close()
