"""/imagine, /blend, /describe and /shorten: each becomes a job whose channel message shows it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_side.attachments import read_images
from bot.discord_side.early_acks import EARLY_ACK
from bot.discord_side.replies import defer_job_message, refuse
from bot.domain import JobKind
from bot.i18n import said
from bot.jobs.calls import UserError
from bot.jobs.rules import MAX_PROMPT_CHARS

if TYPE_CHECKING:
    from bot.discord_side.app import MjBot


class Imagine(commands.Cog):
    def __init__(self, bot: MjBot) -> None:
        self.bot = bot

    async def _start(
        self,
        interaction: discord.Interaction[Any],
        kind: JobKind,
        *,
        prompt: str = "",
        attachments: list[discord.Attachment | None] | None = None,
        params: dict[str, str] | None = None,
    ) -> None:
        """The one path every command takes: acknowledge, read images, queue the job, whose
        message is the acknowledgement's (see bot/discord_side/replies.py)."""
        # Acknowledge before anything slow (reading attachments, the store).
        reply = await defer_job_message(interaction)
        assert interaction.guild_id is not None
        assert interaction.channel_id is not None
        try:
            images = await read_images(attachments or [])
            await self.bot.engine.submit(
                kind,
                guild_id=interaction.guild_id,
                channel_id=interaction.channel_id,
                owner_id=interaction.user.id,
                prompt=prompt,
                images=images,
                image_urls=[a.url for a in attachments or [] if a is not None],
                params=params,
                reply=reply,
            )
        except UserError as exc:
            await refuse(interaction, said(exc))
            await self.bot.store.forget_command(interaction.id)
        except Exception:
            # Answered by the error handler: not a command to run again after a restart.
            await self.bot.store.forget_command(interaction.id)
            raise

    # Every command here acknowledges first thing (_start), so bot/discord_side/early_acks.py may do
    # it for them from the gateway event.
    @app_commands.command(
        name="imagine", description="Create four images from a text prompt.", extras={EARLY_ACK: True}
    )
    @app_commands.describe(
        prompt="What to draw, with any Midjourney parameters (e.g. a lighthouse at dusk --ar 16:9).",
        image1="An image to use as part of the prompt (optional).",
        image2="A second image to use as part of the prompt (optional).",
    )
    @app_commands.guild_only()
    async def imagine(
        self,
        interaction: discord.Interaction[Any],
        prompt: app_commands.Range[str, 1, MAX_PROMPT_CHARS],
        image1: discord.Attachment | None = None,
        image2: discord.Attachment | None = None,
    ) -> None:
        await self._start(interaction, JobKind.IMAGINE, prompt=prompt, attachments=[image1, image2])

    @app_commands.command(
        name="blend", description="Blend 2 to 5 images into four new ones.", extras={EARLY_ACK: True}
    )
    @app_commands.describe(
        image1="First image.",
        image2="Second image.",
        image3="Third image (optional).",
        image4="Fourth image (optional).",
        image5="Fifth image (optional).",
        dimensions="Shape of the result (default square).",
    )
    @app_commands.choices(
        dimensions=[
            app_commands.Choice(name="Portrait (2:3)", value="PORTRAIT"),
            app_commands.Choice(name="Square (1:1)", value="SQUARE"),
            app_commands.Choice(name="Landscape (3:2)", value="LANDSCAPE"),
        ]
    )
    @app_commands.guild_only()
    async def blend(
        self,
        interaction: discord.Interaction[Any],
        image1: discord.Attachment,
        image2: discord.Attachment,
        image3: discord.Attachment | None = None,
        image4: discord.Attachment | None = None,
        image5: discord.Attachment | None = None,
        dimensions: app_commands.Choice[str] | None = None,
    ) -> None:
        await self._start(
            interaction,
            JobKind.BLEND,
            attachments=[image1, image2, image3, image4, image5],
            params={"dimensions": dimensions.value if dimensions else "SQUARE"},
        )

    @app_commands.command(
        name="describe", description="Get four prompts that describe an image.", extras={EARLY_ACK: True}
    )
    @app_commands.describe(image="The image to describe.")
    @app_commands.guild_only()
    async def describe(self, interaction: discord.Interaction[Any], image: discord.Attachment) -> None:
        await self._start(interaction, JobKind.DESCRIBE, attachments=[image])

    @app_commands.command(
        name="shorten",
        description="Find the words of a prompt that matter and shorter versions.",
        extras={EARLY_ACK: True},
    )
    @app_commands.describe(prompt="The prompt to analyse.")
    @app_commands.guild_only()
    async def shorten(
        self, interaction: discord.Interaction[Any], prompt: app_commands.Range[str, 1, MAX_PROMPT_CHARS]
    ) -> None:
        await self._start(interaction, JobKind.SHORTEN, prompt=prompt)


async def setup(bot: MjBot) -> None:
    await bot.add_cog(Imagine(bot))
