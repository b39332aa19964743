"""Gateway sharding: the bot runs Discord's recommended shards, and each guild is served by its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import DiscordSettings, Settings
from sandbox.discord import DiscordEmulator
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
