"""Vary (Region) masks. Discord has no mask editor, so the member picks a region and the bot
paints it: white = repaint, black = keep (the Midjourney editor's convention), at the image's size.
"""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

#: Region name → the box to repaint, as fractions of (left, top, right, bottom).
REGIONS: dict[str, tuple[float, float, float, float]] = {
    "left": (0.0, 0.0, 0.5, 1.0),
    "right": (0.5, 0.0, 1.0, 1.0),
    "top": (0.0, 0.0, 1.0, 0.5),
    "bottom": (0.0, 0.5, 1.0, 1.0),
    "centre": (0.25, 0.25, 0.75, 0.75),
}
#: "border" repaints everything outside the centre box.
BORDER = "border"
REGION_NAMES = (*REGIONS, BORDER)


def region_mask(size: tuple[int, int], region: str) -> bytes:
    """A black-and-white PNG mask of ``size`` with ``region`` white."""
    width, height = size
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
    with Image.open(io.BytesIO(data)) as image:
        return image.size
