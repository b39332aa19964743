"""Result buttons: parsing their custom ids and handling clicks.

A result button's custom_id is ``mjb:r:<job id>:<button index>``. The backend's own button id
(up to ~80 characters) stays in the store, so the Discord id stays short and every button keeps
working after a restart: the DynamicItem is registered once and rebuilt from each click.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.jobs.engine import UserError

if TYPE_CHECKING:
    from bot.app import MjBot

log = logging.getLogger(__name__)


class ResultButtonItem(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"mjb:r:(?P<job>[0-9]+):(?P<idx>[0-9]+)"
):
    def __init__(
        self,
        job_id: int,
        index: int,
        *,
        label: str | None = None,
        emoji: str | discord.PartialEmoji | None = None,
        style: discord.ButtonStyle = discord.ButtonStyle.secondary,
    ) -> None:
        super().__init__(
            discord.ui.Button(label=label, emoji=emoji, style=style, custom_id=f"mjb:r:{job_id}:{index}")
        )
        self.job_id = job_id
        self.index = index

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ResultButtonItem:
        button = item if isinstance(item, discord.ui.Button) else None
        return cls(
            int(match["job"]),
            int(match["idx"]),
            label=button.label if button else None,
            emoji=button.emoji if button else None,
            style=button.style if button else discord.ButtonStyle.secondary,
        )

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        bot: MjBot = interaction.client
        # Acknowledge first: nothing slow may come before the 3 s deadline.
        await interaction.response.defer()
        try:
            parent = await bot.engine.get(self.job_id)
            if parent is None:
                raise UserError("This job is no longer known to the bot. Run /imagine again.")
            if interaction.user.id != parent.owner_id and not _can_manage(interaction):
                raise UserError(f"Only <@{parent.owner_id}> can use these buttons.")
            await bot.engine.press(
                parent, self.index, user_id=interaction.user.id, channel_id=parent.channel_id
            )
        except UserError as exc:
            await interaction.followup.send(
                str(exc), ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
            )
            return
        if interaction.message is not None:
            await interaction.edit_original_response(
                view=mark_pressed(interaction.message, self.item.custom_id or "")
            )


def mark_pressed(message: discord.Message, custom_id: str) -> discord.ui.View:
    """The message's buttons again, with the one just used shown in blurple (as Midjourney does)."""
    view = discord.ui.View.from_message(message, timeout=None)
    for item in view.children:
        if isinstance(item, discord.ui.Button) and item.custom_id == custom_id:
            item.style = discord.ButtonStyle.primary
    return view


def _can_manage(interaction: discord.Interaction[Any]) -> bool:
    perms = interaction.permissions
    return perms.manage_messages or perms.administrator


class Buttons(commands.Cog):
    def __init__(self, bot: MjBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(ResultButtonItem)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(ResultButtonItem)


async def setup(bot: MjBot) -> None:
    await bot.add_cog(Buttons(bot))
