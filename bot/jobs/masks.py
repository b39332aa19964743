"""Vary (Region) masks: white = repaint, black = keep (the Midjourney editor's convention), at the
image's size. Either a region the member picked in a modal, or the shapes they drew in the bot's
editor page (docs/mask-editor.md).
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from typing import Annotated, Literal

import httpx
from PIL import Image, ImageDraw, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field

from bot.domain import Job
from bot.http_client import read_capped
from bot.i18n import tr
from bot.jobs.calls import UserError
from bot.jobs.engine import JobEngine

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
#: What a parent image may be (and its MIME type); anything else (an error page, a video) is not
#: read further.
_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
#: Largest parent image downloaded to draw a mask on.
MAX_PARENT_BYTES = 20 * 1024 * 1024
_TOO_LARGE = tr("The original image is too large to mask. Use Vary (Region) on another image.")
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


def image_header(data: bytes) -> tuple[str, tuple[int, int]]:
    """The MIME type and size a PNG, JPEG, WebP or GIF says in its header (nothing is decoded, so
    a decompression bomb costs nothing); ValueError for anything else."""
    try:
        with Image.open(io.BytesIO(data), formats=list(_FORMATS)) as image:
            return _FORMATS[image.format or ""], image.size
    # Pillow reports a corrupt PNG chunk as SyntaxError, and a huge header as a bomb.
    except (UnidentifiedImageError, OSError, SyntaxError, KeyError, Image.DecompressionBombError) as exc:
        raise ValueError("not a readable image") from exc


@dataclass(frozen=True)
class ParentImage:
    data: bytes
    mime: str
    size: tuple[int, int]


async def fetch_parent(engine: JobEngine, job: Job) -> ParentImage:
    """The image a Vary (Region) is drawn on, downloaded with a cap and read from its header only;
    UserError with the sentence to show when it cannot be had."""
    if not job.image_url:
        raise UserError(tr("The original image is gone, so a region cannot be drawn on it."))
    if not engine.image_url_allowed(job, job.image_url):
        # The URL came from the backend; never let it point the bot at its own network.
        raise UserError(
            tr("The original image is not on the image service's own host, so it cannot be masked.")
        )
    try:
        data = await read_capped(engine.download_client(job), job.image_url, MAX_PARENT_BYTES)
    except httpx.HTTPError:
        raise UserError(tr("The original image could not be downloaded. Try again in a minute.")) from None
    if data is None:
        raise UserError(_TOO_LARGE)
    try:
        mime, (width, height) = await asyncio.to_thread(image_header, data)
    except ValueError:
        raise UserError(
            tr(
                "The original image could not be read, so a region cannot be drawn on it. "
                "Try again in a minute, or use Vary (Region) on another image."
            )
        ) from None
    if width * height > MAX_MASK_PIXELS:
        raise UserError(_TOO_LARGE)
    return ParentImage(data, mime, (width, height))


Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Point = tuple[Fraction, Fraction]
#: Bounds on what one editor submit may draw, so drawing it costs little whatever is sent.
MAX_SHAPES = 100
MAX_POINTS = 5_000


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RectShape(_Shape):
    """A rectangle between two corners; coordinates are fractions of the image's width and height."""

    kind: Literal["rect"]
    x0: Fraction
    y0: Fraction
    x1: Fraction
    y1: Fraction


class LassoShape(_Shape):
    """A closed polygon (the lasso's path)."""

    kind: Literal["lasso"]
    points: list[Point] = Field(min_length=3, max_length=MAX_POINTS)


class BrushShape(_Shape):
    """A stroke of round brush dabs; ``size`` is the brush's diameter as a fraction of the width."""

    kind: Literal["brush"]
    size: float = Field(ge=0.002, le=0.5)
    points: list[Point] = Field(min_length=1, max_length=MAX_POINTS)


Shape = Annotated[RectShape | LassoShape | BrushShape, Field(discriminator="kind")]


def shapes_mask(size: tuple[int, int], shapes: list[Shape]) -> bytes:
    """A black-and-white PNG mask of ``size`` with every shape white."""
    width, height = size
    if width * height > MAX_MASK_PIXELS:
        raise ValueError(f"a mask of {width}×{height} pixels is larger than the bot draws")
    image = Image.new("L", size, 0)
    draw = ImageDraw.Draw(image)

    def xy(point: Point) -> tuple[float, float]:
        return point[0] * width, point[1] * height

    for shape in shapes:
        if isinstance(shape, RectShape):
            (x0, y0), (x1, y1) = xy((shape.x0, shape.y0)), xy((shape.x1, shape.y1))
            draw.rectangle((min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)), fill=255)
        elif isinstance(shape, LassoShape):
            draw.polygon([xy(p) for p in shape.points], fill=255)
        else:
            diameter = shape.size * width
            path = [xy(p) for p in shape.points]
            if len(path) > 1:
                draw.line(path, fill=255, width=max(1, round(diameter)), joint="curve")
            radius = diameter / 2
            for x, y in path:
                draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
