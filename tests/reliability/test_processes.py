"""Two bot processes on one PostgreSQL (docs/scaling.md): shards 0 and 1 of 2, a server on each, and
one service account both servers' config names, `max_jobs = 2`. The account never runs more than 2
jobs at once across the processes, and a process killed -9 mid-burst and started again resumes its
server's jobs only: every job ends once, with one message, and no push is lost. The process killed
is the dispatcher (the lease's holder, started first): the other takes the lease within seconds and
goes on assigning its server's jobs while the first is away."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import asyncpg
import discord.gateway
import discord.http

from bot.config import load_settings
from bot.domain import JobStatus
from bot.jobs.engine import INTERRUPTED_SUBMIT
from sandbox.discord import DiscordEmulator
from sandbox.discord.world import shard_of
from sandbox.fake_mj_proxy import FakeMjProxy
from sandbox.runner import Sandbox
from tests.reliability.harness import BotProcess, until

JOBS_PER_GUILD = 10


async def _jobs(url: str) -> list[asyncpg.Record]:
    db = await asyncpg.connect(url)
    try:
        return list(
            await db.fetch("SELECT id, guild_id, status, result_posted, message_id, error_detail FROM jobs")
        )
    finally:
        await db.close()


async def _lease_holder(url: str) -> int | None:
    """The server process id of the session holding the dispatcher lease (a two-key advisory
    lock, docs/scaling.md) in this database, if one does."""
    db = await asyncpg.connect(url)
    try:
        pid = await db.fetchval(
            """SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND granted
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"""
        )
    finally:
        await db.close()
    return None if pid is None else int(pid)


async def _taken_over(url: str, previous: int) -> int:
    """The lease's new holder, once another session than ``previous`` holds it (within 5 s)."""
    async with asyncio.timeout(5):
        while (holder := await _lease_holder(url)) in (None, previous):  # noqa: ASYNC110 (another process)
            await asyncio.sleep(0.1)
    assert holder is not None
    return holder


async def test_two_processes_share_an_account_and_survive_a_kill(tmp_path: Path, postgres_url: str) -> None:
    emu = DiscordEmulator(guilds=2, recommended_shards=2)
    proxy = FakeMjProxy(step_seconds=0.1, core_size=10)
    guilds = {shard_of(g.id, 2): index for index, g in enumerate(emu.world.guilds)}
    assert sorted(guilds) == [0, 1]
    processes: dict[int, BotProcess] = {}
    for shard, index in guilds.items():
        settings = load_settings(
            jobs={"timeout_seconds": 120, "poll_interval_seconds": 0.3, "progress_edit_seconds": 0.5},
            discord={"shard_count": 2, "shards": str(shard)},
        )
        box = Sandbox(
            settings,
            store_path=tmp_path / "mjbot.sqlite3",  # unused but for the secret key file beside it
            store_url=postgres_url,
            emulator=emu,
            proxy=proxy,
            max_jobs=2,
        )
        processes[shard] = BotProcess(box, tmp_path / f"bot-{shard}.log", guild_id=emu.world.guilds[index].id)
    saved = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    await emu.start()
    await proxy.start()
    try:
        try:
            for shard in sorted(processes):  # shard 0's first: it takes the lease
                await processes[shard].start()
            leader = await _lease_holder(postgres_url)
            assert leader is not None
            channels = {shard: emu.channel("art", guild=index) for shard, index in guilds.items()}
            for n in range(JOBS_PER_GUILD):
                for shard, channel in channels.items():
                    await emu.slash(emu.world.member.id, channel.id, "imagine", prompt=f"tower {shard}-{n}")
            # Mid-burst: some jobs ended, most still queued or running.
            await until(lambda: len(proxy.task_ids) >= 4, timeout=30)
            await processes[0].kill()
            # The other process takes the lease (the backend meanwhile finishes some of the dead
            # one's jobs, pushing to nobody); started again, the first one does not lead: the
            # other assigns its server's jobs to it from then on.
            new_leader = await _taken_over(postgres_url, leader)
            await processes[0].start()

            async def all_done() -> bool:
                rows = await _jobs(postgres_url)
                return len(rows) == 2 * JOBS_PER_GUILD and all(
                    JobStatus(r["status"]).terminal and r["result_posted"] for r in rows
                )

            async with asyncio.timeout(90):
                while not await all_done():  # noqa: ASYNC110 (the rows are in another process's store)
                    await asyncio.sleep(0.3)
            led_at_the_end = await _lease_holder(postgres_url)
        finally:
            for process in processes.values():
                await process.kill()
    finally:
        await proxy.stop()
        await emu.stop()
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved
    assert led_at_the_end == new_leader
    rows = await _jobs(postgres_url)
    assert proxy.max_active <= 2, f"the shared account ran {proxy.max_active} jobs at once"
    for row in rows:
        # A job killed while it was being sent fails saying so; every other one made its image.
        assert row["status"] == JobStatus.SUCCESS.value or row["error_detail"] == INTERRUPTED_SUBMIT, row
    states = Counter(proxy.task_json(task_id).get("state") for task_id in proxy.task_ids)
    assert [state for state, n in states.items() if n > 1] == []  # no job submitted twice
    referenced = {r["message_id"] for r in rows}
    for channel in channels.values():
        posted = [
            m.id
            for m in emu.messages(channel.id)
            if m.author_id == emu.world.bot.id and not m.ephemeral and not (m.loading and not m.content)
        ]
        assert sorted(posted) == sorted(m for m in posted if m in referenced)  # no second post
        assert len(posted) == JOBS_PER_GUILD
    assert emu.violations == []
