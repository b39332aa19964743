"""When the publisher's next pass runs (``bot/discord_side/publisher.py``): a loop callback, not
a task waiting on an event, so a pass costs one timer and no task wake-ups."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable


class PassTimer:
    def __init__(self, run: Callable[[], None], tick: float) -> None:
        self._run = run
        self._tick = tick
        self._next: asyncio.TimerHandle | None = None
        #: When the next pass runs (time.monotonic()), and when the last one began.
        self._next_at = math.inf
        self._last = -math.inf
        self._stopped = True

    def start(self) -> None:
        self._stopped = False
        self.soon()

    def stop(self) -> None:
        """No pass runs any more, not even one already due."""
        self._stopped = True
        if self._next is not None:
            self._next.cancel()
            self._next = None

    def soon(self) -> None:
        """Something changed: a pass serves it in the loop's next turn, or ``tick`` after the
        last pass if that was sooner, with every other change until then. Serving it at once
        rather than a ``tick`` later spares a quiet bot a wake-up of its own per pass: the pass
        runs while the push or write that caused it is still warm in the CPU's caches."""
        self.at(time.monotonic())

    def at(self, at: float) -> None:
        """Have a pass run at ``at`` (time.monotonic()), or sooner if one is due sooner; never
        sooner than ``tick`` after the last."""
        at = max(at, self._last + self._tick)
        if self._stopped or at >= self._next_at:
            return
        if self._next is not None:
            self._next.cancel()
        self._next_at = at
        self._next = asyncio.get_running_loop().call_later(max(0.0, at - time.monotonic()), self._run)

    def begin(self) -> float:
        """A pass begins: none is scheduled any more. Returns its start (time.monotonic())."""
        self._next, self._next_at = None, math.inf
        self._last = time.monotonic()
        return self._last
