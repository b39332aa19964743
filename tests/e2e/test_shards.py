"""Gateway sharding: the bot runs Discord's recommended shards, and each guild is served by its own."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.config import DiscordSettings, Settings, load_settings
from sandbox.discord import DiscordEmulator
from sandbox.discord.driver import DriverError
from sandbox.discord.world import shard_of
from sandbox.fake_mj_proxy import FakeMjProxy
from sandbox.runner import Sandbox
from tests.e2e.conftest import FAST_JOBS, Running, is_result


@pytest.mark.parametrize("shard_count", [None, 2])
async def test_each_guild_is_served_through_its_own_shard(tmp_path: Path, shard_count: int | None) -> None:
    """None: the bot asks /gateway/bot and runs the 2 shards it recommends; 2: set in the config."""
    emu = DiscordEmulator(guilds=2, recommended_shards=2)
    box = Sandbox(
        Settings(jobs=FAST_JOBS, discord=DiscordSettings(shard_count=shard_count)),
        store_path=tmp_path / "mjbot.sqlite3",
        emulator=emu,
        proxy=FakeMjProxy(step_seconds=0.05),
    )
    async with Running(box):
        assert box.bot is not None
        assert box.bot.shard_count == 2
        sessions = sorted(s.shard for s in emu.gateway.sessions.values())
        assert sessions == [(0, 2), (1, 2)]
        assert sorted(shard_of(g.id, 2) for g in emu.world.guilds) == [0, 1]
        for index, guild in enumerate(emu.world.guilds):
            art = emu.channel("art", guild=index)
            await emu.slash(emu.world.member.id, art.id, "imagine", prompt=f"a lighthouse in {guild.name}")
            grid = await emu.wait_for_message(art.id, is_result, timeout=10)
            assert f"a lighthouse in {guild.name}" in grid.content
        assert emu.violations == []


async def test_a_process_runs_only_its_shards_and_serves_their_guilds(tmp_path: Path) -> None:
    """`--shards 1 --shard-count 2`: one gateway session, for shard 1; its guild gets its image and
    the other guild's events reach no session of this bot (another process would run shard 0)."""
    emu = DiscordEmulator(guilds=2, recommended_shards=2)
    box = Sandbox(
        load_settings(jobs=FAST_JOBS.model_dump(), discord={"shard_count": 2, "shards": "1"}),
        store_path=tmp_path / "mjbot.sqlite3",
        emulator=emu,
        proxy=FakeMjProxy(step_seconds=0.05),
    )
    async with Running(box):
        assert box.bot is not None
        assert box.bot.shard_ids == [1]
        assert [s.shard for s in emu.gateway.sessions.values()] == [(1, 2)]
        ours = next(i for i, g in enumerate(emu.world.guilds) if shard_of(g.id, 2) == 1)
        art = emu.channel("art", guild=ours)
        await emu.slash(emu.world.member.id, art.id, "imagine", prompt="a lighthouse on shard one")
        grid = await emu.wait_for_message(art.id, is_result, timeout=10)
        assert "a lighthouse on shard one" in grid.content
        theirs = emu.channel("art", guild=1 - ours)
        with pytest.raises(DriverError, match="no bot is connected to the gateway shard"):
            await emu.slash(emu.world.member.id, theirs.id, "imagine", prompt="not for this process")
        assert emu.violations == []


def _pushes(box: Sandbox) -> float:
    assert box.bot is not None
    return box.bot.metrics.registry.get_sample_value("mjbot_pushes_received_total") or 0.0


