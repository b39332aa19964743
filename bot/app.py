"""The bot: a commands.Bot subclass whose setup_hook wires the store, engine, web server and cogs."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.config import Settings, StartupError
from bot.crypto import SECRET_LOST, SecretBox
from bot.early_acks import EarlyAcks, early_names
from bot.http_client import make_http_client
from bot.jobs.accounts import AccountPool
from bot.jobs.engine import JobEngine
from bot.mask_editor import LinkSigner, MaskEditor
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


#: What the start-up warning about secrets that do not open says to do.
_LOST_TAIL = (
    "those accounts are out of rotation until their secret is entered again with "
    "/setup account secret (or the old key is put back and the bot restarted)."
)


class JobTree(app_commands.CommandTree["MjBot"]):
    async def interaction_check(self, interaction: discord.Interaction[MjBot], /) -> bool:
        # First thing for every command: take over its acknowledgement if it was sent early.
        await self.client.early_acks.claim(interaction)
        return True


class MjBot(commands.AutoShardedBot):
    # Set in setup_hook; typed here so cogs can rely on them.
    store: Store
    engine: JobEngine
    publisher: JobPublisher
    web: WebServer
    early_acks: EarlyAcks
    #: None when Vary (Region) uses the region modal instead ([web] mask_editor).
    mask_editor: MaskEditor | None
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
            shard_count=settings.discord.shard_count,
            **options,
        )
        self.settings = settings
        self.http_client = make_http_client()
        #: For accounts added in Discord: only where the operator allows (see [network]).
        self.guarded_http = make_http_client(settings.network.policy())

    async def setup_hook(self) -> None:
        settings = self.settings
        self.store, box = await self._open_store()
        accounts = AccountPool(self.http_client, guarded=self.guarded_http, policy=settings.network.policy())
        config_secrets = await self._upsert_config_accounts()
        self.publisher = JobPublisher(self, settings.jobs.progress_edit_seconds)
        self.engine = JobEngine(self.store, accounts, self.publisher, settings.jobs, config_secrets)
        await self.engine.reload_accounts()
        web = settings.web
        self.web = WebServer(
            self.engine,
            web.host,
            web.port,
            web.public_url,
            max_connections=web.max_connections,
            idle_timeout=web.idle_timeout_seconds,
        )
        self.mask_editor = None
        if web.mask_editor_on:
            signer = LinkSigner(box.derived_key("mask-editor-links"))
            web_server = self.web
            self.mask_editor = MaskEditor(self.engine, self.store, signer, lambda: web_server.public_url)
            self.web.add_routes(self.mask_editor.routes())
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

    async def _open_store(self) -> tuple[Store, SecretBox]:
        """The store with its secret box; one WARNING when a key was made or secrets do not open."""
        conf = self.settings.store
        # The database first: when its path is unusable, that is what the one sentence names.
        store = await Store.open(conf.path)
        try:
            box = SecretBox.load(
                conf.secret_key.get_secret_value() if conf.secret_key else None, conf.key_file
            )
        except StartupError:
            await store.close()
            raise
        store.use_box(box)
        lost = [a.name for a in await store.list_accounts() if a.quarantine_reason == SECRET_LOST]
        if lost:
            names, tail = ", ".join(lost), _LOST_TAIL
            if box.made_in:
                log.warning(
                    "The key file %s was missing, so a new key was made there; the secrets of the "
                    "accounts %s were sealed with the old key: %s",
                    box.made_in,
                    names,
                    tail,
                )
            else:
                log.warning(
                    "The secrets of the accounts %s do not open with the configured key ([store] "
                    "secret_key or %s): %s",
                    names,
                    conf.key_file,
                    tail,
                )
        elif box.made_in:
            log.warning(
                "No [store] secret_key configured: generated one in %s (owner-only). Back it up with "
                "the database, or set MJBOT_STORE_SECRET_KEY.",
                box.made_in,
            )
        return store, box

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
        await self.guarded_http.aclose()
        if hasattr(self, "store"):
            await self.store.close()
