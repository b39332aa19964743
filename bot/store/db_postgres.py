"""The store's PostgreSQL database (asyncpg): queries' ``?`` become ``$1…$n``, the schema version
is a row of ``schema_version``. Several processes may share it: leases are session advisory locks
and notifications LISTEN/NOTIFY, each on a connection of its own (docs/scaling.md)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from typing import Any, ClassVar

import asyncpg

from bot.config import StartupError, postgres_where
from bot.store.db import (
    LEASE_CHECK_SECONDS,
    Args,
    Database,
    DuplicateError,
    Lease,
    OnGap,
    OnPayload,
    Queries,
    Row,
    migrations,
)

log = logging.getLogger(__name__)

#: Held by the transaction that migrates, so that processes starting together migrate one by one.
_MIGRATION_LOCK = 0x6D6A626F74  # "mjbot"
#: The first key of the leases' two-key advisory locks (a key space apart from one-key locks).
_LEASE_SPACE = 0x6D6A62  # "mjb"
_CONNECT_SECONDS = 10.0
#: A lease or listening connection whose machine vanished is dropped by the server within
#: 5 + 3 × 2 s (keepalives), freeing its lease; a process that exits frees it at once.
_SESSION_SETTINGS = {"tcp_keepalives_idle": "5", "tcp_keepalives_interval": "2", "tcp_keepalives_count": "3"}
#: What a connection lost or refused raises (a query on a connection the server just ended may
#: also meet asyncpg's InternalClientError: the end arrives while the query is under way).
_LOST = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)


@functools.lru_cache(maxsize=512)
def _numbered(sql: str) -> str:
    """``sql`` with its ``?`` placeholders numbered (no query has a ``?`` in a literal)."""
    parts = sql.split("?")
    return "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], 1)) + parts[-1]


def _count(status: str) -> int:
    """The rows an ``INSERT 0 3``, ``UPDATE 2`` or ``DELETE 1`` status line says were changed."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


@contextlib.contextmanager
def _duplicates() -> Iterator[None]:
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        raise DuplicateError(str(exc)) from None


def _unusable(url: str, exc: BaseException) -> StartupError:
    if isinstance(exc, asyncpg.InvalidPasswordError | asyncpg.InvalidAuthorizationSpecificationError):
        cause = "it refused the user or password: fix [store] url"
    elif isinstance(exc, asyncpg.InvalidCatalogNameError):
        cause = "the database does not exist: create it (createdb) or fix [store] url"
    elif isinstance(exc, OSError | TimeoutError):
        cause = "nothing answers there: start PostgreSQL or fix [store] url"
    else:
        cause = f"PostgreSQL says {type(exc).__name__}: {exc}"
    return StartupError(f"Cannot use the PostgreSQL database {postgres_where(url)} ([store] url): {cause}.")


class _Statements(Queries):
    def __init__(self, conn: Any) -> None:
        #: An asyncpg connection or pool (both have execute, executemany, fetch).
        self._conn = conn

    async def execute(self, sql: str, args: Args = ()) -> int:
        with _duplicates():
            return _count(await self._conn.execute(_numbered(sql), *args))

    async def executemany(self, sql: str, rows: Iterable[Args]) -> None:
        with _duplicates():
            await self._conn.executemany(_numbered(sql), list(rows))

    async def fetchall(self, sql: str, args: Args = ()) -> list[Row]:
        with _duplicates():
            return list(await self._conn.fetch(_numbered(sql), *args))


async def _session(url: str) -> Any:
    """A connection of its own, for what lives as long as a session (a lease, a LISTEN)."""
    return await asyncpg.connect(url, timeout=_CONNECT_SECONDS, server_settings=_SESSION_SETTINGS)


class _PostgresLease(Lease):
    """A session advisory lock, on a connection that does nothing else: PostgreSQL frees it
    when that connection ends, however its process ended."""

    def __init__(self, url: str, name: str) -> None:
        self._url, self._name = url, name
        self._conn: Any = None
        self._held = False

    async def hold(self) -> bool:
        try:
            if self._held:
                if self._conn.is_closed():
                    raise ConnectionError("the connection was closed")
                await self._conn.fetchval("SELECT 1", timeout=LEASE_CHECK_SECONDS)
                return True
            if self._conn is None:
                self._conn = await _session(self._url)
            query = "SELECT pg_try_advisory_lock($1, hashtext($2))"
            self._held = bool(await self._conn.fetchval(query, _LEASE_SPACE, self._name))
        except _LOST as exc:
            if self._held:
                log.warning("The %s lease is lost: its connection to PostgreSQL broke (%s).", self._name, exc)
            await self.release()
        return self._held

    async def release(self) -> None:
        held, self._held = self._held, False
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if held:
            # Freed now, not when the server notices the connection gone.
            with contextlib.suppress(*_LOST):
                query = "SELECT pg_advisory_unlock($1, hashtext($2))"
                await conn.fetchval(query, _LEASE_SPACE, self._name, timeout=LEASE_CHECK_SECONDS)
        # Ending the session frees its locks, whatever state the connection is in.
        conn.terminate()


