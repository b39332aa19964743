"""The SQLite store: one aiosqlite connection in WAL mode, numbered migrations, typed queries.

Everything that must survive a restart lives here; callers get domain models back, never rows.
Keep every query in this class so that a second engine (PostgreSQL) is an addition.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

from bot.domain import (
    Account,
    BackendKind,
    ErrorKind,
    Job,
    JobKind,
    JobStatus,
    ResultButton,
    UserPrefs,
)

_TERMINAL = tuple(s.value for s in JobStatus if s.terminal)

#: Columns a caller may change with :meth:`Store.update_job`.
_JOB_MUTABLE = frozenset(
    {
        "status",
        "progress",
        "account_id",
        "backend_task_id",
        "message_id",
        "image_url",
        "buttons",
        "error_kind",
        "error_detail",
        "deadline",
        "result_posted",
        "prompt",
        "result_text",
    }
)


def _migrations() -> list[tuple[int, str]]:
    """(version, sql) for every ``NNNN_name.sql`` shipped in ``bot/store/migrations``."""
    found = []
    for entry in resources.files("bot.store.migrations").iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8")))
    return sorted(found)


class Store:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    @classmethod
    async def open(cls, path: Path | str) -> Store:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path)
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable across process crashes in WAL mode (only an OS crash can lose the
        # last commits), which is the failure this bot must survive.
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.execute("PRAGMA foreign_keys=ON")
        store = cls(db)
        await store._migrate()
        return store

    async def close(self) -> None:
        await self._db.close()

    async def _migrate(self) -> None:
        async with self._db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        current = int(row[0]) if row else 0
        for version, sql in _migrations():
            if version <= current:
                continue
            # executescript commits first; the version bump rides in the same script so a
            # crash mid-migration re-runs it whole.
            await self._db.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")

    async def schema_version(self) -> int:
        async with self._db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    # ----------------------------------------------------------------------------- accounts

    async def upsert_config_account(
        self,
        *,
        guild_id: int,
        name: str,
        kind: BackendKind,
        base_url: str,
        max_jobs: int,
        channel_id: int | None,
        options: dict[str, str],
    ) -> int:
        """Create or refresh an account declared in the config file; returns its id.

        Its secret stays in the config (never written here); its quarantine state is kept.
        """
        await self._db.execute(
            """INSERT INTO accounts (guild_id, name, kind, base_url, max_jobs, channel_id, source, options)
               VALUES (?, ?, ?, ?, ?, ?, 'config', ?)
               ON CONFLICT (guild_id, name) DO UPDATE SET kind = excluded.kind,
                   base_url = excluded.base_url, max_jobs = excluded.max_jobs,
                   channel_id = excluded.channel_id, source = 'config', options = excluded.options""",
            (guild_id, name, kind.value, base_url, max_jobs, channel_id, json.dumps(options)),
        )
        await self._db.commit()
        async with self._db.execute(
            "SELECT id FROM accounts WHERE guild_id = ? AND name = ?", (guild_id, name)
        ) as cur:
            row = await cur.fetchone()
        assert row is not None
        return int(row["id"])

    async def list_accounts(self, guild_id: int | None = None) -> list[Account]:
        sql = "SELECT * FROM accounts"
        args: tuple[Any, ...] = ()
        if guild_id is not None:
            sql += " WHERE guild_id = ?"
            args = (guild_id,)
        async with self._db.execute(sql + " ORDER BY id", args) as cur:
            return [_account(r) for r in await cur.fetchall()]

    async def set_account_quarantine(self, account_id: int, reason: str | None) -> None:
        await self._db.execute("UPDATE accounts SET quarantine_reason = ? WHERE id = ?", (reason, account_id))
        await self._db.commit()

    # ---------------------------------------------------------------------------- user prefs

    async def user_prefs(self, guild_id: int, user_id: int) -> UserPrefs:
        async with self._db.execute(
            "SELECT prefs FROM user_prefs WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
        ) as cur:
            row = await cur.fetchone()
        return UserPrefs.model_validate_json(row["prefs"]) if row else UserPrefs()

    async def set_user_prefs(self, guild_id: int, user_id: int, prefs: UserPrefs) -> None:
        await self._db.execute(
            """INSERT INTO user_prefs (guild_id, user_id, prefs) VALUES (?, ?, ?)
               ON CONFLICT (guild_id, user_id) DO UPDATE SET prefs = excluded.prefs""",
            (guild_id, user_id, prefs.model_dump_json()),
        )
        await self._db.commit()

    # --------------------------------------------------------------------------------- jobs

    async def create_job(
        self,
        *,
        guild_id: int,
        channel_id: int,
        owner_id: int,
        kind: JobKind,
        prompt: str,
        hook_secret: str,
        deadline: float,
        parent_job_id: int | None = None,
        action_custom_id: str | None = None,
        account_id: int | None = None,
        inputs: Sequence[bytes] = (),
        params: dict[str, str] | None = None,
    ) -> Job:
        now = time.time()
        async with self._db.execute(
            """INSERT INTO jobs (guild_id, channel_id, owner_id, kind, prompt, status, hook_secret,
                   created_at, updated_at, deadline, parent_job_id, action_custom_id, account_id, params)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                guild_id,
                channel_id,
                owner_id,
                kind.value,
                prompt,
                JobStatus.QUEUED.value,
                hook_secret,
                now,
                now,
                deadline,
                parent_job_id,
                action_custom_id,
                account_id,
                json.dumps(params or {}),
            ),
        ) as cur:
            job_id = cur.lastrowid
        assert job_id is not None
        await self._db.executemany(
            "INSERT INTO job_inputs (job_id, position, data) VALUES (?, ?, ?)",
            [(job_id, i, data) for i, data in enumerate(inputs)],
        )
        await self._db.commit()
        job = await self.get_job(job_id)
        assert job is not None
        return job

    async def get_job(self, job_id: int) -> Job | None:
        async with self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)) as cur:
            row = await cur.fetchone()
        return _job(row) if row else None

    async def job_inputs(self, job_id: int) -> list[bytes]:
        async with self._db.execute(
            "SELECT data FROM job_inputs WHERE job_id = ? ORDER BY position", (job_id,)
        ) as cur:
            return [bytes(r["data"]) for r in await cur.fetchall()]

    async def update_job(self, job_id: int, **fields: Any) -> Job:
        """Write the given columns (durably) and return the job as stored."""
        unknown = set(fields) - _JOB_MUTABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        values = [_to_column(k, v) for k, v in fields.items()]
        assignments = ", ".join(f"{k} = ?" for k in fields)
        await self._db.execute(
            f"UPDATE jobs SET {assignments}, updated_at = ? WHERE id = ?",
            (*values, time.time(), job_id),
        )
        if fields.get("status") in _TERMINAL or fields.get("backend_task_id"):
            # Inputs are only needed until the backend has them.
            await self._db.execute("DELETE FROM job_inputs WHERE job_id = ?", (job_id,))
        await self._db.commit()
        job = await self.get_job(job_id)
        assert job is not None
        return job

    async def unfinished_jobs(self) -> list[Job]:
        """Jobs still running or queued, and finished jobs whose result is not yet on Discord."""
        async with self._db.execute(
            f"""SELECT * FROM jobs WHERE status NOT IN ({",".join("?" * len(_TERMINAL))})
                   OR result_posted = 0 ORDER BY created_at, id""",
            _TERMINAL,
        ) as cur:
            return [_job(r) for r in await cur.fetchall()]

    async def active_counts(self) -> dict[int, int]:
        """Jobs each account is running now (submitted and not finished)."""
        async with self._db.execute(
            f"""SELECT account_id, COUNT(*) AS n FROM jobs
                WHERE account_id IS NOT NULL AND backend_task_id IS NOT NULL
                  AND status NOT IN ({",".join("?" * len(_TERMINAL))})
                GROUP BY account_id""",
            _TERMINAL,
        ) as cur:
            return {int(r["account_id"]): int(r["n"]) for r in await cur.fetchall()}

    async def queued_jobs(self, guild_id: int) -> list[Job]:
        async with self._db.execute(
            "SELECT * FROM jobs WHERE guild_id = ? AND status = ? ORDER BY created_at, id",
            (guild_id, JobStatus.QUEUED.value),
        ) as cur:
            return [_job(r) for r in await cur.fetchall()]

    async def jobs_by_ids(self, ids: Iterable[int]) -> list[Job]:
        id_list = list(ids)
        if not id_list:
            return []
        async with self._db.execute(
            f"SELECT * FROM jobs WHERE id IN ({','.join('?' * len(id_list))})", id_list
        ) as cur:
            return [_job(r) for r in await cur.fetchall()]


