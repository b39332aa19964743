"""Commands for members about their own jobs: /info, /jobs, /show, /cancel and /seed."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.backends import service_name
from bot.discord_side.access import age_refusal, aimg_allowed
from bot.discord_side.language import channel_locale, for_channel, for_member, member_locale, tell
from bot.discord_side.render import job_view, shown_prompt
from bot.domain import BackendKind, GuildConfig, Job, JobStatus
from bot.i18n import render, said, tr
from bot.jobs.calls import UserError
from cogs.buttons import cancelled_text

if TYPE_CHECKING:
    from bot.discord_side.app import MjBot

PAGE_SIZE = 10
#: The account fields /info shows, in this order, where the service reports them (the service's
#: own words, shown as it says them).
ACCOUNT_FIELDS = (
    "Fast Time Remaining",
    "Job Mode",
    "Queued Jobs (fast)",
    "Queued Jobs (relax)",
    "Subscription",
    "Visibility Mode",
)
_STATUS = {
    JobStatus.QUEUED: tr("⏳ waiting"),
    JobStatus.SUBMITTED: tr("⏳ starting"),
    JobStatus.MODAL: tr("⏳ starting"),
    JobStatus.IN_PROGRESS: tr("🎨 running"),
    JobStatus.SUCCESS: tr("✅ done"),
    JobStatus.FAILURE: tr("❌ failed"),
    JobStatus.CANCELLED: tr("🚫 cancelled"),
}


def job_line(job: Job, locale: str) -> str:
    link = render(
        tr(
            " [message]({url})",
            url=f"https://discord.com/channels/{job.guild_id}/{job.channel_id}/{job.message_id}",
        ),
        locale,
    )
    where = link if job.message_id else ""
    progress = f" {job.progress}%" if job.status is JobStatus.IN_PROGRESS and job.progress else ""
    prompt = shown_prompt(job.prompt or job.kind.value)[:80]
    return f"`#{job.id}` {render(_STATUS[job.status], locale)}{progress} · {job.kind.value} · {prompt}{where}"


def _lines(jobs: list[Job], locale: str) -> str:
    return "\n".join(job_line(job, locale) for job in jobs)


class Member(commands.Cog):
    def __init__(self, bot: MjBot) -> None:
        self.bot = bot

    async def my_jobs(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[int]]:
        if interaction.guild_id is None:
            return []
        jobs = await self.bot.store.member_jobs(interaction.guild_id, interaction.user.id, limit=25)
        locale = member_locale(interaction)
        return [
            app_commands.Choice(
                name=f"#{j.id} {render(_STATUS[j.status], locale)}: {j.prompt or j.kind.value}"[:100],
                value=j.id,
            )
            for j in jobs
            if current in str(j.id) or current.lower() in j.prompt.lower()
        ][:25]

    @app_commands.command(
        name="info", description="Your jobs, what you have left today, and this channel's service."
    )
    @app_commands.guild_only()
    async def info(self, interaction: discord.Interaction[Any]) -> None:
        assert interaction.guild_id is not None and interaction.channel_id is not None
        engine = self.bot.engine
        config = await self.bot.store.guild_config(interaction.guild_id)
        active, today = await engine.member.usage(interaction.guild_id, interaction.user.id)
        jobs = await self.bot.store.member_jobs(interaction.guild_id, interaction.user.id, limit=PAGE_SIZE)
        running = [j for j in jobs if not j.status.terminal]
        limits = config.limits
        daily = (
            tr(
                "today: {left} of {daily} left",
                left=max(0, limits.user_daily - today),
                daily=limits.user_daily,
            )
            if limits.user_daily
            else tr("no daily limit")
        )
        here = await self._channel_services(interaction, config)
        locale = member_locale(interaction)
        embed = discord.Embed(title=render(tr("Your jobs here"), locale))
        embed.add_field(
            name=render(tr("Running or waiting"), locale),
            value=_lines(running, locale) or render(tr("none"), locale),
            inline=False,
        )
        embed.add_field(
            name=render(tr("Limits"), locale),
            value=render(
                tr(
                    "{active} of {limit} at once · {daily}",
                    active=active,
                    limit=limits.user_concurrent,
                    daily=daily,
                ),
                locale,
            ),
            inline=False,
        )
        embed.add_field(name=render(tr("This channel"), locale), value=render(here, locale), inline=False)
        channel = config.channel(interaction.channel_id)
        if channel.enabled:
            await self._send_with_account(interaction, embed, channel.backend)
        else:
            await interaction.response.send_message(embed=embed, ephemeral=True)

    async def _send_with_account(
        self, interaction: discord.Interaction[Any], embed: discord.Embed, only: BackendKind | None
    ) -> None:
        """Send /info's embed with an "Account" field where the channel's service (of kind
        ``only`` when the channel is kept to one) tells its account's status (a slow call:
        acknowledged first)."""
        assert interaction.guild_id is not None and interaction.channel_id is not None
        guild_id, channel_id = interaction.guild_id, interaction.channel_id
        if not self.bot.engine.member.offers_account_info(guild_id, channel_id, only):
            await interaction.response.send_message(embed=embed, ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            found = await self.bot.engine.member.account_info(guild_id, channel_id, only)
        except UserError as exc:
            embed.add_field(
                name=for_member(interaction, tr("Account")),
                value=for_member(interaction, said(exc)),
                inline=False,
            )
        else:
            if found is not None:
                service, fields = found
                lines = [f"{key}: {fields[key]}" for key in ACCOUNT_FIELDS if key in fields]
                embed.add_field(
                    name=for_member(interaction, tr("Account ({service})", service=service)),
                    value=("\n".join(lines) or for_member(interaction, tr("no details")))[:1024],
                    inline=False,
                )
        await interaction.followup.send(embed=embed, ephemeral=True)

    async def _channel_services(self, interaction: discord.Interaction[Any], config: GuildConfig) -> str:
        """The services a member can use in the interaction's channel, by the names people know;
        AIMG only where its adult content is allowed."""
        assert interaction.channel_id is not None
        channel = config.channel(interaction.channel_id)
        if not channel.enabled:
            return tr("the bot is off in this channel")
        adult_ok = await aimg_allowed(self.bot, interaction)
        kinds = {
            a.kind
            for a, _ in await self.bot.engine.setup.accounts(interaction.guild_id or 0)
            if a.enabled
            and a.channel_id in (None, interaction.channel_id)
            and channel.backend in (None, a.kind)
            and (adult_ok or a.kind is not BackendKind.AIMG)
        }
        return ", ".join(sorted(service_name(k) for k in kinds)) or tr("no image service set up here")

    @app_commands.command(name="jobs", description="Your recent jobs in this server, newest first.")
    @app_commands.describe(page="Which page (10 jobs each).")
    @app_commands.guild_only()
    async def jobs(
        self, interaction: discord.Interaction[Any], page: app_commands.Range[int, 1, 100] = 1
    ) -> None:
        assert interaction.guild_id is not None
        jobs = await self.bot.store.member_jobs(
            interaction.guild_id, interaction.user.id, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
        )
        if not jobs:
            await tell(
                interaction,
                tr("You have no jobs here yet. Start one with /imagine.")
                if page == 1
                else tr("No jobs on that page."),
            )
            return
        locale = member_locale(interaction)
        embed = discord.Embed(
            title=render(tr("Your jobs (page {page})", page=page), locale),
            description=_lines(jobs, locale)[:4096],
        )
        embed.set_footer(
            text=render(
                tr("/jobs page:{next} for older ones · /show job:<number> to post one again", next=page + 1),
                locale,
            )
        )
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @app_commands.command(
        name="show", description="Post one of your finished jobs again, with working buttons."
    )
    @app_commands.describe(job="The job's number (see /jobs).")
    @app_commands.autocomplete(job=my_jobs)
    @app_commands.guild_only()
    async def show(self, interaction: discord.Interaction[Any], job: int) -> None:
        assert interaction.guild_id is not None
        found = await self.bot.engine.get(job)
        if found is None or found.guild_id != interaction.guild_id:
            await tell(interaction, tr("There is no job #{job} in this server.", job=job))
            return
        if found.owner_id != interaction.user.id and not interaction.permissions.manage_messages:
            await tell(interaction, tr("You can only show your own jobs."))
            return
        if found.status is not JobStatus.SUCCESS:
            await tell(
                interaction,
                tr("Job #{job} has no result to show ({status}).", job=job, status=_STATUS[found.status]),
            )
            return
        refusal = await age_refusal(interaction, found)
        if refusal is not None:
            await tell(interaction, refusal)
            return
        await interaction.response.defer(thinking=True)
        files = []
        # Posted in the channel, for everyone there: in the server's language.
        content = for_channel(
            interaction,
            tr(
                "**{prompt}** - <@{owner}> (job #{job})",
                prompt=shown_prompt(found.prompt or found.kind.value),
                owner=found.owner_id,
                job=found.id,
            ),
        )
        image = await self.bot.publisher.download_result(found)
        if image is not None:
            files.append(discord.File(io.BytesIO(image), filename=f"mjbot_{found.id}.png"))
        elif found.image_url:
            content += f"\n{found.image_url}"
        view = job_view(found, locale=channel_locale(interaction))
        await interaction.followup.send(
            content,
            files=files,
            view=view if view is not None else discord.utils.MISSING,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    @app_commands.command(
        name="cancel", description="Cancel one of your jobs that is still waiting or running."
    )
    @app_commands.describe(job="The job's number (default: your newest unfinished job).")
    @app_commands.autocomplete(job=my_jobs)
    @app_commands.guild_only()
    async def cancel(self, interaction: discord.Interaction[Any], job: int | None = None) -> None:
        assert interaction.guild_id is not None
        engine = self.bot.engine
        if job is None:
            mine = await self.bot.store.member_jobs(
                interaction.guild_id, interaction.user.id, limit=PAGE_SIZE
            )
            running = [j for j in mine if not j.status.terminal]
            if not running:
                await tell(interaction, tr("You have no unfinished job to cancel."))
                return
            job = running[0].id
        found = await engine.get(job)
        if found is None or found.guild_id != interaction.guild_id:
            await tell(interaction, tr("There is no job #{job} in this server.", job=job))
            return
        if found.owner_id != interaction.user.id and not interaction.permissions.manage_messages:
            await tell(interaction, tr("You can only cancel your own jobs."))
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            still_running = await engine.cancel(job)
        except UserError as exc:
            await tell(interaction, said(exc))
            return
        await tell(interaction, cancelled_text(job, still_running))

    @app_commands.command(
        name="seed", description="The seed of one of your finished images (Midjourney's ✉️)."
    )
    @app_commands.describe(job="The job's number (see /jobs).")
    @app_commands.autocomplete(job=my_jobs)
    @app_commands.guild_only()
    async def seed(self, interaction: discord.Interaction[Any], job: int) -> None:
        assert interaction.guild_id is not None
        found = await self.bot.engine.get(job)
        if found is None or found.guild_id != interaction.guild_id:
            await tell(interaction, tr("There is no job #{job} in this server.", job=job))
            return
        if found.owner_id != interaction.user.id and not interaction.permissions.manage_messages:
            await tell(interaction, tr("You can only ask the seed of your own jobs."))
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            seed = await self.bot.engine.member.seed(found)
        except UserError as exc:
            await tell(interaction, said(exc))
            return
        await tell(
            interaction,
            tr(
                "Job #{job}'s seed is **{seed}**. Add `--seed {seed}` to a prompt to start from it.",
                job=job,
                seed=seed,
            ),
        )


async def setup(bot: MjBot) -> None:
    await bot.add_cog(Member(bot))
