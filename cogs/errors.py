"""Turns app-command failures into a short ephemeral sentence instead of "The application did not respond"."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_side.early_acks import early_response
from bot.discord_side.replies import refuse

if TYPE_CHECKING:
    from bot.discord_side.app import MjBot

log = logging.getLogger(__name__)


#: Discord's names for the permissions the bot asks for.
_PERMISSION_NAMES = {"manage_guild": "Manage Server", "manage_messages": "Manage Messages"}


def describe(error: app_commands.AppCommandError) -> str:
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command works in servers only."
    if isinstance(error, app_commands.MissingPermissions):
        names = ", ".join(
            _PERMISSION_NAMES.get(p, p.replace("_", " ").title()) for p in error.missing_permissions
        )
        return f"You need the {names} permission to do that."
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down: try again in {error.retry_after:.0f} s."
    if isinstance(error, app_commands.TransformerError):
        return f"That value is not valid: {error.value!r}."
    return "Something went wrong on the bot's side. Try again; if it keeps happening, tell a server admin."


class Errors(commands.Cog):
    def __init__(self, bot: MjBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.tree.error(self.on_app_command_error)

    async def on_app_command_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        if isinstance(error, app_commands.CommandInvokeError):
            log.error(
                "command %s failed", interaction.command and interaction.command.name, exc_info=error.original
            )
        message = describe(error)
        if early_response(interaction) is not None and not isinstance(error, app_commands.CommandInvokeError):
            # Acknowledged early with a public "thinking…" message, but refused before the
            # command ran: no job will fill that message, so take it back.
            await refuse(interaction, message)
        elif interaction.response.is_done():
            await interaction.followup.send(message, ephemeral=True)
        else:
            await interaction.response.send_message(message, ephemeral=True)


async def setup(bot: MjBot) -> None:
    await bot.add_cog(Errors(bot))
