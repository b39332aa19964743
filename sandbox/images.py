"""Pillow helpers that draw the sandbox backends' "generated" images.

The images are real PNGs, recognisable at a glance in the emulator: a 2x2 grid of coloured tiles
numbered 1-4 with the prompt's first words, and upscales cut from a grid tile, so a U2 visibly
comes from tile 2.
"""

from __future__ import annotations

import functools
import hashlib
import io
import struct
import zlib

from PIL import Image, ImageDraw, ImageFilter, ImageFont

GRID_SIZE = 512
TILE_SIZE = GRID_SIZE // 2


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _palette(seed: str) -> list[tuple[int, int, int]]:
    """Four colours that depend only on ``seed``: the same task always draws the same picture."""
    digest = hashlib.sha256(seed.encode()).digest()
    # Keep every channel in 64..223 so white and black text both stay readable.
    return [
        (64 + digest[i] % 160, 64 + digest[i + 1] % 160, 64 + digest[i + 2] % 160) for i in range(0, 12, 3)
    ]


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _caption(draw: ImageDraw.ImageDraw, xy: tuple[int, int], text: str, size: int) -> None:
    draw.text(xy, text, fill="white", font=_font(size), stroke_width=2, stroke_fill="black")


def render_grid(prompt: str, seed: str) -> bytes:
    """A 512x512 PNG: four tiles numbered 1-4 in Midjourney's order, captioned with the prompt."""
    image = Image.new("RGB", (GRID_SIZE, GRID_SIZE))
    draw = ImageDraw.Draw(image)
    words = " ".join(prompt.split()[:4])
    for index, colour in enumerate(_palette(seed)):
        left, top = (index % 2) * TILE_SIZE, (index // 2) * TILE_SIZE
        draw.rectangle((left, top, left + TILE_SIZE - 1, top + TILE_SIZE - 1), fill=colour, outline="black")
        _caption(draw, (left + 16, top + 12), str(index + 1), 72)
        _caption(draw, (left + 16, top + TILE_SIZE - 36), words[:24], 18)
    return _png(image)


def crop_tile(grid_png: bytes, index: int) -> bytes:
    """Tile ``index`` (1-4) of a grid, as a 256x256 PNG marked with the upscale it stands for."""
    if not 1 <= index <= 4:
        raise ValueError(f"tile index must be 1-4, not {index}")
    with Image.open(io.BytesIO(grid_png)) as grid:
        tile_w, tile_h = grid.width // 2, grid.height // 2
        left, top = ((index - 1) % 2) * tile_w, ((index - 1) // 2) * tile_h
        tile = (
            grid.convert("RGB").crop((left, top, left + tile_w, top + tile_h)).resize((TILE_SIZE, TILE_SIZE))
        )
    _caption(ImageDraw.Draw(tile), (TILE_SIZE - 64, 12), f"U{index}", 24)
    return _png(tile)


def enlarge(png: bytes, factor: int = 2) -> bytes:
    """``png`` scaled up by ``factor`` (the sandbox's "Upscale (Subtle/Creative)")."""
    with Image.open(io.BytesIO(png)) as image:
        return _png(image.convert("RGB").resize((image.width * factor, image.height * factor)))


def render_preview(png: bytes, progress: int) -> bytes:
    """A blurred copy of the final image with the progress printed on it, like MJ's previews."""
    with Image.open(io.BytesIO(png)) as image:
        preview = image.convert("RGB").filter(ImageFilter.GaussianBlur(radius=max(1, (100 - progress) // 6)))
    _caption(ImageDraw.Draw(preview), (12, preview.height // 2 - 24), f"{progress}%", 48)
    return _png(preview)


def image_size(data: bytes) -> tuple[int, int]:
    """Width and height of an encoded image; ``ValueError`` if Pillow cannot read it."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.width, image.height
    except OSError as exc:  # PIL.UnidentifiedImageError is an OSError
        raise ValueError("not a readable image") from exc


def render_image(prompt: str, seed: str, width: int, height: int, label: str = "") -> bytes:
    """One ``width`` x ``height`` PNG (AIMG makes a single image per item, not a grid).

    A diagonal split of two colours from ``seed`` (so a re-roll visibly changes the picture), the
    prompt's first words, and ``label`` (e.g. the seed and subseed) in the corner.
    """
    first, second, *_ = _palette(seed)
    image = Image.new("RGB", (width, height), first)
    draw = ImageDraw.Draw(image)
    draw.polygon([(width, 0), (width, height), (0, height)], fill=second)
    _caption(draw, (16, 12), " ".join(prompt.split()[:5])[:40], 22)
    if label:
        _caption(draw, (16, height - 36), label[:48], 18)
    return _png(image)


def animate(frames: list[bytes], frame_ms: int = 200) -> bytes:
    """The PNG ``frames`` as a looping animated GIF (the sandbox's stand-in for a video file)."""
    if not frames:
        raise ValueError("an animation needs at least one frame")
    opened = [Image.open(io.BytesIO(frame)).convert("RGB") for frame in frames]
    out = io.BytesIO()
    opened[0].save(out, format="GIF", save_all=True, append_images=opened[1:], duration=frame_ms, loop=0)
    return out.getvalue()


def png_bomb(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of ``width`` x ``height`` that is all black: tiny on the wire, huge once
    decoded (a decompression bomb)."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte, then the row's bits
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
