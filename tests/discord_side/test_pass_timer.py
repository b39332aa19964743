"""The publisher's pass timer: one pass for the changes that come together, never two passes
closer than a tick, none after stop."""

from __future__ import annotations

import asyncio
import time

from bot.discord_side.pass_timer import PassTimer

TICK = 0.05


class _Passes:
    """Counts the passes and begins each one, as the publisher's pass does."""

    def __init__(self) -> None:
        self.timer = PassTimer(self.run, TICK)
        self.began: list[float] = []

    def run(self) -> None:
        self.began.append(self.timer.begin())


async def _turns(count: int = 3) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


async def test_no_pass_before_start() -> None:
    passes = _Passes()

    passes.timer.soon()
    await asyncio.sleep(TICK * 2)

    assert passes.began == []


async def test_changes_in_one_turn_share_one_pass_in_the_next() -> None:
    passes = _Passes()
    passes.timer.start()
    passes.timer.soon()
    passes.timer.soon()

    await _turns()

    assert len(passes.began) == 1


async def test_a_pass_comes_no_sooner_than_a_tick_after_the_last() -> None:
    passes = _Passes()
    passes.timer.start()
    await _turns()

    passes.timer.soon()
    await _turns()
    assert len(passes.began) == 1
    await asyncio.sleep(TICK * 2)

    assert len(passes.began) == 2
    assert passes.began[1] - passes.began[0] >= TICK


async def test_a_sooner_pass_replaces_a_later_one() -> None:
    passes = _Passes()
    passes.timer.start()
    await _turns()
    passes.timer.at(time.monotonic() + 10.0)

    passes.timer.at(time.monotonic() + TICK)
    await asyncio.sleep(TICK * 3)

    assert len(passes.began) == 2


async def test_a_later_pass_does_not_delay_a_sooner_one() -> None:
    passes = _Passes()
    passes.timer.start()
    await _turns()
    passes.timer.at(time.monotonic() + TICK)

    passes.timer.at(time.monotonic() + 10.0)
    await asyncio.sleep(TICK * 3)

    assert len(passes.began) == 2


async def test_stop_cancels_the_pass_due_and_refuses_new_ones() -> None:
    passes = _Passes()
    passes.timer.start()
    passes.timer.stop()
    passes.timer.soon()

    await asyncio.sleep(TICK * 2)

    assert passes.began == []
