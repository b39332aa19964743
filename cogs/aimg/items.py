"""A result's item actions at AIMG (👍 👎 🗑️ 🚩) and the 🚩 report form."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import discord

from bot.backends.aimg import (
    DEFAULT_REPORT_QUEUE,
    vote_of,
)
from bot.backends.aimg import custom_id as aimg_custom_id
from bot.discord_side import custom_ids
from bot.discord_side.access import JobModal
from bot.discord_side.language import member_locale, tell
from bot.domain import BackendError, Job
from bot.i18n import render, said, tr
from bot.jobs.calls import UserError

if TYPE_CHECKING:
    from bot.discord_side.app import MjBot

_DELETE = aimg_custom_id("delete")
_REPORT = aimg_custom_id("report")
#: How long a 🚩 click waits for AIMG's report categories. The form must open within Discord's 3 s
#: to answer; the categories are cached, so only the first click in a while waits at all.
REPORT_QUEUES_WAIT = 2.0
#: Longest report details (a short paragraph for AIMG's moderators).
REPORT_DETAILS_CHARS = 1000


async def item_action_clicked(interaction: discord.Interaction[Any], job: Job, index: int) -> None:
    """👍, 👎, 🗑️ or 🚩 on a result: act on the item at the service, confirm privately. A deleted
    item's message goes too (the click handler has checked who may: bot/discord_side/access.py). 🚩 first
    opens a form asking AIMG's report category and optional details."""
    if job.buttons[index].custom_id == _REPORT:
        await _open_report(interaction, job, index)
        return
    await interaction.response.defer()
    await _item_action(interaction, job, index)


async def _item_action(
    interaction: discord.Interaction[Any],
    job: Job,
    index: int,
    *,
    report_queue: str | None = None,
    details: str | None = None,
) -> None:
    """The item action itself, once ``interaction`` is acknowledged."""
    bot: MjBot = interaction.client
    try:
        text = await bot.engine.aimg.item_action(
            job, index, user_id=interaction.user.id, report_queue=report_queue, details=details
        )
    except UserError as exc:
        await tell(interaction, said(exc))
        return
    if job.buttons[index].custom_id == _DELETE and interaction.message is not None:
        await interaction.message.delete()
    elif vote_of(job.buttons[index].custom_id) is not None and interaction.message is not None:
        vote = await bot.engine.aimg.member_vote(job.id, interaction.user.id)
        await bot.publisher.edit_view(job, _show_vote(interaction.message, job, vote))
    await tell(interaction, text)


def _show_vote(message: discord.Message, job: Job, vote: str | None) -> discord.ui.View:
    """The result's buttons again, 👍 or 👎 green when it is the vote of the member who just
    voted (the message is shared: it shows the last voter's vote)."""
    view = discord.ui.View.from_message(message, timeout=None)
    for index, button in enumerate(job.buttons):
        cast = vote_of(button.custom_id)
        shown_id = custom_ids.result(job.id, index)
        item = next((i for i in view.children if getattr(i, "custom_id", None) == shown_id), None)
        if cast is not None and isinstance(item, discord.ui.Button):
            item.style = discord.ButtonStyle.success if cast == vote else discord.ButtonStyle.secondary
    return view


async def _open_report(interaction: discord.Interaction[Any], job: Job, index: int) -> None:
    """Open the report form (a modal must be the first answer to the click, so no defer)."""
    bot: MjBot = interaction.client
    try:
        async with asyncio.timeout(REPORT_QUEUES_WAIT):
            queues = await bot.engine.aimg.report_queues(job, index, interaction.user.id)
    except UserError as exc:
        text = said(exc)
    except BackendError as exc:
        text = exc.user_message
    except TimeoutError:
        text = tr("AIMG did not send its report categories in time. Click 🚩 again in a minute.")
    else:
        await interaction.response.send_modal(ReportModal(job, index, queues, member_locale(interaction)))
        return
    await tell(interaction, text)


class ReportModal(JobModal):
    """🚩: one of AIMG's report categories (getReportQueues) and optional details for its
    moderators; its own words in ``locale`` (the categories are AIMG's, as it names them)."""

    def __init__(self, job: Job, index: int, queues: Sequence[str], locale: str) -> None:
        super().__init__(job, index, title=render(tr("Report this item"), locale))
        # Discord lists 25 options of at most 100 characters; with no category AIMG files the
        # report under its default, so offer that one.
        offered = [q for q in queues if 0 < len(q) <= 100][:25] or [DEFAULT_REPORT_QUEUE]
        self.category: discord.ui.Select[Any] = discord.ui.Select(
            options=[discord.SelectOption(label=q, value=q) for q in offered],
            placeholder=render(tr("What is wrong with it?"), locale),
            min_values=1,
            max_values=1,
        )
        self.details: discord.ui.TextInput[Any] = discord.ui.TextInput(
            style=discord.TextStyle.paragraph,
            placeholder=render(tr("Anything that helps AIMG's moderators."), locale),
            required=False,
            max_length=REPORT_DETAILS_CHARS,
        )
        self.add_item(discord.ui.Label(text=render(tr("Category"), locale), component=self.category))
        self.add_item(discord.ui.Label(text=render(tr("Details (optional)"), locale), component=self.details))

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.defer()
        details = self.details.value.strip() or None
        await _item_action(
            interaction, self.job, self.index, report_queue=self.category.values[0], details=details
        )
