"""The lists AIMG rarely changes, cached."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

_T = TypeVar("_T")


class Cached(Generic[_T]):
    """A list AIMG rarely changes (models, report queues, workflow templates), kept for ``ttl``
    seconds; concurrent askers (autocomplete fires per keystroke) share one load."""

    def __init__(self, load: Callable[[], Awaitable[_T]], ttl: float, clock: Callable[[], float]) -> None:
        self._load, self._ttl, self._clock = load, ttl, clock
        self._entry: tuple[_T, float] | None = None
        self._lock = asyncio.Lock()

    async def get(self, *, refresh: bool = False) -> _T:
        async with self._lock:
            entry = self._entry
            if refresh or entry is None or self._clock() - entry[1] >= self._ttl:
                entry = (await self._load(), self._clock())
                self._entry = entry
            return entry[0]
