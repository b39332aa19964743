"""The bot on the PostgreSQL store ([store] url): an image made, a restart, its buttons still work."""

from __future__ import annotations

from pathlib import Path

from bot.config import Settings
from bot.store.db_postgres import PostgresDatabase
from sandbox.fake_mj_proxy import FakeMjProxy
from sandbox.runner import Sandbox
from tests.e2e.conftest import FAST_JOBS, Running, buttons, custom_id, is_result
from tests.e2e.test_imagine import GRID_ROWS


async def test_imagine_then_a_restart_keeps_the_job_and_its_buttons(
    tmp_path: Path, postgres_url: str
) -> None:
    sqlite_file = tmp_path / "mjbot.sqlite3"
    box = Sandbox(
        Settings(jobs=FAST_JOBS),
        store_path=sqlite_file,
        store_url=postgres_url,
        proxy=FakeMjProxy(step_seconds=0.1),
    )
    async with Running(box):
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        await emu.slash(bob.id, art.id, "imagine", prompt="a harbour in fog")
        grid = await emu.wait_for_message(art.id, is_result, timeout=10)
        assert buttons(grid) == GRID_ROWS

        await box.restart_bot()
        assert box.bot is not None and isinstance(box.bot.store._db, PostgresDatabase)
        [job] = await box.bot.store.member_jobs(emu.world.guild.id, bob.id, limit=5)
        assert (job.prompt, job.message_id, len(job.buttons)) == ("a harbour in fog", grid.id, 9)

        await emu.click(bob.id, grid.id, custom_id(grid, "V3"))
        variation = await emu.wait_for_message(art.id, lambda m: m.id != grid.id and is_result(m), timeout=10)
        assert "Variations #3" in variation.content and buttons(variation) == GRID_ROWS
        assert emu.violations == []
    assert not sqlite_file.exists()  # everything went to PostgreSQL
