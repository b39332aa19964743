"""Vary (Region) masks. Discord has no mask editor, so the member picks a region and the bot
paints it: white = repaint, black = keep (the Midjourney editor's convention), at the image's size.
"""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, UnidentifiedImageError

#: Region name → the box to repaint, as fractions of (left, top, right, bottom).
REGIONS: dict[str, tuple[float, float, float, float]] = {
    "left": (0.0, 0.0, 0.5, 1.0),
    "right": (0.5, 0.0, 1.0, 1.0),
    "top": (0.0, 0.0, 1.0, 0.5),
    "bottom": (0.0, 0.5, 1.0, 1.0),
    "centre": (0.25, 0.25, 0.75, 0.75),
}
#: The largest image a mask is drawn for (a 4x upscale of a wide Midjourney image is ~19 M).
MAX_MASK_PIXELS = 25_000_000
#: What a parent image may be; anything else (an error page, a video) is not read further.
_FORMATS = ["PNG", "JPEG", "WEBP", "GIF"]
#: "border" repaints everything outside the centre box.
BORDER = "border"
REGION_NAMES = (*REGIONS, BORDER)


def region_mask(size: tuple[int, int], region: str) -> bytes:
    """A black-and-white PNG mask of ``size`` with ``region`` white (at most MAX_MASK_PIXELS)."""
    width, height = size
    if width * height > MAX_MASK_PIXELS:
        raise ValueError(f"a {width}x{height} mask is too large")
    if region == BORDER:
        image = Image.new("L", size, 255)
        fill, box = 0, REGIONS["centre"]
    else:
        image = Image.new("L", size, 0)
        fill, box = 255, REGIONS[region]
    left, top, right, bottom = box
    ImageDraw.Draw(image).rectangle(
        (round(left * width), round(top * height), round(right * width) - 1, round(bottom * height) - 1),
        fill=fill,
    )
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def image_size(data: bytes) -> tuple[int, int]:
    """The size a PNG, JPEG, WebP or GIF says in its header (nothing is decoded, so a
    decompression bomb costs nothing); ValueError for anything else."""
    try:
        with Image.open(io.BytesIO(data), formats=_FORMATS) as image:
            return image.size
    # Pillow reports a corrupt PNG chunk as SyntaxError, and a huge header as a bomb.
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ValueError("not a readable image") from exc