def _to_column(key: str, value: Any) -> Any:
    if key == "buttons":
        return json.dumps([b.model_dump(mode="json") for b in value])
    if key == "result_posted":
        return int(bool(value))
    if hasattr(value, "value"):  # StrEnum
        return value.value
    return value


def _account(row: aiosqlite.Row) -> Account:
    return Account(
        id=row["id"],
        guild_id=row["guild_id"],
        name=row["name"],
        kind=BackendKind(row["kind"]),
        base_url=row["base_url"],
        secret=row["secret"],
        max_jobs=row["max_jobs"],
        channel_id=row["channel_id"],
        enabled=bool(row["enabled"]),
        source=row["source"],
        quarantine_reason=row["quarantine_reason"],
        options=json.loads(row["options"]),
    )


def _job(row: aiosqlite.Row) -> Job:
    return Job(
        id=row["id"],
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        owner_id=row["owner_id"],
        kind=JobKind(row["kind"]),
        prompt=row["prompt"],
        status=JobStatus(row["status"]),
        progress=row["progress"],
        account_id=row["account_id"],
        backend_task_id=row["backend_task_id"],
        parent_job_id=row["parent_job_id"],
        action_custom_id=row["action_custom_id"],
        message_id=row["message_id"],
        image_url=row["image_url"],
        buttons=[ResultButton.model_validate(b) for b in json.loads(row["buttons"])],
        error_kind=ErrorKind(row["error_kind"]) if row["error_kind"] else None,
        error_detail=row["error_detail"],
        hook_secret=row["hook_secret"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        deadline=row["deadline"],
        result_posted=bool(row["result_posted"]),
        params=json.loads(row["params"]),
        result_text=row["result_text"],
    )
