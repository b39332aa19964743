"""The database under the store: the few calls its queries need, one implementation per engine
(``bot/store/sqlite.py``, ``bot/store/postgres.py``).

Queries are written once, in the SQL both engines speak, with ``?`` placeholders; rows support
``row["column"]``, ``row[0]`` and ``dict(row)``. Migrations are one numbered history
(``bot/store/migrations/NNNN_*.sql``) whose column types are written as ``{ID}``, ``{INT}``,
``{REAL}`` and ``{BLOB}``, each engine saying what they stand for (:attr:`Database.TYPES`).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from importlib import resources
from typing import Any, ClassVar

#: A row as either engine returns it.
Row = Any
Args = Sequence[Any]

_TYPE = re.compile(r"\{(ID|INT|REAL|BLOB)\}")


class DuplicateError(Exception):
    """A write broke a UNIQUE constraint (or a primary key)."""


def migrations(types: Mapping[str, str]) -> list[tuple[int, str]]:
    """(version, sql with ``types`` filled in) for every ``NNNN_name.sql``, oldest first."""
    found = []
    for entry in resources.files("bot.store.migrations").iterdir():
        if entry.name.endswith(".sql"):
            sql = _TYPE.sub(lambda m: types[m[1]], entry.read_text(encoding="utf-8"))
            found.append((int(entry.name.split("_", 1)[0]), sql))
    return sorted(found)


class Queries(ABC):
    """Statements on the database; outside a transaction each write is committed on return."""

    @abstractmethod
    async def execute(self, sql: str, args: Args = ()) -> int:
        """Run one statement; the number of rows it changed."""

    @abstractmethod
    async def executemany(self, sql: str, rows: Iterable[Args]) -> None: ...

    @abstractmethod
    async def fetchall(self, sql: str, args: Args = ()) -> list[Row]: ...

    async def fetchone(self, sql: str, args: Args = ()) -> Row | None:
        rows = await self.fetchall(sql, args)
        return rows[0] if rows else None

    async def insert(self, sql: str, args: Args = ()) -> int:
        """Run an INSERT into a table with an ``id`` column; the new row's id."""
        row = await self.fetchone(f"{sql} RETURNING id", args)
        assert row is not None
        return int(row[0])


#: How often a lease's holder confirms it and the others try to take it (docs/scaling.md).
LEASE_CHECK_SECONDS = 1.0

#: Called with a notification's payload (:meth:`Database.listen`).
OnPayload = Callable[[str], None]
#: Called after notifications may have been missed (a listening connection made again).
OnGap = Callable[[], None]


class Lease(ABC):
    """Held by one process at a time among all those on the database; free again within seconds
    when its holder's process dies."""

    @abstractmethod
    async def hold(self) -> bool:
        """Take the lease if it is free, or confirm that it is still ours: whether it is ours now.
        Call it every :data:`LEASE_CHECK_SECONDS` (and before acting as the holder)."""

    @abstractmethod
    async def release(self) -> None: ...


class Database(Queries):
    """One database, under one store; several processes may share a PostgreSQL one (docs/scaling.md)."""

    #: What the migrations' ``{ID}``, ``{INT}``, ``{REAL}`` and ``{BLOB}`` are in this engine.
    TYPES: ClassVar[Mapping[str, str]]
    #: Appended to a SELECT in a transaction to lock the rows it reads until the commit.
    FOR_UPDATE: ClassVar[str]

    @abstractmethod
    def lease(self, name: str) -> Lease:
        """The lease called ``name`` (one holder among every store on this database)."""

    @abstractmethod
    async def notify(self, channel: str, payload: str) -> None:
        """Send ``payload`` to every listener of ``channel`` on this database (this process's too)."""

    @abstractmethod
    async def listen(self, channel: str, on_payload: OnPayload, on_gap: OnGap) -> None:
        """Call ``on_payload`` with each payload notified on ``channel`` from now on, and
        ``on_gap`` when some may have been missed (the listener stays until :meth:`close`)."""

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Queries]:
        """Statements run through the yielded object are committed together on a clean exit and
        rolled back on an exception; nothing else runs on the connection meanwhile."""

    @abstractmethod
    async def schema_version(self) -> int: ...

    @abstractmethod
    async def migrate(self) -> None:
        """Apply the migrations newer than :meth:`schema_version`; a crash in one re-runs it whole."""

    @abstractmethod
    async def writable(self) -> str | None:
        """None when the database takes a write, else why not (for /readyz)."""

    @abstractmethod
    async def close(self) -> None: ...
