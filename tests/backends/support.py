"""Helpers the backend client tests share."""

from __future__ import annotations

import asyncio
import io

from PIL import Image

from bot.backends.base import Backend
from bot.domain import TaskSnapshot


async def poll_until_done(backend: Backend, task_id: str) -> TaskSnapshot:
    """Fetch like the engine's poller until the task ends (bounded: the fakes finish in ~50 ms)."""
    async with asyncio.timeout(5):
        while True:
            snapshot = await backend.fetch(task_id)
            assert snapshot is not None
            if snapshot.status.terminal:
                return snapshot
            await asyncio.sleep(0.01)


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return image.size
