"""The store's SQLite database: one aiosqlite connection in WAL mode, checked at open, the schema
version in ``PRAGMA user_version``. One process uses a file, so its leases and notifications are
this process's own (shared by the stores it opens on one file)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import sqlite3
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from pathlib import Path
from typing import ClassVar

import aiosqlite

from bot.config import StartupError
from bot.store.db import Args, Database, DuplicateError, Lease, OnGap, OnPayload, Queries, Row, migrations

#: Per database file (its resolved path): the lease holders, and the listeners per channel.
_HOLDERS: dict[tuple[str, str], _SqliteLease] = {}
_LISTENERS: dict[tuple[str, str], list[OnPayload]] = {}


class _SqliteLease(Lease):
    def __init__(self, key: tuple[str, str]) -> None:
        self._key = key

    async def hold(self) -> bool:
        return _HOLDERS.setdefault(self._key, self) is self

    async def release(self) -> None:
        if _HOLDERS.get(self._key) is self:
            del _HOLDERS[self._key]


async def _check(db: aiosqlite.Connection) -> None:
    """Raise sqlite3.Error for a file that opens but cannot be used: a damaged one (truncated, it
    fails later on the first page it lacks) or a read-only one (it fails at the first write)."""
    async with db.execute("PRAGMA quick_check") as cur:
        row = await cur.fetchone()
    if row is not None and row[0] != "ok":
        damaged = sqlite3.DatabaseError(f"database disk image is malformed ({row[0]})")
        damaged.sqlite_errorname = "SQLITE_CORRUPT"
        raise damaged
    async with db.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    await db.execute(f"PRAGMA user_version = {int(row[0]) if row else 0}")


_RESTORE = "restore it from a backup, or move it away to start with an empty one"
_WRITABLE = "make both writable by the bot's user"
#: What to say about a database file SQLite refused, by SQLite's error name (or the OS's errno).
_SQLITE_CAUSES = {
    "SQLITE_NOTADB": f"it is not a database or it is corrupt: {_RESTORE}",
    "SQLITE_CORRUPT": f"it is corrupt or truncated: {_RESTORE}",
    "SQLITE_READONLY": f"it or its directory is read-only: {_WRITABLE}",
    "SQLITE_FULL": "the disk is full: free some space",
    "SQLITE_CANTOPEN": f"it or its directory cannot be opened or written: {_WRITABLE}",
    "SQLITE_PERM": f"permission denied on it or its directory: {_WRITABLE}",
    "SQLITE_IOERR": "reading or writing it failed (disk full or failing): check the disk",
}
_OS_CAUSES = {
    errno.ENOSPC: "the disk is full: free some space",
    errno.EACCES: f"permission denied on it or its directory: {_WRITABLE}",
    errno.EPERM: f"it or its directory may not be changed: {_WRITABLE}",
    errno.EROFS: "its file system is read-only: set [store] path to a writable place",
    errno.ENOTDIR: "part of its directory path is a file, not a directory: fix [store] path",
    errno.EEXIST: "part of its directory path is a file, not a directory: fix [store] path",
    errno.EISDIR: "it is a directory: set [store] path to a file",
}


def _unusable(path: Path | str, exc: OSError | sqlite3.Error) -> StartupError:
    """One sentence on why the database file cannot be used and what to do."""
    if isinstance(exc, sqlite3.Error):
        # Extended names (SQLITE_CANTOPEN_ISDIR, …) share their base name's cause.
        base = "_".join((getattr(exc, "sqlite_errorname", None) or "").split("_")[:2])
        cause = _SQLITE_CAUSES.get(base, f"SQLite says {str(exc)!r}")
    else:
        cause = _OS_CAUSES.get(exc.errno or 0, f"{exc.strerror or exc}")
    return StartupError(f"Cannot use the database {path} ([store] path): {cause}.")


class _Statements(Queries):
    """Statements on the connection, not committed."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def execute(self, sql: str, args: Args = ()) -> int:
        with _duplicates():
            cur = await self._db.execute(sql, args)
        return cur.rowcount

    async def executemany(self, sql: str, rows: Iterable[Args]) -> None:
        with _duplicates():
            await self._db.executemany(sql, rows)

    async def fetchall(self, sql: str, args: Args = ()) -> list[Row]:
        # One round trip to aiosqlite's thread (a cursor costs three: execute, fetch, close).
        return list(await self._db.execute_fetchall(sql, args))

    async def insert(self, sql: str, args: Args = ()) -> int:
        with _duplicates():
            cur = await self._db.execute(sql, args)
        assert cur.lastrowid is not None
        return cur.lastrowid