class _Listening:
    """One LISTEN connection for every channel; made again (and the gap reported) when it drops."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._conn: Any = None
        self._channels: dict[str, list[tuple[OnPayload, OnGap]]] = {}
        self._reconnecting: asyncio.Task[None] | None = None
        self._closed = False

    async def listen(self, channel: str, on_payload: OnPayload, on_gap: OnGap) -> None:
        self._channels.setdefault(channel, []).append((on_payload, on_gap))
        if self._conn is None:
            self._conn = await self._connect()
        elif len(self._channels[channel]) == 1:
            await self._conn.add_listener(channel, self._deliver)

    async def _connect(self) -> Any:
        conn = await _session(self._url)
        for channel in self._channels:
            await conn.add_listener(channel, self._deliver)
        conn.add_termination_listener(self._lost)
        return conn

    def _deliver(self, _conn: Any, _pid: int, channel: str, payload: str) -> None:
        for on_payload, _ in self._channels.get(channel, []):
            on_payload(payload)

    def _lost(self, _conn: Any) -> None:
        if not self._closed:
            self._conn = None
            self._reconnecting = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        while not self._closed:
            try:
                self._conn = await self._connect()
            except _LOST as exc:
                log.warning("Cannot listen to PostgreSQL again yet (%s); retrying.", exc)
                await asyncio.sleep(LEASE_CHECK_SECONDS)
                continue
            for listeners in self._channels.values():
                for _, on_gap in listeners:
                    on_gap()
            return

    async def close(self) -> None:
        self._closed = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
        if self._conn is not None:
            await self._conn.close()


async def _keep_session(_conn: Any) -> None:
    """What the pool does to its connection after each call, besides rolling back a transaction
    left open: nothing. That connection holds no session state (leases and LISTEN have their own),
    and asyncpg's default reset (``UNLISTEN *; RESET ALL``…) would cost every call a second round
    trip, doubling how long the one connection is busy per call (docs/performance.md)."""


class PostgresDatabase(Database):
    TYPES: ClassVar[Mapping[str, str]] = {
        "ID": "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
        # Discord ids (snowflakes) need 64 bits.
        "INT": "BIGINT",
        "REAL": "DOUBLE PRECISION",
        "BLOB": "BYTEA",
    }
    FOR_UPDATE: ClassVar[str] = " FOR UPDATE"

    def __init__(self, pool: Any, url: str) -> None:
        # A pool of one connection: calls run one at a time in the order they were made (as on
        # SQLite's one connection), and a connection lost is made again on the next call.
        self._pool = pool
        self._statements = _Statements(pool)
        self._url = url
        self._leases: list[_PostgresLease] = []
        self._listening = _Listening(url)

    @classmethod
    async def open(cls, url: str) -> PostgresDatabase:
        """The database at ``url``, migrated; StartupError (one sentence) when it cannot be used."""
        try:
            pool = await asyncpg.create_pool(
                url, min_size=1, max_size=1, timeout=_CONNECT_SECONDS, reset=_keep_session
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise _unusable(url, exc) from None
        database = cls(pool, url)
        try:
            await database.migrate()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            await pool.close()
            raise _unusable(url, exc) from None
        return database

    async def execute(self, sql: str, args: Args = ()) -> int:
        return await self._statements.execute(sql, args)

    async def executemany(self, sql: str, rows: Iterable[Args]) -> None:
        await self._statements.executemany(sql, rows)

    async def fetchall(self, sql: str, args: Args = ()) -> list[Row]:
        return await self._statements.fetchall(sql, args)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Queries]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield _Statements(conn)

    async def schema_version(self) -> int:
        row = await self.fetchone("SELECT max(version) FROM schema_version")
        return int(row[0] or 0) if row else 0

    async def migrate(self) -> None:
        async with self.transaction() as statements:
            await statements.fetchall("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))
            await statements.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = await statements.fetchone("SELECT max(version) FROM schema_version")
            current = int(row[0] or 0) if row else 0
            pending = [(version, sql) for version, sql in migrations(self.TYPES) if version > current]
            for _, sql in pending:
                await statements.execute(sql)
            if pending:
                await statements.execute("DELETE FROM schema_version")
                await statements.execute("INSERT INTO schema_version (version) VALUES (?)", (pending[-1][0],))

    async def writable(self) -> str | None:
        try:
            await self.execute("UPDATE schema_version SET version = version")
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            return f"the store cannot be written ({type(exc).__name__}: {exc})"
        return None

    def lease(self, name: str) -> Lease:
        lease = _PostgresLease(self._url, name)
        self._leases.append(lease)
        return lease

    async def notify(self, channel: str, payload: str) -> None:
        await self.fetchall("SELECT pg_notify(?, ?)", (channel, payload))

    async def listen(self, channel: str, on_payload: OnPayload, on_gap: OnGap) -> None:
        await self._listening.listen(channel, on_payload, on_gap)

    async def close(self) -> None:
        for lease in self._leases:
            await lease.release()
        await self._listening.close()
        await self._pool.close()
