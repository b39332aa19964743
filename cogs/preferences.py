"""/prefer: a member's own preferences in this server (Remix mode, a prompt suffix)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_side.language import tell
from bot.domain import UserPrefs
from bot.i18n import said, tr
from bot.jobs.calls import UserError

if TYPE_CHECKING:
    from bot.discord_side.app import MjBot


class Preferences(commands.GroupCog, group_name="prefer", group_description="Your own preferences here."):
    def __init__(self, bot: MjBot) -> None:
        self.bot = bot
        super().__init__()

    async def _update(self, interaction: discord.Interaction[Any], **changes: object) -> UserPrefs:
        assert interaction.guild_id is not None
        prefs = await self.bot.store.user_prefs(interaction.guild_id, interaction.user.id)
        prefs = UserPrefs.model_validate({**prefs.model_dump(), **changes})
        await self.bot.store.set_user_prefs(interaction.guild_id, interaction.user.id, prefs)
        return prefs

    @app_commands.command(
        name="remix", description="Turn Remix on or off: edit the prompt before variations."
    )
    @app_commands.guild_only()
    async def remix(self, interaction: discord.Interaction[Any]) -> None:
        assert interaction.guild_id is not None and interaction.channel_id is not None
        current = await self.bot.store.user_prefs(interaction.guild_id, interaction.user.id)
        if not current.remix:
            try:
                await self.bot.engine.member.check_remix(interaction.guild_id, interaction.channel_id)
            except UserError as exc:
                await tell(interaction, said(exc))
                return
        prefs = await self._update(interaction, remix=not current.remix)
        await tell(
            interaction,
            tr("Remix mode is on: variations, re-rolls and pans open a prompt editor first.")
            if prefs.remix
            else tr("Remix mode is off."),
        )

    @app_commands.command(name="suffix", description="Add text to the end of every /imagine prompt you send.")
    @app_commands.describe(text="e.g. --ar 16:9 --v 6. Leave empty to remove your suffix.")
    @app_commands.guild_only()
    async def suffix(
        self, interaction: discord.Interaction[Any], text: app_commands.Range[str, 0, 200] = ""
    ) -> None:
        assert interaction.guild_id is not None
        try:
            prefs = await self.bot.engine.member.set_suffix(interaction.guild_id, interaction.user.id, text)
        except UserError as exc:
            await tell(interaction, said(exc))
            return
        await tell(
            interaction,
            tr("Your prompts now end with `{suffix}`.", suffix=prefs.suffix)
            if prefs.suffix
            else tr("Your suffix is removed."),
        )


async def setup(bot: MjBot) -> None:
    await bot.add_cog(Preferences(bot))
