"""Time source of the emulator, movable by tests so that 3 s / 15 min expiries need no sleeping."""

from __future__ import annotations

import time


class Clock:
    """Wall-clock seconds plus an offset that only tests move forward."""

    def __init__(self) -> None:
        self._offset = 0.0

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += seconds


class SnowflakeGenerator:
    """Real-format Discord snowflakes (ms since the Discord epoch << 22), strictly increasing."""

    DISCORD_EPOCH_MS = 1_420_070_400_000

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._last = 0

    def next(self) -> int:
        stamp = (int(self._clock.now() * 1000) - self.DISCORD_EPOCH_MS) << 22
        self._last = max(self._last + 1, stamp)
        return self._last

    def next_on_shard(self, shard: int, shard_count: int) -> int:
        """The next snowflake whose guild would be on ``shard`` of ``shard_count`` (Discord's rule)."""
        stamp = (self._last >> 22) + 1
        stamp += (shard - stamp) % shard_count
        self._last = stamp << 22
        return self._last

    @classmethod
    def timestamp(cls, snowflake: int) -> float:
        """Unix seconds encoded in a snowflake."""
        return ((snowflake >> 22) + cls.DISCORD_EPOCH_MS) / 1000
