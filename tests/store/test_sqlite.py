"""What only the SQLite store does: its file and the files beside it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from bot.domain import GuildConfig
from bot.store import Store


async def test_the_database_and_its_wal_files_are_created_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a usual umask: files would be world-readable by default
    try:
        store = await Store.open(tmp_path / "db" / "mjbot.sqlite3")
        await store.set_guild_config(1, GuildConfig())
        files = sorted(p.name for p in (tmp_path / "db").iterdir())
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "db").iterdir()}
        await store.close()
    finally:
        os.umask(old)
    assert files == ["mjbot.sqlite3", "mjbot.sqlite3-shm", "mjbot.sqlite3-wal"]
    assert set(modes.values()) == {0o600}
