"""Who may use a job's buttons and modals, and where: one check for every click and submit.

A click or a submit acts on its job only in the job's own server, for the job's owner (or a member
with Manage Messages, or anyone when the server opened its buttons); 🗑️ and 🚩 stay with the owner
and moderators whatever that setting says; and an AIMG job's content (adult) is shown or made
only where the interaction happens is an age-restricted channel or one an admin allowed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord

from bot.backends.aimg import custom_id as aimg_custom_id
from bot.discord_side.language import tell
from bot.domain import Job
from bot.i18n import said, tr
from bot.jobs.calls import UserError

if TYPE_CHECKING:
    from bot.discord_side.app import MjBot

AGE_REFUSAL = tr(
    "AIMG makes adult content, so it works only in age-restricted channels. "
    "Use an age-restricted channel, or ask an admin to allow this one."
)
ELSEWHERE = tr("This button no longer works here.")
#: Item actions that act on the owner's item for everyone: never opened to anyone.
_OWNER_ONLY = frozenset({aimg_custom_id("delete"), aimg_custom_id("report")})


async def aimg_allowed(bot: MjBot, interaction: discord.Interaction[Any]) -> bool:
    """Whether AIMG content may be shown or made where ``interaction`` happens: an age-restricted
    (NSFW) channel, or one an admin allowed with ``/setup channel aimg_allowed:True``."""
    is_nsfw = getattr(interaction.channel, "is_nsfw", None)
    if is_nsfw and is_nsfw():
        return True
    if interaction.guild_id is None or interaction.channel_id is None:
        return False
    config = await bot.store.guild_config(interaction.guild_id)
    return config.channel(interaction.channel_id).aimg_allowed


async def age_refusal(interaction: discord.Interaction[Any], job: Job) -> str | None:
    """The refusal when ``job`` is AIMG's and its content may not appear where ``interaction``
    happens (not where the job was made); None when it may."""
    bot: MjBot = interaction.client
    if await bot.engine.is_aimg(job) and not await aimg_allowed(bot, interaction):
        return AGE_REFUSAL
    return None


async def owned_job(interaction: discord.Interaction[Any], job_id: int) -> Job:
    """The job, when it is this server's and the member may use its buttons; else a UserError."""
    bot: MjBot = interaction.client
    job = await bot.engine.get(job_id)
    if job is None:
        raise UserError(tr("This job is no longer known to the bot. Run /imagine again."))
    if job.guild_id != interaction.guild_id:
        raise UserError(ELSEWHERE)
    if (
        interaction.user.id != job.owner_id
        and not can_manage(interaction)
        and not (await bot.store.guild_config(job.guild_id)).buttons_anyone
    ):
        raise UserError(tr("Only <@{owner}> can use these buttons.", owner=job.owner_id))
    return job


async def usable_job(interaction: discord.Interaction[Any], job_id: int, index: int) -> Job:
    """The job whose button ``index`` the member clicked (or whose modal they submit), after
    every check of :func:`owned_job`, the owner-only item actions and the age gate."""
    job = await owned_job(interaction, job_id)
    if not 0 <= index < len(job.buttons):
        raise UserError(tr("This button is no longer available. Run /imagine again."))
    if (
        job.buttons[index].custom_id in _OWNER_ONLY
        and interaction.user.id != job.owner_id
        and not can_manage(interaction)
    ):
        raise UserError(
            tr("Only <@{owner}> or a moderator can delete or report this item.", owner=job.owner_id)
        )
    refusal = await age_refusal(interaction, job)
    if refusal is not None:
        raise UserError(refusal)
    return job


def clicked_channel(interaction: discord.Interaction[Any]) -> int:
    """Where a click's (or its modal's) new job lives: the channel of the clicked message, whose
    rules apply and where its reply is posted; not necessarily the parent job's channel."""
    assert interaction.channel_id is not None
    return interaction.channel_id


def can_manage(interaction: discord.Interaction[Any]) -> bool:
    perms = interaction.permissions
    return perms.manage_messages or perms.administrator


async def refuse_quietly(interaction: discord.Interaction[Any], text: str) -> None:
    """Tell only the member ``text`` (in their language), as the response or (once responded) a
    follow-up."""
    await tell(interaction, text)


class JobModal(discord.ui.Modal):
    """A modal opened from button ``index`` of ``job``: its submit is checked as the click was
    (the member, the server and the channel may have changed since it opened)."""

    def __init__(self, job: Job, index: int, title: str = discord.utils.MISSING) -> None:
        super().__init__(title=title, timeout=900)
        self.job, self.index = job, index

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        try:
            self.job = await usable_job(interaction, self.job.id, self.index)
        except UserError as exc:
            await refuse_quietly(interaction, said(exc))
            return False
        return True
