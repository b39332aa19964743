"""/setup: everything a server admin configures, from inside Discord. Manage Server by default.

Accounts (backend kind, address, secret, capacity), channels, limits, banned words, who may click
result buttons, a one-page summary and the audit log. Every answer is ephemeral; a secret is only
ever typed into a modal and never shown back.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.backends import account_options, service_name
from bot.crypto import SECRET_LOST
from bot.discord_side.language import as_is, member_locale, tell
from bot.domain import Account, BackendKind, ChannelConfig, GuildConfig, ServiceAccount
from bot.i18n import Msg, render, said, tr
from bot.jobs.calls import UserError
from bot.jobs.guild_setup import NEEDS_SECRET, held_sentence
from bot.jobs.prompt_rules import banning_problem
from bot.net import shown_url
from cogs.aimg import send_sign_in

if TYPE_CHECKING:
    from bot.discord_side.app import MjBot

KIND_CHOICES = [
    app_commands.Choice(name=as_is("midjourney-proxy"), value=BackendKind.MJ_PROXY.value),
    app_commands.Choice(name=as_is("TheNextLeg"), value=BackendKind.NEXTLEG.value),
    app_commands.Choice(name=as_is("useapi.net"), value=BackendKind.USEAPI.value),
    app_commands.Choice(name=as_is("AIMG"), value=BackendKind.AIMG.value),
]
FLAVOUR_CHOICES = [
    app_commands.Choice(name="Java plus (mj-api-secret header)", value="java"),
    app_commands.Choice(name="C# trueai-org (Authorization header)", value="csharp"),
    app_commands.Choice(name="Java open source (U/V/re-roll only)", value="oss"),
]
_OPTION = re.compile(r"^\s*([a-z_]{1,32})\s*=\s*(.{0,200}?)\s*$")


def _options(flavour: str | None, extra: str | None) -> dict[str, str]:
    """Backend options from the flavour choice and "key=value; key=value" text."""
    options: dict[str, str] = {}
    if flavour:
        options["flavour"] = flavour
    for part in (extra or "").split(";"):
        if not part.strip():
            continue
        match = _OPTION.match(part)
        if match is None:
            raise UserError(
                tr("{part!r} is not a key=value option (e.g. channel=1234; model=f222).", part=part.strip())
            )
        options[match.group(1)] = match.group(2)
    return options


def _status(account: Account) -> Msg:
    # The reasons are the engine's and the service's words (docs/i18n.md lists what is English).
    if account.quarantine_reason in (SECRET_LOST, NEEDS_SECRET):
        return tr("⛔ out of rotation: {reason}", reason=account.quarantine_reason)
    if account.quarantine_reason:
        return tr(
            "⛔ out of rotation: {reason} (fix it, then /setup account reset)",
            reason=account.quarantine_reason[:150],
        )
    return tr("✅ enabled") if account.enabled else tr("⏸️ disabled")


def account_lines(account: Account, running: int) -> Msg:
    secret = tr("set (hidden)") if account.secret else tr("none")
    channel = f"<#{account.channel_id}>" if account.channel_id else tr("all channels")
    # Only the options its service reads: an older row may hold anything an admin typed.
    known = account_options(account.kind)
    options = ", ".join(f"{k}={v}" for k, v in account.options.items() if k in known) or tr("none")
    source = tr("config file") if account.source == "config" else tr("added with /setup")
    return tr(
        "{status}\n{service} at {url}\njobs: {running}/{max_jobs} · answers in {channel} · secret: {secret}\n"
        "options: {options} · {source}",
        status=_status(account),
        service=service_name(account.kind),
        url=shown_url(account.base_url),
        running=running,
        max_jobs=account.max_jobs,
        channel=channel,
        secret=secret,
        options=options,
        source=source,
    )


def service_lines(status: list[ServiceAccount] | None, locale: str) -> str:
    """The Midjourney accounts a service drives for an account, one line each (a hold with its
    message), for /setup account list."""
    if status is None:
        return "\n" + render(
            tr("Midjourney accounts at the service: could not be read (see /setup account test)"), locale
        )
    lines = [
        "⛔ " + render(held_sentence(s), locale)
        if s.hold
        else render(
            tr(
                "Midjourney account {name}: in rotation, max {max_jobs} jobs",
                name=s.name,
                max_jobs=s.max_jobs,
            ),
            locale,
        )
        for s in status[:5]
    ]
    return "".join(
        f"\n{discord.utils.escape_mentions(discord.utils.escape_markdown(line))}" for line in lines
    )


def service_note(status: list[ServiceAccount] | None) -> Msg | str:
    """The same, in a few words, for /setup show."""
    if status is None:
        return tr(" · its Midjourney accounts could not be read")
    held = [s.name for s in status if s.hold]
    return (
        tr(" · ⛔ Midjourney holds {names} (see /setup account list)", names=", ".join(held)) if held else ""
    )


class SecretModal(discord.ui.Modal):
    """Takes an account's secret, for a new account or to replace one. The secret is never shown."""

    def __init__(self, title: str, on_secret: Any, locale: str) -> None:
        super().__init__(title=render(title, locale)[:45], timeout=600)
        self._on_secret = on_secret
        self.secret: discord.ui.TextInput[Any] = discord.ui.TextInput(
            label=render(tr("Secret (API key, token or session id)"), locale),
            placeholder=render(tr("Leave empty if the service needs none"), locale),
            required=False,
            max_length=500,
        )
        self.add_item(self.secret)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            text = await self._on_secret(self.secret.value.strip())
        except UserError as exc:
            text = said(exc)
        await tell(interaction, text)


