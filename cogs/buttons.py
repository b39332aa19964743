"""Job buttons: parsing their custom ids (``bot/discord_side/custom_ids.py``) and handling clicks.

Every button keeps working after a restart: its DynamicItem is registered once and rebuilt from
each click.

A button whose action needs input (Custom Zoom, Vary (Region)) opens its modal as the first
response; everything else is acknowledged (deferred) before any slow work.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.discord_side import custom_ids
from bot.discord_side.access import clicked_channel, owned_job, refuse_quietly, usable_job
from bot.discord_side.language import for_member, tell
from bot.discord_side.render import cancel_button
from bot.discord_side.replies import defer_job_message, refuse
from bot.domain import Job
from bot.i18n import Msg, said, tr
from bot.jobs.calls import UserError
from bot.jobs.clicks import Click, Form
from cogs.aimg.items import item_action_clicked
from cogs.modals import modal_for

if TYPE_CHECKING:
    from bot.discord_side.app import MjBot

log = logging.getLogger(__name__)


class ResultButtonItem(discord.ui.DynamicItem[discord.ui.Button[Any]], template=custom_ids.RESULT):
    def __init__(
        self,
        job_id: int,
        index: int,
        *,
        label: str | None = None,
        emoji: str | discord.PartialEmoji | None = None,
        style: discord.ButtonStyle = discord.ButtonStyle.secondary,
    ) -> None:
        custom_id = custom_ids.result(job_id, index)
        super().__init__(discord.ui.Button(label=label, emoji=emoji, style=style, custom_id=custom_id))
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
        try:
            parent = await usable_job(interaction, self.job_id, self.index)
            plan = await bot.engine.click(parent, self.index, user_id=interaction.user.id)
        except UserError as exc:
            await refuse_quietly(interaction, said(exc))
            return
        if plan.does is Click.SEED:
            await _send_seed(interaction, parent)  # ✉️: an answer to the member, no new job
            return
        if plan.does is Click.ITEM:
            await item_action_clicked(interaction, parent, self.index)  # 👍 👎 🗑️ 🚩: no new job
            return
        if plan.does is Click.BOOKMARK:
            await bookmark_clicked(interaction, parent, self.index)  # ❤️: no new image, no job
            return
        if plan.refusal is not None:
            await tell(interaction, plan.refusal)
            return
        if plan.form is not None:
            await _open_form(interaction, parent, self.index, plan.form)
            return
        reply = await defer_job_message(interaction)
        try:
            await bot.engine.press(
                parent,
                self.index,
                user_id=interaction.user.id,
                channel_id=clicked_channel(interaction),
                reply=reply,
            )
        except UserError as exc:
            await refuse(interaction, said(exc))
            return
        if interaction.message is not None:
            await bot.publisher.edit_view(parent, mark_pressed(interaction.message, self.custom_id))


async def _open_form(interaction: discord.Interaction[Any], job: Job, index: int, form: Form) -> None:
    """The form a click needs, as its first response (Discord refuses a modal after a defer); a
    Vary (Region) opens the bot's editor page instead where it has one."""
    bot: MjBot = interaction.client
    editor = bot.mask_editor
    if form is Form.REGION and editor is not None:
        url = editor.link(job, index, interaction.user.id, clicked_channel(interaction))
        if url is not None:
            await tell(
                interaction,
                tr("Paint the part to change in the editor (the link works once, for 15 minutes):"),
                view=editor_link_view(url, for_member(interaction, tr("Open the editor"))),
            )
            return
    await interaction.response.send_modal(modal_for(form, job, index, interaction))


async def _send_seed(interaction: discord.Interaction[Any], job: Job) -> None:
    bot: MjBot = interaction.client
    await interaction.response.defer(ephemeral=True, thinking=True)
    try:
        seed = await bot.engine.member.seed(job)
    except UserError as exc:
        await tell(interaction, said(exc))
        return
    await tell(
        interaction, tr("The seed of this image is `{seed}` (add `--seed {seed}` to a prompt).", seed=seed)
    )


class CancelButtonItem(discord.ui.DynamicItem[discord.ui.Button[Any]], template=custom_ids.CANCEL):
    def __init__(self, job_id: int) -> None:
        super().__init__(cancel_button(job_id))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> CancelButtonItem:
        return cls(int(match["job"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        bot: MjBot = interaction.client
        await interaction.response.defer()
        try:
            await owned_job(interaction, self.job_id)
            still_running = await bot.engine.cancel(self.job_id)
        except UserError as exc:
            await refuse_quietly(interaction, said(exc))
            return
        if still_running is not None:
            await refuse_quietly(interaction, cancelled_text(self.job_id, still_running))


async def bookmark_clicked(interaction: discord.Interaction[Any], job: Job, index: int) -> None:
    """❤️ answered to the member alone: there is no image to show the channel."""
    bot: MjBot = interaction.client
    await interaction.response.defer(ephemeral=True, thinking=True)
    try:
        await bot.engine.bookmark(job, index, user_id=interaction.user.id)
    except UserError as exc:
        await tell(interaction, said(exc))
        return
    await tell(interaction, tr("❤️ Bookmarked."))


def cancelled_text(job_id: int, still_running: str | None) -> Msg:
    """What a member reads once their job is cancelled, true to what its service did."""
    if still_running is None:
        return tr("Job #{job} is cancelled.", job=job_id)
    return tr(
        "Job #{job} is cancelled here, but {service} could not stop it, "
        "so it may still finish there (and count against the account).",
        job=job_id,
        service=still_running,
    )


def editor_link_view(url: str, label: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(discord.ui.Button(label=label, emoji="🖌️", url=url))
    return view


def mark_pressed(message: discord.Message, custom_id: str) -> discord.ui.View:
    """The message's buttons again, with the one just used shown in blurple (as Midjourney does)."""
    view = discord.ui.View.from_message(message, timeout=None)
    for item in view.children:
        if isinstance(item, discord.ui.Button) and item.custom_id == custom_id:
            item.style = discord.ButtonStyle.primary
    return view


class Buttons(commands.Cog):
    def __init__(self, bot: MjBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(ResultButtonItem, CancelButtonItem)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(ResultButtonItem, CancelButtonItem)


async def setup(bot: MjBot) -> None:
    await bot.add_cog(Buttons(bot))
