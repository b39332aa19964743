"""kill -9 of the real bot process, then a restart on the same store: nothing lost, nothing twice."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import discord.gateway
import discord.http
import pytest

from bot.config import JobSettings, Settings
from sandbox.discord import Interaction
from sandbox.fake_mj_proxy import FakeMjProxy
from sandbox.runner import Sandbox
from tests.e2e.conftest import is_result, png_bytes
from tests.reliability.harness import PROXY_SECRET, BotProcess, tally, until
from tests.reliability.scenarios import CrashRun, crash_run


@contextlib.asynccontextmanager
async def _crash_box(tmp_path: Path) -> AsyncIterator[tuple[Sandbox, FakeMjProxy, BotProcess]]:
    """The emulator and a fake proxy in this process, the bot (not started yet) in a child."""
    saved = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    proxy = FakeMjProxy(secret=PROXY_SECRET, step_seconds=0.1)
    jobs = JobSettings(timeout_seconds=30, poll_interval_seconds=0.3, progress_edit_seconds=0.2)
    box = Sandbox(Settings(jobs=jobs), store_path=tmp_path / "mjbot.sqlite3", proxy=proxy)
    await box.emulator.start()
    await proxy.start()
    bot = BotProcess(box, tmp_path / "bot.log")
    try:
        yield box, proxy, bot
    finally:
        await bot.kill()
        with contextlib.suppress(Exception):
            await proxy.stop()
        await box.emulator.stop()
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved


def _acked_rows(store: Path, sql: str = "SELECT interaction_id FROM acked_commands") -> list[int]:
    with contextlib.closing(sqlite3.connect(store)) as db:
        rows = [row[0] for row in db.execute(sql).fetchall()]
        db.commit()
    return rows


async def test_kill_during_a_submit_fails_the_job_clearly_and_never_submits_twice(tmp_path: Path) -> None:
    async with _crash_box(tmp_path) as (box, proxy, bot):
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
    result = tally(tmp_path / "mjbot.sqlite3", box.emulator, proxy, [tmp_path / "bot.log"])
    assert (result.jobs, result.failed_clearly, result.lost, result.duplicated) == (1, 1, 0, 0), result
    assert result.crashes == 0


async def _kill_between_ack_and_job(
    box: Sandbox, bot: BotProcess, store: Path, **options: Any
) -> Interaction:
    """An /imagine acknowledged ("thinking…"), then the bot killed before its job is stored."""
    emu = box.emulator
    bot.hold_submits = True
    await bot.start()
    art = emu.channel("art")
    inter = await emu.slash(emu.world.member.id, art.id, "imagine", prompt="a tower, acked", **options)
    await until(lambda: _acked_rows(store) == [inter.id])
    assert inter.acked and inter.original is not None and inter.original.loading
    await bot.kill()
    bot.hold_submits = False
    return inter


@pytest.mark.parametrize("late_ack_with_image", [False, True])
async def test_a_command_killed_after_its_acknowledgement_is_run_again_into_the_same_message(
    tmp_path: Path, late_ack_with_image: bool
) -> None:
    store = tmp_path / "mjbot.sqlite3"
    options: dict[str, Any] = {}
    async with _crash_box(tmp_path) as (box, proxy, bot):
        if late_ack_with_image:
            # Acknowledged by the command's own defer (the early one met an edge error page), and
            # an image option whose attachment URL the restarted bot reads again.
            box.emulator.inject_fault("POST /interactions/*/*/callback", 502, html=True)
            options["image1"] = ("ref.png", png_bytes("blue"), "image/png")
        inter = await _kill_between_ack_and_job(box, bot, store, **options)
        assert proxy.count("/mj/submit/imagine") == 0
        await bot.start()  # within the token's 15 minutes
        grid = await box.emulator.wait_for_message(box.emulator.channel("art").id, is_result, timeout=20)
        assert inter.original is not None and grid.id == inter.original.id
        assert proxy.count("/mj/submit/imagine") == 1
        (submit,) = [r.json for r in proxy.requests if r.path == "/mj/submit/imagine"]
        assert len(submit.get("base64Array") or []) == len(options)
        await until(lambda: _acked_rows(store, "SELECT id FROM jobs WHERE result_posted = 1") == [1])
    assert _acked_rows(store) == []
    result = tally(store, box.emulator, proxy, [tmp_path / "bot.log"])
    assert (result.jobs, result.finished, result.lost, result.duplicated) == (1, 1, 0, 0), result.problems
    assert result.crashes == 0


async def test_a_command_killed_after_its_acknowledgement_past_its_token_is_told_in_the_channel(
    tmp_path: Path,
) -> None:
    store = tmp_path / "mjbot.sqlite3"
    async with _crash_box(tmp_path) as (box, proxy, bot):
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        await _kill_between_ack_and_job(box, bot, store)
        # The bot came back after the interaction's token died (15 minutes, on both clocks), in
        # a server whose language is Japanese by then: the whole channel reads the notice.
        emu.clock.advance(16 * 60)
        _acked_rows(store, "UPDATE acked_commands SET expires = acked_at - 1 RETURNING interaction_id")
        await emu.set_server_locale("ja")
        await bot.start()
        told = await emu.wait_for_message(art.id, lambda m: f"<@{bob.id}>" in m.content, timeout=15)
        assert told.content == (
            f"<@{bob.id}> ボットが再起動したため、/imagine は開始されませんでした。もう一度実行してください。"
        )
        sent = next(
            c.body for c in emu.calls if c.method == "POST" and c.path == f"/channels/{art.id}/messages"
        )
        assert sent is not None and sent["allowed_mentions"]["parse"] == []
        assert [str(u) for u in sent["allowed_mentions"]["users"]] == [str(bob.id)]
        await asyncio.sleep(0.5)
        assert proxy.count("/mj/submit/imagine") == 0
    assert _acked_rows(store) == []
    assert _acked_rows(store, "SELECT id FROM jobs") == []


async def test_random_kill_points_lose_nothing_and_duplicate_nothing(tmp_path: Path) -> None:
    result, leaks = await crash_run(tmp_path, CrashRun(jobs=10, kills=3, clicks=3, seed=7, spread=4.0))
    assert result.lost == 0, result.problems
    assert result.duplicated == 0, result.problems
    assert result.crashes == 0, (tmp_path / "bot.log").read_text()[-3000:]
    # Commands sent while the bot was down were never acknowledged (Discord tells the member).
    assert result.jobs > 0 and result.finished + result.failed_clearly == result.jobs
    assert leaks == []
