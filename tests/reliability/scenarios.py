"""The kill -9 run shared by the CI test (small) and `bench/faults.py` (large).

Members send /imagine and click U1–U4 on finished grids while the bot is killed with SIGKILL at
random moments and restarted on the same store. Meanwhile the fake backend answers slowly (so kills
land inside submits too), pushes webhooks twice and out of order, says "queue full" now and then,
and Discord answers some edits with 429 and 500. At the end every job must be finished or failed
with a clear message, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import discord.gateway
import discord.http

from bot.config import JobSettings, Settings
from bot.domain import JobStatus
from sandbox.discord import Interaction, Message
from sandbox.fake_mj_proxy import FakeMjProxy
from sandbox.runner import Sandbox
from tests.reliability.harness import PROXY_SECRET, BotProcess, Tally, secret_leaks, tally


@dataclass
class CrashRun:
    jobs: int = 12
    kills: int = 3
    clicks: int = 4
    seed: int = 1
    #: Seconds over which the commands are spread (kills fall in the same window).
    spread: float = 6.0
    max_jobs: int = 5
    #: Seconds the whole run may take to settle after the last command.
    settle: float = 60.0


_TERMINAL = tuple(s.value for s in JobStatus if s.terminal)


async def crash_run(workdir: Path, run: CrashRun) -> tuple[Tally, list[str]]:
    """Run it; the tally and every place a secret leaked (both must be clean)."""
    rng = random.Random(run.seed)
    saved = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    proxy = FakeMjProxy(secret=PROXY_SECRET, step_seconds=0.2, progress_steps=3, core_size=run.max_jobs)
    jobs = JobSettings(
        timeout_seconds=120,
        poll_interval_seconds=0.5,
        progress_edit_seconds=0.5,
        queue_full_retry_seconds=0.5,
    )
    store = workdir / "mjbot.sqlite3"
    box = Sandbox(Settings(jobs=jobs), store_path=store, proxy=proxy, max_jobs=run.max_jobs)
    logs: list[Path] = []
    await box.emulator.start()
    await proxy.start()
    bot = BotProcess(box, workdir / "bot.log")
    logs.append(workdir / "bot.log")
    try:
        await bot.start()
        up = asyncio.Event()
        up.set()
        # Faults that stay on for the whole run.
        proxy.faults.delay_responses(0.15)  # widens the submit window so kills land inside it
        proxy.faults.duplicate_hooks = True
        for _ in range(max(1, run.jobs // 10)):
            proxy.faults.fail_next_submit(code=proxy.queue_full_code)
        box.emulator.inject_fault("PATCH /channels/*/messages/*", 429, times=3, retry_after=0.2)
        box.emulator.inject_fault("PATCH /channels/*/messages/*", 500, times=2)

        kill_at = sorted(rng.uniform(0.5, run.spread + 2.0) for _ in range(run.kills))
        started = time.monotonic()

        async def killer() -> None:
            for at in kill_at:
                await asyncio.sleep(max(0.0, at - (time.monotonic() - started)))
                up.clear()
                await bot.kill()
                await asyncio.sleep(rng.uniform(0.1, 1.0))  # work goes on at the backend meanwhile
                await bot.start()
                up.set()

        sent: list[Interaction] = []

        async def members() -> None:
            emu = box.emulator
            people = [emu.world.member.id, emu.world.admin.id]
            channels = [emu.channel("art").id, emu.channel("general").id]
            pause = run.spread / max(1, run.jobs + run.clicks)
            clicks_left = run.clicks
            for n in range(run.jobs):
                await up.wait()
                user, channel = rng.choice(people), rng.choice(channels)
                sent.append(await emu.slash(user, channel, "imagine", prompt=f"job {n} lighthouse"))
                await asyncio.sleep(pause)
                grid = _a_grid(box, channels, rng) if clicks_left else None
                if grid is not None:
                    await up.wait()
                    owner = next(p for p in people if f"<@{p}>" in grid.content)
                    sent.append(await emu.click(owner, grid.id, _custom_id(grid, f"U{rng.randint(1, 4)}")))
                    clicks_left -= 1
                    await asyncio.sleep(pause)

        await asyncio.gather(killer(), members())
        await _settle(workdir / "mjbot.sqlite3", run.settle)
    finally:
        await bot.kill()
        with contextlib.suppress(Exception):
            await proxy.stop()
        await box.emulator.stop()
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved
    result = tally(workdir / "mjbot.sqlite3", box.emulator, proxy, logs)
    result.commands = len(sent)
    # Sent while the bot was being killed: Discord shows the member "interaction failed".
    result.unanswered = sum(1 for i in sent if not i.acked)
    # Acknowledged, then killed before the bot stored the job or refused it: the member's
    # "thinking…" message was never filled in. (A stored job fills it in after the restart.)
    slashes = [i for i in sent if i.acked and i.message_id is None]
    result.acked_silent = sum(
        1
        for i in slashes
        if i.original is not None and i.original.loading and not any(m.content for m in i.ephemeral)
    )
    # Refused with a sentence (the member's limit of jobs at once, the server's queue length…).
    result.refused = sum(1 for i in slashes if any(m.content for m in i.ephemeral))
    result.kills = len(kill_at)
    leaks = secret_leaks([PROXY_SECRET, box.emulator.world.token], box.emulator, logs)
    return result, leaks


def _a_grid(box: Sandbox, channels: list[int], rng: random.Random) -> Message | None:
    grids = [
        m
        for c in channels
        for m in box.emulator.messages(c)
        if m.attachments and any(b.get("label") == "U1" for row in m.components for b in row["components"])
    ]
    return rng.choice(grids) if grids else None


def _custom_id(message: Message, label: str) -> str:
    for row in message.components:
        for c in row["components"]:
            if c.get("label") == label:
                return str(c["custom_id"])
    raise LookupError(label)


async def _settle(store_path: Path, timeout: float) -> None:  # noqa: ASYNC109 (explicit deadline)
    """Wait until every job in the store is finished and posted (read while the bot runs: WAL)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.closing(sqlite3.connect(store_path)) as db:
            (open_jobs,) = db.execute(
                f"SELECT COUNT(*) FROM jobs WHERE status NOT IN ({','.join('?' * len(_TERMINAL))})"
                " OR result_posted = 0",
                _TERMINAL,
            ).fetchone()
        if open_jobs == 0:
            await asyncio.sleep(0.5)  # room for a wrong second post to show up
            return
        await asyncio.sleep(0.3)
