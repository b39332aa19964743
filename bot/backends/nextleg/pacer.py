"""The pace TheNextLeg allows a token."""

from __future__ import annotations

import asyncio


class Pacer:
    """At most one request start per ``interval`` seconds; callers wait their turn, first come first
    served, instead of being refused (TheNextLeg's sliding window is one request per 3 s)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._lock = asyncio.Lock()
        self._next_start = 0.0

    async def wait(self) -> None:
        async with self._lock:
            loop = asyncio.get_running_loop()
            delay = self._next_start - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self._next_start = loop.time() + self.interval