class Setup(commands.GroupCog, group_name="setup", group_description="Set the bot up for this server."):
    account = app_commands.Group(name="account", description="The image service accounts this server uses.")
    words = app_commands.Group(name="words", description="Words and patterns refused in prompts.")

    def __init__(self, bot: MjBot) -> None:
        self.bot = bot
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        # Discord hides the commands from members without Manage Server, but a server can
        # override that; the bot checks again.
        if interaction.guild_id is None:
            raise app_commands.NoPrivateMessage()
        if not interaction.permissions.manage_guild:
            raise app_commands.MissingPermissions(["manage_guild"])
        return True

    def _ids(self, interaction: discord.Interaction[Any]) -> tuple[int, int]:
        assert interaction.guild_id is not None
        return interaction.guild_id, interaction.user.id

    async def _reply(self, interaction: discord.Interaction[Any], text: str) -> None:
        await tell(interaction, text)

    async def account_names(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        # Autocomplete skips interaction_check: the names are for Manage Server members only.
        if interaction.guild_id is None or not interaction.permissions.manage_guild:
            return []
        names = [a.name for a, _ in await self.bot.engine.setup.accounts(interaction.guild_id)]
        return [app_commands.Choice(name=n, value=n) for n in names if current.lower() in n.lower()][:25]

    # ------------------------------------------------------------------------------ accounts

    @account.command(
        name="add", description="Add an image service account; its secret is asked in a private form."
    )
    @app_commands.describe(
        kind="Which service this account is on.",
        name="A short name for it, unique in this server.",
        base_url="The service's address, e.g. https://proxy.example.com",
        max_jobs="How many jobs may run on it at once (1-15).",
        channel="Only answer in this channel (optional).",
        flavour="midjourney-proxy only: which implementation it runs.",
        options="Other service options as key=value; key=value (e.g. channel=123 for useapi).",
    )
    @app_commands.choices(kind=KIND_CHOICES, flavour=FLAVOUR_CHOICES)
    async def account_add(
        self,
        interaction: discord.Interaction[Any],
        kind: app_commands.Choice[str],
        name: app_commands.Range[str, 1, 32],
        base_url: app_commands.Range[str, 8, 300],
        max_jobs: app_commands.Range[int, 1, 15] = 3,
        channel: discord.TextChannel | None = None,
        flavour: app_commands.Choice[str] | None = None,
        options: str | None = None,
    ) -> None:
        guild_id, user_id = self._ids(interaction)
        if not base_url.startswith(("http://", "https://")):
            await self._reply(interaction, tr("The base URL must start with http:// or https://."))
            return
        try:
            parsed = _options(flavour.value if flavour else None, options)
        except UserError as exc:
            await self._reply(interaction, said(exc))
            return

        async def create(secret: str) -> Msg:
            account = await self.bot.engine.setup.add_account(
                guild_id,
                user_id,
                name=name.strip(),
                kind=BackendKind(kind.value),
                base_url=base_url.rstrip("/"),
                secret=secret,
                max_jobs=max_jobs,
                channel_id=channel.id if channel else None,
                options=parsed,
            )
            return tr(
                "Added **{name}** ({service}). Check it with `/setup account test name:{name}`.",
                name=account.name,
                service=kind.name,
            )

        title = tr("Secret for {name}", name=name.strip())
        await interaction.response.send_modal(SecretModal(title, create, member_locale(interaction)))

    @account.command(name="aimg_login", description="Add an AIMG account by signing in with its email (18+).")
    @app_commands.describe(
        name="A short name for it, unique in this server.",
        email="The AIMG account's email; a one-time code is sent there.",
        base_url="AIMG's API address.",
        max_jobs="How many jobs may run on it at once (1-15).",
        model="The default model for plain generations (optional).",
    )
    async def account_aimg_login(
        self,
        interaction: discord.Interaction[Any],
        name: app_commands.Range[str, 1, 32],
        email: app_commands.Range[str, 3, 254],
        base_url: app_commands.Range[str, 8, 300],
        max_jobs: app_commands.Range[int, 1, 15] = 2,
        model: str | None = None,
    ) -> None:
        guild_id, user_id = self._ids(interaction)
        if not base_url.startswith(("http://", "https://")):
            await self._reply(interaction, tr("The base URL must start with http:// or https://."))
            return
        await interaction.response.defer(ephemeral=True, thinking=True)

        async def create(session_id: str) -> Msg:
            account = await self.bot.engine.setup.add_account(
                guild_id,
                user_id,
                name=name.strip(),
                kind=BackendKind.AIMG,
                base_url=base_url.rstrip("/"),
                secret=session_id,
                max_jobs=max_jobs,
                channel_id=None,
                options={"model": model} if model else {},
            )
            return tr("Signed in: **{name}** is this server's AIMG account now.", name=account.name)

        await send_sign_in(
            interaction, base_url.rstrip("/"), email, create, retry="/setup account aimg_login"
        )

    @account.command(name="list", description="This server's accounts, their load and health.")
    async def account_list(self, interaction: discord.Interaction[Any]) -> None:
        guild_id, _ = self._ids(interaction)
        accounts = await self.bot.engine.setup.accounts(guild_id)
        if not accounts:
            await self._reply(interaction, tr("No accounts yet. Add one with /setup account add."))
            return
        await interaction.response.defer(ephemeral=True, thinking=True)  # services are asked
        services = await self.bot.engine.setup.service_status(guild_id)
        locale = member_locale(interaction)
        embed = discord.Embed(title=render(tr("Image service accounts"), locale))
        for account, running in accounts[:25]:
            lines = render(account_lines(account, running), locale)
            if account.id in services:
                lines += service_lines(services[account.id], locale)
            embed.add_field(name=account.name, value=lines[:1024], inline=False)
        await interaction.followup.send(embed=embed, ephemeral=True)

    @account.command(name="edit", description="Change an account added with /setup.")
    @app_commands.describe(
        name="The account to change.",
        base_url="A new address.",
        max_jobs="How many jobs may run on it at once (1-15).",
        enabled="Turn it on or off.",
        channel="Only answer in this channel.",
        all_channels="True: answer in every channel again.",
    )
    @app_commands.autocomplete(name=account_names)
    async def account_edit(
        self,
        interaction: discord.Interaction[Any],
        name: str,
        base_url: app_commands.Range[str, 8, 300] | None = None,
        max_jobs: app_commands.Range[int, 1, 15] | None = None,
        enabled: bool | None = None,
        channel: discord.TextChannel | None = None,
        all_channels: bool | None = None,
    ) -> None:
        guild_id, user_id = self._ids(interaction)
        fields: dict[str, Any] = {}
        if base_url is not None:
            if not base_url.startswith(("http://", "https://")):
                await self._reply(interaction, tr("The base URL must start with http:// or https://."))
                return
            fields["base_url"] = base_url.rstrip("/")
        if max_jobs is not None:
            fields["max_jobs"] = max_jobs
        if enabled is not None:
            fields["enabled"] = enabled
        if channel is not None:
            fields["channel_id"] = channel.id
        elif all_channels:
            fields["channel_id"] = None
        try:
            account = await self.bot.engine.setup.edit_account(guild_id, user_id, name, **fields)
        except UserError as exc:
            await self._reply(interaction, said(exc))
            return
        running = {a.id: n for a, n in await self.bot.engine.setup.accounts(guild_id)}.get(account.id, 0)
        await self._reply(
            interaction,
            tr("**{name}** now:\n{lines}", name=account.name, lines=account_lines(account, running)),
        )

    @account.command(name="secret", description="Replace an account's secret (asked in a private form).")
    @app_commands.describe(name="The account whose secret to replace.")
    @app_commands.autocomplete(name=account_names)
    async def account_secret(self, interaction: discord.Interaction[Any], name: str) -> None:
        guild_id, user_id = self._ids(interaction)

        async def replace(secret: str) -> Msg:
            await self.bot.engine.setup.edit_account(guild_id, user_id, name, secret=secret)
            return tr("The secret of **{name}** is replaced.", name=name)

        title = tr("New secret for {name}", name=name)
        await interaction.response.send_modal(SecretModal(title, replace, member_locale(interaction)))

    @account.command(
        name="test", description="Check that an account's service answers and accepts its secret."
    )
    @app_commands.describe(name="The account to test.")
    @app_commands.autocomplete(name=account_names)
    async def account_test(self, interaction: discord.Interaction[Any], name: str) -> None:
        guild_id, _ = self._ids(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            text = await self.bot.engine.setup.test_account(guild_id, name)
        except UserError as exc:
            text = said(exc)
        await tell(interaction, text)

    @account.command(name="reset", description="Put an account that was taken out of rotation back in.")
    @app_commands.describe(name="The account to put back.")
    @app_commands.autocomplete(name=account_names)
    async def account_reset(self, interaction: discord.Interaction[Any], name: str) -> None:
        guild_id, user_id = self._ids(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            text = await self.bot.engine.setup.reset_account(guild_id, user_id, name)
        except UserError as exc:
            text = said(exc)
        await tell(interaction, text)

    @account.command(
        name="remove", description="Remove an account added with /setup (its jobs' history stays)."
    )
    @app_commands.describe(name="The account to remove.")
    @app_commands.autocomplete(name=account_names)
    async def account_remove(self, interaction: discord.Interaction[Any], name: str) -> None:
        guild_id, user_id = self._ids(interaction)
        try:
            await self.bot.engine.setup.remove_account(guild_id, user_id, name)
        except UserError as exc:
            await self._reply(interaction, said(exc))
            return
        await self._reply(interaction, tr("**{name}** is removed.", name=name))

    # ------------------------------------------------------------------- channels and limits

    @app_commands.command(
        name="channel", description="Turn the bot on or off in one channel, and pick its service."
    )
    @app_commands.describe(
        channel="The channel (default: this one).",
        enabled="Whether the bot answers there.",
        backend="Only use accounts of this service there (default: any).",
        aimg_allowed="Allow AIMG commands there although the channel is not age-restricted.",
    )
    @app_commands.choices(backend=KIND_CHOICES)
    async def channel(
        self,
        interaction: discord.Interaction[Any],
        enabled: bool,
        channel: discord.TextChannel | None = None,
        backend: app_commands.Choice[str] | None = None,
        aimg_allowed: bool = False,
    ) -> None:
        guild_id, user_id = self._ids(interaction)
        assert interaction.channel_id is not None
        channel_id = channel.id if channel else interaction.channel_id
        setting = ChannelConfig(
            enabled=enabled,
            backend=BackendKind(backend.value) if backend else None,
            aimg_allowed=aimg_allowed,
        )

        def change(config: GuildConfig) -> GuildConfig:
            return config.model_copy(update={"channels": {**config.channels, channel_id: setting}})

        await self.bot.engine.setup.configure(
            guild_id, user_id, f"channel {channel_id}: {setting.model_dump_json()}", change
        )
        service = tr(", using {service} accounts only", service=backend.name) if backend else ""
        await self._reply(
            interaction,
            tr("The bot is on in <#{channel}>{service}.", channel=channel_id, service=service)
            if enabled
            else tr("The bot is off in <#{channel}>{service}.", channel=channel_id, service=service),
        )

    @app_commands.command(
        name="channels", description="Turn the bot on or off in every channel without its own setting."
    )
    @app_commands.describe(
        enabled="True: answer everywhere; False: only in channels turned on with /setup channel."
    )
    async def channels(self, interaction: discord.Interaction[Any], enabled: bool) -> None:
        guild_id, user_id = self._ids(interaction)
        await self.bot.engine.setup.configure(
            guild_id,
            user_id,
            f"all channels: {enabled}",
            lambda c: c.model_copy(update={"all_channels": enabled}),
        )
        await self._reply(
            interaction,
            tr("The bot now answers everywhere.")
            if enabled
            else tr("The bot now answers only in channels turned on with /setup channel."),
        )

    @app_commands.command(name="limits", description="Per-member and server limits on jobs.")
    @app_commands.describe(
        per_user_running="Jobs one member may have waiting or running at once (1-50).",
        per_user_daily="Jobs one member may start per day, 0 for no limit.",
        queue_length="Jobs the server's queue may hold (1-1000).",
        job_timeout_minutes="Minutes before a job fails as too slow (1-120).",
    )
    async def limits(
        self,
        interaction: discord.Interaction[Any],
        per_user_running: app_commands.Range[int, 1, 50] | None = None,
        per_user_daily: app_commands.Range[int, 0, 10_000] | None = None,
        queue_length: app_commands.Range[int, 1, 1000] | None = None,
        job_timeout_minutes: app_commands.Range[int, 1, 120] | None = None,
    ) -> None:
        guild_id, user_id = self._ids(interaction)
        updates: dict[str, Any] = {}
        if per_user_running is not None:
            updates["user_concurrent"] = per_user_running
        if per_user_daily is not None:
            updates["user_daily"] = per_user_daily or None
        if queue_length is not None:
            updates["queue_length"] = queue_length
        if job_timeout_minutes is not None:
            updates["job_timeout_minutes"] = job_timeout_minutes

        def change(config: GuildConfig) -> GuildConfig:
            return config.model_copy(update={"limits": config.limits.model_copy(update=updates)})

        config = await self.bot.engine.setup.configure(guild_id, user_id, f"limits: {updates}", change)
        await self._reply(interaction, tr("Limits now:\n{limits}", limits=_limits_text(config)))

    @words.command(name="add", description="Refuse prompts containing a word (or a regular expression).")
    @app_commands.describe(text="The word, or the pattern.", regex="True: text is a regular expression.")
    async def words_add(
        self,
        interaction: discord.Interaction[Any],
        text: app_commands.Range[str, 1, 100],
        regex: bool = False,
    ) -> None:
        guild_id, user_id = self._ids(interaction)
        text = text.strip()
        key = "banned_patterns" if regex else "banned_words"

        def change(config: GuildConfig) -> GuildConfig:
            problem = banning_problem(config, text, regex=regex)
            if problem:
                raise UserError(problem)
            current: list[str] = getattr(config, key)
            return config.model_copy(update={key: [*current, text] if text not in current else current})

        try:
            await self.bot.engine.setup.configure(guild_id, user_id, f"{key} + {text}", change)
        except UserError as exc:
            await self._reply(interaction, said(exc))
            return
        await self._reply(interaction, tr("Prompts containing `{text}` are now refused.", text=text))

    @words.command(name="remove", description="Allow a word or pattern again.")
    @app_commands.describe(text="The word or pattern to allow again.")
    async def words_remove(self, interaction: discord.Interaction[Any], text: str) -> None:
        guild_id, user_id = self._ids(interaction)
        text = text.strip()

        def change(config: GuildConfig) -> GuildConfig:
            return config.model_copy(
                update={
                    "banned_words": [w for w in config.banned_words if w != text],
                    "banned_patterns": [p for p in config.banned_patterns if p != text],
                }
            )

        await self.bot.engine.setup.configure(guild_id, user_id, f"banned - {text}", change)
        await self._reply(interaction, tr("`{text}` is allowed again.", text=text))

    @words.command(name="list", description="The words and patterns this server refuses.")
    async def words_list(self, interaction: discord.Interaction[Any]) -> None:
        guild_id, _ = self._ids(interaction)
        config = await self.bot.store.guild_config(guild_id)
        await self._reply(interaction, _words_text(config, member_locale(interaction)))

    @app_commands.command(name="buttons", description="Who may click a job's result buttons.")
    @app_commands.describe(
        anyone="True: anyone; False: only the job's owner and people with Manage Messages."
    )
    async def buttons(self, interaction: discord.Interaction[Any], anyone: bool) -> None:
        guild_id, user_id = self._ids(interaction)
        await self.bot.engine.setup.configure(
            guild_id,
            user_id,
            f"buttons anyone: {anyone}",
            lambda c: c.model_copy(update={"buttons_anyone": anyone}),
        )
        await self._reply(
            interaction,
            tr("Result buttons can now be used by anyone.")
            if anyone
            else tr(
                "Result buttons can now be used by only the job's owner (and people with Manage Messages)."
            ),
        )

    @app_commands.command(name="show", description="This server's whole setup on one page.")
    async def show(self, interaction: discord.Interaction[Any]) -> None:
        guild_id, _ = self._ids(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)  # services are asked
        config = await self.bot.store.guild_config(guild_id)
        accounts = await self.bot.engine.setup.accounts(guild_id)
        services, summaries = await asyncio.gather(
            self.bot.engine.setup.service_status(guild_id), self.bot.engine.setup.service_summaries(guild_id)
        )
        locale = member_locale(interaction)

        def shown(text: str) -> str:
            return render(text, locale)

        embed = discord.Embed(title=shown(tr("Bot setup for this server")))
        account_text = "\n".join(
            shown(
                tr(
                    "**{name}**: {service}, {running}/{max_jobs} jobs, {status}{note}",
                    name=a.name,
                    service=service_name(a.kind),
                    running=n,
                    max_jobs=a.max_jobs,
                    status=_status(a),
                    note=service_note(services[a.id]) if a.id in services else "",
                )
            )
            + (f" · {summaries[a.id]}" if a.id in summaries else "")
            for a, n in accounts
        )
        embed.add_field(
            name=shown(tr("Accounts")),
            value=(account_text or shown(tr("none: add one with /setup account add")))[:1024],
            inline=False,
        )
        embed.add_field(
            name=shown(tr("Channels")),
            value="\n".join(map(shown, _channels_lines(config)))[:1024],
            inline=False,
        )
        embed.add_field(name=shown(tr("Limits")), value=shown(_limits_text(config)), inline=False)
        embed.add_field(
            name=shown(tr("Refused in prompts")), value=_words_text(config, locale)[:1024], inline=False
        )
        who = (
            tr("Usable by anyone.")
            if config.buttons_anyone
            else tr("Usable by the job's owner and people with Manage Messages.")
        )
        embed.add_field(name=shown(tr("Result buttons")), value=shown(who), inline=False)
        await interaction.followup.send(embed=embed, ephemeral=True)

    @app_commands.command(name="audit", description="The latest changes to this server's setup.")
    async def audit(self, interaction: discord.Interaction[Any]) -> None:
        guild_id, _ = self._ids(interaction)
        entries = await self.bot.store.audit_log(guild_id, 20)
        if not entries:
            await self._reply(interaction, tr("No setup changes yet."))
            return
        lines = [f"<t:{int(e.at)}:R> <@{e.user_id}> {e.action}: {e.detail[:120]}" for e in entries]
        await self._reply(interaction, "\n".join(lines)[:2000])


def _limits_text(config: GuildConfig) -> Msg:
    limits = config.limits
    daily = limits.user_daily if limits.user_daily is not None else tr("no limit")
    timeout = (
        tr("{minutes} min", minutes=limits.job_timeout_minutes)
        if limits.job_timeout_minutes
        else tr("the bot's default")
    )
    return tr(
        "Per member: {running} at once, {daily} per day · queue: {queue} jobs · job timeout: {timeout}",
        running=limits.user_concurrent,
        daily=daily,
        queue=limits.queue_length,
        timeout=timeout,
    )


def _words_text(config: GuildConfig, locale: str) -> str:
    words = ", ".join(f"`{w}`" for w in config.banned_words) or render(tr("no words"), locale)
    patterns = ", ".join(f"`{p}`" for p in config.banned_patterns) or render(tr("no patterns"), locale)
    return f"{words}; {patterns}"


def _channels_lines(config: GuildConfig) -> list[Msg]:
    head = tr("On in every channel") if config.all_channels else tr("Off except where turned on")
    lines = [head]
    for channel_id, setting in config.channels.items():
        state = tr("on") if setting.enabled else tr("off")
        only = tr(", {service} only", service=service_name(setting.backend)) if setting.backend else ""
        aimg = tr(", AIMG allowed") if setting.aimg_allowed else ""
        lines.append(
            tr("<#{channel}>: {state}{only}{aimg}", channel=channel_id, state=state, only=only, aimg=aimg)
        )
    return lines


async def setup(bot: MjBot) -> None:
    await bot.add_cog(Setup(bot))
