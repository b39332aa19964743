"""The store contract runs on both engines: ``where`` is a SQLite file, then a PostgreSQL database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.store import Store


# The PostgreSQL runs share one xdist worker, so one cluster per run (tests/conftest.py).
@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.xdist_group("postgres"))])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """What Store.open takes: a new SQLite file's path, or a new PostgreSQL database's URL."""
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return str(tmp_path / "db" / "mjbot.sqlite3")


@pytest.fixture
async def store(where: str) -> AsyncIterator[Store]:
    s = await Store.open(where)
    yield s
    await s.close()