async def test_a_push_reaching_the_other_process_is_applied_by_the_guilds_own(
    tmp_path: Path, postgres_url: str
) -> None:
    """Two bots on one PostgreSQL store, shard 0 and shard 1 of 2. The backend's pushes for a job
    of shard 0's guild all reach the other process (one public URL behind a load balancer): it
    keeps them in the store and tells the owner, which applies them and posts the result."""
    emu = DiscordEmulator(guilds=2, recommended_shards=2)
    proxy = FakeMjProxy(step_seconds=0.05)
    # No polling within the test: the result can only come through the pushes.
    slow_polls = FAST_JOBS.model_copy(update={"poll_interval_seconds": 600.0})

    def process(shard: str) -> Sandbox:
        settings = load_settings(jobs=slow_polls.model_dump(), discord={"shard_count": 2, "shards": shard})
        return Sandbox(
            settings,
            store_path=tmp_path / f"{shard}.sqlite3",
            store_url=postgres_url,
            emulator=emu,
            proxy=proxy,
        )

    owner, other = process("0"), process("1")
    async with Running(owner):
        await other.start_bot()
        try:
            assert owner.bot is not None and other.bot is not None
            owner.bot.engine.submitting.hook_base_url = other.bot.web.public_url  # the balancer's choice
            guild = next(i for i, g in enumerate(emu.world.guilds) if shard_of(g.id, 2) == 0)
            art = emu.channel("art", guild=guild)
            await emu.slash(emu.world.member.id, art.id, "imagine", prompt="a relayed lighthouse")
            grid = await emu.wait_for_message(art.id, is_result, timeout=10)
            assert "a relayed lighthouse" in grid.content
            sent = [d for d in proxy.hook_deliveries if d.delivered]
            assert sent and all(d.url.startswith(other.bot.web.public_url) for d in sent)
            assert _pushes(other) == 0 and _pushes(owner) == len(sent)
            assert await owner.bot.store.relayed_jobs() == []
            assert emu.violations == []
        finally:
            await other.stop_bot()


@pytest.mark.parametrize("long_queue_shard", [0, 1])
async def test_servers_of_two_processes_take_turns_on_a_shared_account(
    tmp_path: Path, postgres_url: str, long_queue_shard: int
) -> None:
    """Two bots on one PostgreSQL, shard 0 and shard 1 of 2, both servers naming one service
    account with `max_jobs = 1`. Server A queues 8 jobs, then server B 3: from then on the servers
    take turns (each of B's starts after one more of A's at most), whichever process leads
    (shard 0's, started first) and whichever owns the long queue. Without turns between servers,
    whichever process claimed the freed slot first took it, A's owner as often as not."""
    emu = DiscordEmulator(guilds=2, recommended_shards=2)
    proxy = FakeMjProxy(step_seconds=0.3, progress_steps=2)

    def process(shard: str) -> Sandbox:
        settings = load_settings(jobs=FAST_JOBS.model_dump(), discord={"shard_count": 2, "shards": shard})
        path, url = tmp_path / f"{shard}.sqlite3", postgres_url
        return Sandbox(settings, store_path=path, store_url=url, emulator=emu, proxy=proxy, max_jobs=1)

    first, second = process("0"), process("1")
    async with Running(first):
        await second.start_bot()
        try:
            by_shard = {shard_of(g.id, 2): i for i, g in enumerate(emu.world.guilds)}
            a = emu.channel("art", guild=by_shard[long_queue_shard])
            b = emu.channel("art", guild=by_shard[1 - long_queue_shard])
            for n in range(8):
                await emu.slash(emu.world.member.id, a.id, "imagine", prompt=f"a long queue {n}")
            async with asyncio.timeout(10):
                while not proxy.task_ids:  # noqa: ASYNC110 (the fake service's tasks)
                    await asyncio.sleep(0.02)
            for n in range(3):
                await emu.slash(emu.world.member.id, b.id, "imagine", prompt=f"the other server's {n}")

            def order() -> str:
                prompts = [proxy.task_json(t)["prompt"] for t in proxy.task_ids]
                return "".join("B" if "the other server" in p else "A" for p in prompts)

            async with asyncio.timeout(30):
                while order().count("B") < 3:  # noqa: ASYNC110 (the fake service's tasks)
                    await asyncio.sleep(0.05)
            assert order().startswith("ABABAB"), order()
            assert proxy.max_active <= 1
            assert emu.violations == []
        finally:
            await second.stop_bot()
