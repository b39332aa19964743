"""/setup: everything a server admin configures, from inside Discord. Manage Server by default.

Accounts (``accounts``: backend kind, address, secret, capacity), channels, limits, banned words,
who may click result buttons, a one-page summary and the audit log. Every answer is ephemeral; a
secret is only ever typed into a modal and never shown back.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.backends import service_name
from bot.discord_side.language import member_locale
from bot.domain import BackendKind, ChannelConfig, GuildConfig
from bot.i18n import Msg, render, said, tr
from bot.jobs.calls import UserError
from bot.jobs.prompt_rules import banning_problem
from cogs.setup.accounts import KIND_CHOICES, AccountCommands, service_note, status_of

if TYPE_CHECKING:
    from bot.discord_side.app import MjBot


class Setup(
    AccountCommands,
    commands.GroupCog,
    group_name="setup",
    group_description="Set the bot up for this server.",
):
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
                    status=status_of(a),
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