_DUPLICATE = ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY")


@contextlib.contextmanager
def _duplicates() -> Iterator[None]:
    try:
        yield
    except sqlite3.IntegrityError as exc:
        if getattr(exc, "sqlite_errorname", None) in _DUPLICATE:
            raise DuplicateError(str(exc)) from None
        raise


class SqliteDatabase(Database):
    TYPES: ClassVar[Mapping[str, str]] = {
        "ID": "INTEGER PRIMARY KEY",
        "INT": "INTEGER",
        "REAL": "REAL",
        "BLOB": "BLOB",
    }
    # One connection, its calls one at a time: a transaction is alone anyway.
    FOR_UPDATE: ClassVar[str] = ""

    def __init__(self, db: aiosqlite.Connection, path: Path | str = ":memory:") -> None:
        self._db = db
        #: Names this database among the process's (":memory:" ones are each their own).
        self._file = str(Path(path).resolve()) if str(path) != ":memory:" else f":memory:{id(self)}"
        self._leases: list[_SqliteLease] = []
        self._listening: list[tuple[tuple[str, str], OnPayload]] = []
        self._statements = _Statements(db)
        #: Held by every call, so that a transaction's statements are its own.
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str) -> SqliteDatabase:
        """The database in ``path``, checked and migrated; StartupError (one sentence) when the
        file cannot be used."""
        try:
            if str(path) != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                # Owner-only from the start: it holds sealed secrets, members' sessions and prompts.
                # SQLite gives the -wal and -shm files the database file's permissions.
                with contextlib.suppress(FileExistsError):
                    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            db = await aiosqlite.connect(path)
        except (OSError, sqlite3.Error) as exc:
            raise _unusable(path, exc) from None
        try:
            db.row_factory = aiosqlite.Row
            await db.execute("PRAGMA journal_mode=WAL")
            # NORMAL is durable across process crashes in WAL mode (only an OS crash can lose the
            # last commits), which is the failure this bot must survive.
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute("PRAGMA foreign_keys=ON")
            await _check(db)
            database = cls(db, path)
            await database.migrate()
        except (OSError, sqlite3.Error) as exc:
            # The connection's thread is not a daemon: left open, it keeps the process alive.
            with contextlib.suppress(sqlite3.Error):
                await db.close()
            raise _unusable(path, exc) from None
        return database

    async def execute(self, sql: str, args: Args = ()) -> int:
        async with self.transaction() as statements:
            return await statements.execute(sql, args)

    async def executemany(self, sql: str, rows: Iterable[Args]) -> None:
        async with self.transaction() as statements:
            await statements.executemany(sql, rows)

    async def fetchall(self, sql: str, args: Args = ()) -> list[Row]:
        async with self._lock:
            return await self._statements.fetchall(sql, args)

    async def insert(self, sql: str, args: Args = ()) -> int:
        async with self.transaction() as statements:
            return await statements.insert(sql, args)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Queries]:
        async with self._lock:
            try:
                yield self._statements
            except BaseException:
                await self._db.rollback()
                raise
            await self._db.commit()

    async def schema_version(self) -> int:
        async with self._lock, self._db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def migrate(self) -> None:
        current = await self.schema_version()
        for version, sql in migrations(self.TYPES):
            if version <= current:
                continue
            # executescript commits first; the version bump rides in the same script so a
            # crash mid-migration re-runs it whole.
            async with self._lock:
                await self._db.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")

    async def writable(self) -> str | None:
        try:
            # Rewriting the schema version takes the write lock and writes the header, nothing else.
            version = await self.schema_version()
            async with self._lock:
                await self._db.execute(f"PRAGMA user_version = {version}")
        except (sqlite3.Error, ValueError) as exc:
            return f"the store cannot be written ({type(exc).__name__}: {exc})"
        return None

    def lease(self, name: str) -> Lease:
        lease = _SqliteLease((self._file, name))
        self._leases.append(lease)
        return lease

    async def notify(self, channel: str, payload: str) -> None:
        loop = asyncio.get_running_loop()
        for on_payload in _LISTENERS.get((self._file, channel), []):
            loop.call_soon(on_payload, payload)

    async def listen(self, channel: str, on_payload: OnPayload, on_gap: OnGap) -> None:
        key = (self._file, channel)
        _LISTENERS.setdefault(key, []).append(on_payload)
        self._listening.append((key, on_payload))

    async def close(self) -> None:
        for lease in self._leases:
            await lease.release()
        for key, on_payload in self._listening:
            _LISTENERS[key].remove(on_payload)
        await self._db.close()
