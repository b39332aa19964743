"""/setup account: the image service accounts a server uses (kind, address, secret in a modal,
capacity), and how an account is shown, which /setup show reuses."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.backends import account_options, service_name
from bot.crypto import SECRET_LOST
from bot.discord_side.language import as_is, member_locale, tell
from bot.domain import Account, BackendKind, ServiceAccount
from bot.i18n import Msg, render, said, tr
from bot.jobs.calls import UserError
from bot.jobs.guild_setup import NEEDS_SECRET, held_sentence
from bot.net import shown_url
from cogs.aimg.sign_in import send_sign_in

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


def status_of(account: Account) -> Msg:
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
        status=status_of(account),
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


class AccountCommands(commands.Cog):
    """The ``account`` subgroup, and what /setup's commands share; :class:`cogs.setup.Setup` is the cog
    (a base cog's app commands are its subclass's: discord.py reads them along the MRO)."""

    account = app_commands.Group(name="account", description="The image service accounts this server uses.")
    bot: MjBot

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
