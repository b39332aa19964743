"""``mjbot store copy --to URL``: every row of the SQLite store into an empty PostgreSQL one."""

from __future__ import annotations

from pathlib import Path

from bot.config import StartupError, postgres_where
from bot.store.db import Queries
from bot.store.db_postgres import PostgresDatabase
from bot.store.db_sqlite import SqliteDatabase

#: Rows read from SQLite at a time (job inputs are images: not the whole table at once).
_BATCH = 500


async def copy_store(path: Path | str, url: str) -> dict[str, int]:
    """Copy every table of the SQLite store in ``path`` into the empty PostgreSQL store at
    ``url`` (both migrated first) in one transaction, ids kept; the rows copied per table.
    StartupError (one sentence) when either cannot be used or the target holds rows already."""
    source = await SqliteDatabase.open(path)
    try:
        target = await PostgresDatabase.open(url)
        try:
            # Creation order: a table comes after the tables it refers to.
            tables = [
                str(r[0])
                for r in await source.fetchall(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                    "ORDER BY rowid"
                )
            ]
            async with target.transaction() as into:
                for table in tables:
                    if await into.fetchone(f"SELECT 1 FROM {table} LIMIT 1"):
                        raise StartupError(
                            f"The PostgreSQL database {postgres_where(url)} already holds a store "
                            f"({table} has rows): copy into an empty database."
                        )
                counts = {table: await _copy_table(source, into, table) for table in tables}
                await _continue_ids(into)
        finally:
            await target.close()
    finally:
        await source.close()
    return counts


async def _copy_table(source: SqliteDatabase, into: Queries, table: str) -> int:
    copied, last = 0, 0
    while rows := await source.fetchall(
        f"SELECT rowid, * FROM {table} WHERE rowid > ? ORDER BY rowid LIMIT ?", (last, _BATCH)
    ):
        columns = list(rows[0].keys())[1:]
        marks = ", ".join("?" * len(columns))
        await into.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", [tuple(r)[1:] for r in rows]
        )
        copied, last = copied + len(rows), rows[-1][0]
    return copied


async def _continue_ids(into: Queries) -> None:
    """Start each table's next id after the ids copied (PostgreSQL's identity sequences do not
    follow ids inserted explicitly)."""
    for row in await into.fetchall(
        "SELECT table_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND column_name = 'id' AND is_identity = 'YES'"
    ):
        table = row[0]
        await into.fetchall(
            f"SELECT setval(pg_get_serial_sequence(?, 'id'), "
            f"COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)",
            (table,),
        )
