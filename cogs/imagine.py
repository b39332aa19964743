"""/imagine: a prompt and up to two image prompts become a job whose message shows its progress."""

from __future__ import annotations

import asyncio
import io
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands
from PIL import Image, UnidentifiedImageError

from bot.jobs.engine import MAX_PROMPT_CHARS, UserError

if TYPE_CHECKING:
    from bot.app import MjBot

#: Image prompts larger than this are refused (the backend would re-upload them to Discord).
MAX_IMAGE_BYTES = 8 * 1024 * 1024
_IMAGE_FORMATS = {"PNG", "JPEG", "WEBP", "GIF"}
#: Pixels above this are refused before decoding (decompression bombs).
_MAX_PIXELS = 40_000_000


async def read_image(attachment: discord.Attachment) -> bytes:
    """The attachment's bytes when it really is a PNG, JPEG, WebP or GIF image of sane size."""
    name = attachment.filename
    if attachment.size > MAX_IMAGE_BYTES:
        raise UserError(f"{name} is {attachment.size // 1024 // 1024} MB; image prompts can be at most 8 MB.")
    data = await attachment.read()
    try:
        await asyncio.to_thread(_check_image, data)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise UserError(f"{name} is not a PNG, JPEG, WebP or GIF image. Attach an image file.") from None
    return data


def _check_image(data: bytes) -> None:
    with Image.open(io.BytesIO(data)) as image:
        if image.format not in _IMAGE_FORMATS:
            raise ValueError(image.format)
        if image.width * image.height > _MAX_PIXELS:
            raise ValueError("too many pixels")
        image.verify()


class Imagine(commands.Cog):
    def __init__(self, bot: MjBot) -> None:
        self.bot = bot

    @app_commands.command(name="imagine", description="Create four images from a text prompt.")
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
        # Acknowledge before anything slow (reading attachments, the store).
        await interaction.response.defer(ephemeral=True, thinking=True)
        assert interaction.guild_id is not None and interaction.channel_id is not None
        try:
            images = [await read_image(a) for a in (image1, image2) if a is not None]
            job = await self.bot.engine.imagine(
                guild_id=interaction.guild_id,
                channel_id=interaction.channel_id,
                owner_id=interaction.user.id,
                prompt=prompt,
                images=images,
            )
        except UserError as exc:
            await interaction.followup.send(str(exc), ephemeral=True)
            return
        await interaction.followup.send(
            f"Job #{job.id} is on its way; it will appear in this channel.", ephemeral=True
        )


async def setup(bot: MjBot) -> None:
    await bot.add_cog(Imagine(bot))
