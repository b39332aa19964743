"""The store: every query, once, on the database under it (bot/store/db.py): SQLite, the
embedded default, or PostgreSQL (``[store] url``).

Everything that must survive a restart lives here; callers get domain models back, never rows.
"""

from __future__ import annotations

from pathlib import Path

from bot.config import is_postgres_url
from bot.crypto import SecretBox
from bot.store.commands import Commands
from bot.store.coordination import Coordination
from bot.store.db import Database
from bot.store.db_postgres import PostgresDatabase
from bot.store.db_sqlite import SqliteDatabase
from bot.store.guilds import Guilds
from bot.store.job_queries import JobQueries
from bot.store.members import Members


class Store(Coordination, JobQueries, Members, Guilds, Commands):
    """One store, made of one part per concern; each part's calls run on the same database."""

    def __init__(self, db: Database, box: SecretBox | None = None) -> None:
        super().__init__()
        self._db = db
        self._box = box

    @classmethod
    async def open(cls, where: Path | str, box: SecretBox | None = None) -> Store:
        """The store in the SQLite file ``where``, or in the PostgreSQL database at the
        ``postgresql://`` URL ``where``, migrated; StartupError (one sentence) when it cannot be
        used."""
        if is_postgres_url(str(where)):
            return cls(await PostgresDatabase.open(str(where)), box)
        return cls(await SqliteDatabase.open(where), box)

    def use_box(self, box: SecretBox) -> None:
        """Seal and unseal account secrets with ``box`` from now on."""
        self._box = box

    async def close(self) -> None:
        await self._flush_progress()
        await self._db.close()

    async def schema_version(self) -> int:
        return await self._db.schema_version()

    async def writable(self) -> str | None:
        """None when the database takes a write, else why not (for /readyz)."""
        return await self._db.writable()
