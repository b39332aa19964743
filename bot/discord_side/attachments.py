"""Reading image attachments safely: the type is checked from the bytes, the size before download."""

from __future__ import annotations

import asyncio
import io

import discord
from PIL import Image, UnidentifiedImageError

from bot.i18n import tr
from bot.jobs.calls import UserError

#: Image prompts larger than this are refused (the backend would re-upload them to Discord).
MAX_IMAGE_BYTES = 8 * 1024 * 1024
_IMAGE_FORMATS = {"PNG", "JPEG", "WEBP", "GIF"}
#: Pixels above this are refused before decoding (decompression bombs).
_MAX_PIXELS = 40_000_000


async def read_image(attachment: discord.Attachment) -> bytes:
    """The attachment's bytes when it really is a PNG, JPEG, WebP or GIF image of sane size.

    Only Discord's own attachment URL is read (``Attachment.read``), never a URL a member typed.
    """
    name = attachment.filename
    if attachment.size > MAX_IMAGE_BYTES:
        raise UserError(
            tr(
                "{name} is {size:.1f} MB; images can be at most 8 MB.",
                name=name,
                size=attachment.size / 1024 / 1024,
            )
        )
    data = await attachment.read()
    if len(data) > MAX_IMAGE_BYTES:
        raise UserError(tr("{name} is larger than 8 MB; images can be at most 8 MB.", name=name))
    try:
        await asyncio.to_thread(_check_image, data)
    # Pillow reports a corrupt PNG chunk (bad CRC, cut short) as SyntaxError, not OSError.
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise UserError(
            tr("{name} is not a PNG, JPEG, WebP or GIF image. Attach an image file.", name=name)
        ) from None
    return data


async def read_images(attachments: list[discord.Attachment | None]) -> list[bytes]:
    return [await read_image(a) for a in attachments if a is not None]


def _check_image(data: bytes) -> None:
    with Image.open(io.BytesIO(data)) as image:
        if image.format not in _IMAGE_FORMATS:
            raise ValueError(image.format)
        if image.width * image.height > _MAX_PIXELS:
            raise ValueError("too many pixels")
        image.verify()
