"""kill -9 of the real bot process, then a restart on the same store: nothing lost, nothing twice."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import discord.gateway
import discord.http

from bot.config import JobSettings, Settings
from bot.sandbox.fake_mj_proxy import FakeMjProxy
from bot.sandbox.runner import Sandbox
from tests.reliability.harness import PROXY_SECRET, BotProcess, tally, until
from tests.reliability.scenarios import CrashRun, crash_run


async def test_kill_during_a_submit_fails_the_job_clearly_and_never_submits_twice(tmp_path: Path) -> None:
    saved = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    proxy = FakeMjProxy(secret=PROXY_SECRET, step_seconds=0.1)
    jobs = JobSettings(timeout_seconds=30, poll_interval_seconds=0.3, progress_edit_seconds=0.2)
    box = Sandbox(Settings(jobs=jobs), store_path=tmp_path / "mjbot.sqlite3", proxy=proxy)
    await box.emulator.start()
    await proxy.start()
    bot = BotProcess(box, tmp_path / "bot.log")
    try:
        await bot.start()
        emu = box.emulator
        art = emu.channel("art")
        proxy.faults.delay_responses(2.0)  # the backend takes the submit, then answers slowly
        await emu.slash(emu.world.member.id, art.id, "imagine", prompt="a tower mid-submit")
        await until(lambda: proxy.count("/mj/submit/imagine"))
        await bot.kill()  # the backend has the job; the bot never heard its task id
        proxy.faults.delay_responses(0.0)
        await bot.start()
        failed = await emu.wait_for_message(art.id, lambda m: "(Failed)" in m.content, timeout=15)
        assert "restarted while sending this job" in failed.content
        await asyncio.sleep(1.0)  # the backend task finishes meanwhile; the bot must not adopt or resend
        assert proxy.count("/mj/submit/imagine") == 1
    finally:
        await bot.kill()
        with contextlib.suppress(Exception):
            await proxy.stop()
        await box.emulator.stop()
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved
    result = tally(tmp_path / "mjbot.sqlite3", box.emulator, proxy, [tmp_path / "bot.log"])
    assert (result.jobs, result.failed_clearly, result.lost, result.duplicated) == (1, 1, 0, 0), result
    assert result.crashes == 0


async def test_random_kill_points_lose_nothing_and_duplicate_nothing(tmp_path: Path) -> None:
    result, leaks = await crash_run(tmp_path, CrashRun(jobs=10, kills=3, clicks=3, seed=7, spread=4.0))
    assert result.lost == 0, result.problems
    assert result.duplicated == 0, result.problems
    assert result.crashes == 0, (tmp_path / "bot.log").read_text()[-3000:]
    # Commands sent while the bot was down were never acknowledged (Discord tells the member).
    assert result.jobs > 0 and result.finished + result.failed_clearly == result.jobs
    assert leaks == []
