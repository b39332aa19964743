"""Turns app-command failures into a short ephemeral sentence instead of "The application did not respond"."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_side.early_acks import early_response
from bot.discord_side.language import for_member
from bot.discord_side.replies import refuse
from bot.i18n import Msg, tr

if TYPE_CHECKING:
    from bot.discord_side.app import MjBot

log = logging.getLogger(__name__)


#: Discord's names for the permissions the bot asks for (as its client shows them in each language).
_PERMISSION_NAMES = {"manage_guild": tr("Manage Server"), "manage_messages": tr("Manage Messages")}


def describe(error: app_commands.AppCommandError) -> Msg:
    if isinstance(error, app_commands.NoPrivateMessage):
        return tr("This command works in servers only.")
    if isinstance(error, app_commands.MissingPermissions):
        names = [_PERMISSION_NAMES.get(p) or p.replace("_", " ").title() for p in error.missing_permissions]
        # One name stays a Msg, so that it is shown in the member's language too.
        permission = names[0] if len(names) == 1 else ", ".join(names)
        return tr("You need the {permission} permission to do that.", permission=permission)
    if isinstance(error, app_commands.CommandOnCooldown):
        return tr("Slow down: try again in {seconds:.0f} s.", seconds=error.retry_after)
    if isinstance(error, app_commands.TransformerError):
        return tr("That value is not valid: {value!r}.", value=error.value)
    return tr(
        "Something went wrong on the bot's side. Try again; if it keeps happening, tell a server admin."
    )


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
        message = for_member(interaction, describe(error))
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
