"""The SQLite store: one aiosqlite connection in WAL mode, numbered migrations, typed queries.

Everything that must survive a restart lives here; callers get domain models back, never rows.
Keep every query in this class so that a second engine (PostgreSQL) is an addition.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

from bot.config import StartupError
from bot.crypto import SECRET_LOST, SecretBox
from bot.domain import (
    MEMBER_SOURCE,
    Account,
    AckedCommand,
    AuditEntry,
    BackendKind,
    ErrorKind,
    GuildConfig,
    Job,
    JobKind,
    JobStatus,
    Reply,
    ResultButton,
    UserPrefs,
)

_TERMINAL = tuple(s.value for s in JobStatus if s.terminal)

log = logging.getLogger(__name__)

#: Job rows kept in memory (see Store.get_job).
JOB_ROWS_KEPT = 4096
#: The columns that only show a running job's progress (see Store.note_progress).
_PROGRESS_COLUMNS = ("status", "progress", "image_url", "queue_position", "updated_at")
_PROGRESS_FIELDS = frozenset(_PROGRESS_COLUMNS)
#: At most this many seconds pass before noted progress is written (see Store.note_progress).
PROGRESS_WRITE_SECONDS = 1.0

#: Columns a caller may change with :meth:`Store.update_job`.
_JOB_MUTABLE = frozenset(
    {
        "status",
        "progress",
        "account_id",
        "backend_task_id",
        "message_id",
        "reply_token",
        "image_url",
        "buttons",
        "error_kind",
        "error_detail",
        "deadline",
        "result_posted",
        "prompt",
        "result_text",
        "queue_position",
        "ignored_words",
        "media_type",
        "preview_url",
    }
)


def _migrations() -> list[tuple[int, str]]:
    """(version, sql) for every ``NNNN_name.sql`` shipped in ``bot/store/migrations``."""
    found = []
    for entry in resources.files("bot.store.migrations").iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8")))
    return sorted(found)


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


@dataclass
class _KeptJob:
    row: dict[str, Any]
    #: The job made from ``row``, until ``row`` changes (making one parses three JSON columns
    #: and validates the model: far more than handing out the one made before).
    job: Job | None = None


class Store:
    def __init__(self, db: aiosqlite.Connection, box: SecretBox | None = None) -> None:
        self._db = db
        #: Seals account secrets written by the bot; None keeps them as given (tests).
        self._box = box
        #: The rows of the jobs read or written last, least recent first. A backend event reads
        #: its job and writes it, and the publisher reads it again; each round trip to
        #: aiosqlite's thread costs ~0.15 ms of CPU. The bot is the only writer of its database
        #: and every change to a job goes through update_job or note_progress, which change a
        #: kept row as they change the table, so a kept row is the stored row.
        self._job_rows: OrderedDict[int, _KeptJob] = OrderedDict()
        #: Counts job writes: a row read while one was under way is not kept (it may be older).
        self._job_writes = 0
        #: Progress noted and not yet written (job id → its _PROGRESS_COLUMNS), and the batch
        #: being written now; both are laid over rows read from the file.
        self._unsaved: dict[int, dict[str, Any]] = {}
        self._saving: dict[int, dict[str, Any]] = {}
        self._saver: asyncio.Task[None] | None = None
        self.progress_write_seconds = PROGRESS_WRITE_SECONDS

    @classmethod
    async def open(cls, path: Path | str, box: SecretBox | None = None) -> Store:
        """The store in ``path``, checked and migrated; StartupError (one sentence) when the file
        cannot be used."""
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
            store = cls(db, box)
            await store._migrate()
        except (OSError, sqlite3.Error) as exc:
            # The connection's thread is not a daemon: left open, it keeps the process alive.
            with contextlib.suppress(sqlite3.Error):
                await db.close()
            raise _unusable(path, exc) from None
        return store

    def use_box(self, box: SecretBox) -> None:
        """Seal and unseal account secrets with ``box`` from now on."""
        self._box = box

    async def close(self) -> None:
        if self._saver is not None:
            self._saver.cancel()
            self._saver = None
        await self._save_progress()
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
        """Accounts not removed, their secrets unsealed."""
        sql = "SELECT * FROM accounts WHERE removed_at IS NULL"
        args: tuple[Any, ...] = ()
        if guild_id is not None:
            sql += " AND guild_id = ?"
            args = (guild_id,)
        async with self._db.execute(sql + " ORDER BY id", args) as cur:
            return [self._unsealed(_account(r)) for r in await cur.fetchall()]

    def _seal(self, secret: str) -> str:
        return self._box.seal(secret) if self._box else secret

    def _unsealed(self, account: Account) -> Account:
        if self._box is None or not account.secret:
            return account
        secret = self._box.open(account.secret)
        if secret is None:
            return account.model_copy(update={"secret": "", "quarantine_reason": SECRET_LOST})
        return account.model_copy(update={"secret": secret})

    async def add_account(
        self,
        *,
        guild_id: int,
        name: str,
        kind: BackendKind,
        base_url: str,
        secret: str,
        max_jobs: int,
        channel_id: int | None,
        options: dict[str, str],
        created_by: int,
    ) -> Account:
        """A new admin-made account; ValueError when the guild already has one of that name."""
        try:
            async with self._db.execute(
                """INSERT INTO accounts (guild_id, name, kind, base_url, secret, max_jobs, channel_id, source,
                       options, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, 'admin', ?, ?)""",
                (
                    guild_id,
                    name,
                    kind.value,
                    base_url,
                    self._seal(secret),
                    max_jobs,
                    channel_id,
                    json.dumps(options),
                    created_by,
                ),
            ) as cur:
                account_id = cur.lastrowid
        except aiosqlite.IntegrityError:
            raise ValueError(f"An account named {name!r} already exists.") from None
        await self._db.commit()
        account = await self.get_account(guild_id, name)
        assert account is not None and account.id == account_id
        return account

    async def get_account(self, guild_id: int, name: str) -> Account | None:
        async with self._db.execute(
            "SELECT * FROM accounts WHERE guild_id = ? AND name = ? AND removed_at IS NULL", (guild_id, name)
        ) as cur:
            row = await cur.fetchone()
        return self._unsealed(_account(row)) if row else None

    async def update_account(self, account_id: int, **fields: Any) -> None:
        """Change base_url, max_jobs, channel_id, enabled, options or secret (sealed here)."""
        allowed = {"base_url", "max_jobs", "channel_id", "enabled", "options", "secret"}
        if set(fields) - allowed:
            raise ValueError(f"not updatable: {sorted(set(fields) - allowed)}")
        values = [
            self._seal(v)
            if k == "secret"
            else json.dumps(v)
            if k == "options"
            else int(v)
            if k == "enabled"
            else v
            for k, v in fields.items()
        ]
        assignments = ", ".join(f"{k} = ?" for k in fields)
        await self._db.execute(f"UPDATE accounts SET {assignments} WHERE id = ?", (*values, account_id))
        await self._db.commit()

    async def remove_account(self, account_id: int) -> None:
        """Take an account out for good; its jobs keep pointing at it (history), its name is freed."""
        await self._db.execute(
            "UPDATE accounts SET removed_at = ?, enabled = 0, secret = '', name = name || '~removed~' || id "
            "WHERE id = ?",
            (time.time(), account_id),
        )
        await self._db.commit()

    # ---------------------------------------------------------------------- guild config, audit

    async def guild_config(self, guild_id: int) -> GuildConfig:
        async with self._db.execute(
            "SELECT settings FROM guild_config WHERE guild_id = ?", (guild_id,)
        ) as cur:
            row = await cur.fetchone()
        return GuildConfig.model_validate_json(row["settings"]) if row else GuildConfig()

    async def set_guild_config(self, guild_id: int, config: GuildConfig) -> None:
        await self._db.execute(
            """INSERT INTO guild_config (guild_id, settings) VALUES (?, ?)
               ON CONFLICT (guild_id) DO UPDATE SET settings = excluded.settings""",
            (guild_id, config.model_dump_json()),
        )
        await self._db.commit()

    async def audit(self, guild_id: int, user_id: int, action: str, detail: str) -> None:
        await self._db.execute(
            "INSERT INTO audit (guild_id, user_id, action, detail, at) VALUES (?, ?, ?, ?, ?)",
            (guild_id, user_id, action, detail, time.time()),
        )
        await self._db.commit()

    async def audit_log(self, guild_id: int, limit: int = 20) -> list[AuditEntry]:
        async with self._db.execute(
            "SELECT * FROM audit WHERE guild_id = ? ORDER BY at DESC, id DESC LIMIT ?", (guild_id, limit)
        ) as cur:
            return [
                AuditEntry(
                    guild_id=r["guild_id"],
                    user_id=r["user_id"],
                    action=r["action"],
                    detail=r["detail"],
                    at=r["at"],
                )
                for r in await cur.fetchall()
            ]

    async def member_job_counts(self, guild_id: int, user_id: int, since: float) -> tuple[int, int]:
        """(jobs waiting or running, jobs started since ``since``) of one member."""
        async with self._db.execute(
            f"""SELECT
                   SUM(CASE WHEN status NOT IN ({",".join("?" * len(_TERMINAL))}) THEN 1 ELSE 0 END),
                   SUM(CASE WHEN created_at >= ? THEN 1 ELSE 0 END)
                FROM jobs WHERE guild_id = ? AND owner_id = ?""",
            (*_TERMINAL, since, guild_id, user_id),
        ) as cur:
            row = await cur.fetchone()
        return (int(row[0] or 0), int(row[1] or 0)) if row else (0, 0)

    async def member_jobs(self, guild_id: int, user_id: int, *, limit: int, offset: int = 0) -> list[Job]:
        async with self._db.execute(
            """SELECT * FROM jobs WHERE guild_id = ? AND owner_id = ?
               ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?""",
            (guild_id, user_id, limit, offset),
        ) as cur:
            return self._jobs(await cur.fetchall())

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
        reply: Reply | None = None,
    ) -> Job:
        now = time.time()
        async with self._db.execute(
            """INSERT INTO jobs (guild_id, channel_id, owner_id, kind, prompt, status, hook_secret,
                   created_at, updated_at, deadline, parent_job_id, action_custom_id, account_id, params,
                   message_id, reply_token, reply_expires)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
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
                reply.message_id if reply else None,
                reply.token if reply else None,
                reply.expires if reply else 0.0,
            ),
        ) as cur:
            job_id = cur.lastrowid
        assert job_id is not None
        await self._db.executemany(
            "INSERT INTO job_inputs (job_id, position, data) VALUES (?, ?, ?)",
            [(job_id, i, data) for i, data in enumerate(inputs)],
        )
        if reply is not None:
            # The command that this job's reply acknowledged is done, in the same transaction.
            await self._db.execute("DELETE FROM acked_commands WHERE token = ?", (reply.token,))
        await self._db.commit()
        job = await self.get_job(job_id)
        assert job is not None
        return job

    # ----------------------------------------------------------------------------- acked commands
    async def record_command(self, command: AckedCommand) -> None:
        await self._db.execute(
            """INSERT OR IGNORE INTO acked_commands (interaction_id, application_id, token, guild_id,
                   channel_id, user_id, command, payload, message_id, acked_at, expires)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                command.interaction_id,
                command.application_id,
                command.token,
                command.guild_id,
                command.channel_id,
                command.user_id,
                command.command,
                json.dumps(command.payload),
                command.message_id,
                command.acked_at,
                command.expires,
            ),
        )
        await self._db.commit()

    async def acked_commands(self, before: float) -> list[AckedCommand]:
        """Commands acknowledged before ``before`` whose job was never stored (nor the command
        answered)."""
        async with self._db.execute(
            "SELECT * FROM acked_commands WHERE acked_at < ? ORDER BY interaction_id", (before,)
        ) as cur:
            rows = await cur.fetchall()
        return [
            AckedCommand.model_validate({**dict(row), "payload": json.loads(row["payload"])}) for row in rows
        ]

    async def forget_command(self, interaction_id: int) -> None:
        await self._db.execute("DELETE FROM acked_commands WHERE interaction_id = ?", (interaction_id,))
        await self._db.commit()

    async def get_job(self, job_id: int) -> Job | None:
        kept = self._kept(job_id)
        if kept is not None:
            return kept
        writes = self._job_writes
        # One round trip (a cursor costs three: execute, fetch, close).
        rows = list(await self._db.execute_fetchall("SELECT * FROM jobs WHERE id = ?", (job_id,)))
        if not rows:
            return None
        row = self._with_progress(rows[0])
        job = _job(row)
        if writes == self._job_writes:
            self._job_rows[job_id] = _KeptJob(row, job)
            if len(self._job_rows) > JOB_ROWS_KEPT:
                self._job_rows.popitem(last=False)
        return job

    def _kept(self, job_id: int) -> Job | None:
        kept = self._job_rows.get(job_id)
        if kept is None:
            return None
        self._job_rows.move_to_end(job_id)
        if kept.job is None:
            kept.job = _job(kept.row)
        return kept.job

    def _with_progress(self, row: aiosqlite.Row) -> dict[str, Any]:
        """A job row read from the file, with the progress noted since (note_progress)."""
        found = dict(row)
        job_id = found["id"]
        found.update(self._saving.get(job_id, ()))
        found.update(self._unsaved.get(job_id, ()))
        return found

    def _jobs(self, rows: Iterable[aiosqlite.Row]) -> list[Job]:
        return [_job(self._with_progress(r)) for r in rows]

    async def job_inputs(self, job_id: int) -> list[bytes]:
        async with self._db.execute(
            "SELECT data FROM job_inputs WHERE job_id = ? ORDER BY position", (job_id,)
        ) as cur:
            return [bytes(r["data"]) for r in await cur.fetchall()]

    async def update_job(self, job_id: int, **fields: Any) -> Job:
        """Write the given columns (durably, with the job's progress noted so far) and return
        the job as stored."""
        unknown = set(fields) - _JOB_MUTABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        # Noted progress rides along; this write supersedes the batch's (which is written first).
        self._saving.pop(job_id, None)
        columns = self._unsaved.pop(job_id, {})
        columns.update((k, _to_column(k, v)) for k, v in fields.items())
        columns["updated_at"] = time.time()
        assignments = ", ".join(f"{k} = ?" for k in columns)
        self._job_writes += 1
        await self._db.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", (*columns.values(), job_id))
        if fields.get("status") in _TERMINAL or fields.get("backend_task_id"):
            # Inputs are only needed until the backend has them.
            await self._db.execute("DELETE FROM job_inputs WHERE job_id = ?", (job_id,))
        await self._db.commit()
        kept = self._job_rows.get(job_id)
        if kept is not None:
            # What the UPDATE did to the table (writes reach here in the order they were made).
            kept.row.update(columns)
            kept.job = None
        job = await self.get_job(job_id)
        assert job is not None
        return job

    async def note_progress(self, job_id: int, **fields: Any) -> Job:
        """Change what a running job shows (``progress``, ``image_url``, ``queue_position``, and
        ``status`` between submitted and in progress) and return the job as readers now see it.

        Readers see the change at once; the file gets it within :data:`PROGRESS_WRITE_SECONDS`,
        in one transaction with every other job's progress, since a write per backend event cost
        two round trips to aiosqlite's thread (~0.3 ms of CPU here). A crash loses at most that much progress,
        which the job's next push or fetch brings back. What decides a job's fate (its status,
        task id, result, message) goes through :meth:`update_job`, written before it returns.
        """
        unknown = fields.keys() - _PROGRESS_FIELDS
        if unknown:
            raise ValueError(f"not progress: {sorted(unknown)}")
        kept = self._job_rows.get(job_id)
        if kept is None:
            return await self.update_job(job_id, **fields)  # a job not read lately: written now
        columns = {k: _to_column(k, v) for k, v in fields.items()}
        if not (
            JobStatus(kept.row["status"]).running
            and JobStatus(columns.get("status", kept.row["status"])).running
        ):
            raise ValueError("only a running job's progress is noted; its fate is written at once")
        before = kept.job or _job(kept.row)
        columns["updated_at"] = time.time()
        kept.row.update(columns)
        # The fields are the Job's own (a few scalars): a copy is cheaper than a row conversion.
        kept.job = before.model_copy(update={**fields, "updated_at": columns["updated_at"]})
        self._job_rows.move_to_end(job_id)
        self._unsaved[job_id] = {c: kept.row[c] for c in _PROGRESS_COLUMNS}
        if self._saver is None:
            self._saver = asyncio.create_task(self._save_progress_soon())
        return kept.job

    async def _save_progress_soon(self) -> None:
        await asyncio.sleep(self.progress_write_seconds)
        self._saver = None
        try:
            await self._save_progress()
        except Exception:
            # The jobs go on; their next change is written, and a restart asks their backend.
            log.exception("could not write the progress of running jobs")

    async def _save_progress(self) -> None:
        """Write the noted progress of every job in one transaction."""
        if not self._unsaved:
            return
        self._saving, self._unsaved = self._unsaved, {}
        self._job_writes += 1
        try:
            await self._db.executemany(
                f"UPDATE jobs SET {', '.join(f'{c} = ?' for c in _PROGRESS_COLUMNS)} WHERE id = ?",
                [(*(v[c] for c in _PROGRESS_COLUMNS), job_id) for job_id, v in self._saving.items()],
            )
            await self._db.commit()
        finally:
            self._saving = {}

    async def mark_submitting(self, job_id: int, account_id: int | None) -> None:
        """Record (durably, before the backend call) that ``job_id`` is being submitted to
        ``account_id``; None clears it after a submit the backend refused."""
        await self._db.execute("UPDATE jobs SET submitting_account = ? WHERE id = ?", (account_id, job_id))
        await self._db.commit()

    async def interrupted_submits(self) -> list[int]:
        """Queued jobs whose submit was under way when the bot stopped: nobody knows whether the
        backend made a task for them."""
        async with self._db.execute(
            """SELECT id FROM jobs WHERE status = ? AND submitting_account IS NOT NULL
                   AND backend_task_id IS NULL ORDER BY id""",
            (JobStatus.QUEUED.value,),
        ) as cur:
            return [int(r["id"]) for r in await cur.fetchall()]

    async def unfinished_jobs(self) -> list[Job]:
        """Jobs still running or queued, and finished jobs whose result is not yet on Discord."""
        async with self._db.execute(
            f"""SELECT * FROM jobs WHERE status NOT IN ({",".join("?" * len(_TERMINAL))})
                   OR result_posted = 0 ORDER BY created_at, id""",
            _TERMINAL,
        ) as cur:
            return self._jobs(await cur.fetchall())

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

    async def queued_count(self, guild_id: int) -> int:
        async with self._db.execute(
            "SELECT COUNT(*) FROM jobs WHERE guild_id = ? AND status = ?", (guild_id, JobStatus.QUEUED.value)
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def queued_total(self) -> int:
        """Queued jobs of every guild."""
        query = "SELECT COUNT(*) FROM jobs WHERE status = ?"
        async with self._db.execute(query, (JobStatus.QUEUED.value,)) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def writable(self) -> str | None:
        """None when the database takes a write, else why not (for /readyz)."""
        try:
            # Rewriting the schema version takes the write lock and writes the header, nothing else.
            version = await self.schema_version()
            await self._db.execute(f"PRAGMA user_version = {version}")
        except (sqlite3.Error, ValueError) as exc:
            return f"the store cannot be written ({type(exc).__name__}: {exc})"
        return None

    async def queued_jobs(self, guild_id: int) -> list[Job]:
        async with self._db.execute(
            "SELECT * FROM jobs WHERE guild_id = ? AND status = ? ORDER BY created_at, id",
            (guild_id, JobStatus.QUEUED.value),
        ) as cur:
            return self._jobs(await cur.fetchall())

    async def job_of_task(self, account_id: int, task_id: str) -> int | None:
        """The id of the job that follows ``task_id`` on ``account_id``, if one does."""
        async with self._db.execute(
            "SELECT id FROM jobs WHERE account_id = ? AND backend_task_id = ?", (account_id, task_id)
        ) as cur:
            row = await cur.fetchone()
        return None if row is None else int(row[0])

    async def jobs_by_ids(self, ids: Iterable[int]) -> list[Job]:
        id_list = list(ids)
        if not id_list:
            return []
        async with self._db.execute(
            f"SELECT * FROM jobs WHERE id IN ({','.join('?' * len(id_list))})", id_list
        ) as cur:
            return self._jobs(await cur.fetchall())

    # ----------------------------------------------------------------- members' AIMG sessions

    async def link_member_account(
        self, *, guild_id: int, user_id: int, base_url: str, session_id: str, email: str
    ) -> Account:
        """Store a member's signed-in AIMG session as their own account (replacing an older one)."""
        name = f"aimg-member-{user_id}"
        options = json.dumps({"owner_id": str(user_id)})
        await self._db.execute(
            """INSERT INTO accounts (guild_id, name, kind, base_url, secret, max_jobs, source, options)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (guild_id, name) DO UPDATE SET base_url = excluded.base_url,
                   secret = excluded.secret, enabled = 1, quarantine_reason = NULL""",
            (
                guild_id,
                name,
                BackendKind.AIMG.value,
                base_url,
                self._seal(session_id),
                2,
                MEMBER_SOURCE,
                options,
            ),
        )
        await self._db.execute(
            """INSERT INTO aimg_member_sessions (guild_id, user_id, account_id, email, linked_at)
               SELECT ?, ?, id, ?, ? FROM accounts WHERE guild_id = ? AND name = ?
               ON CONFLICT (guild_id, user_id) DO UPDATE SET account_id = excluded.account_id,
                   email = excluded.email, linked_at = excluded.linked_at""",
            (guild_id, user_id, email, time.time(), guild_id, name),
        )
        await self._db.commit()
        account = await self.member_account(guild_id, user_id)
        assert account is not None
        return account

    async def member_account(self, guild_id: int, user_id: int) -> Account | None:
        """The member's linked AIMG account in this guild, if they linked one."""
        async with self._db.execute(
            """SELECT accounts.* FROM aimg_member_sessions JOIN accounts ON accounts.id = account_id
               WHERE aimg_member_sessions.guild_id = ? AND user_id = ? AND removed_at IS NULL""",
            (guild_id, user_id),
        ) as cur:
            row = await cur.fetchone()
        return self._unsealed(_account(row)) if row else None

    # ------------------------------------------------------------------- members' AIMG votes

    async def aimg_vote(self, job_id: int, user_id: int) -> str | None:
        """The member's standing vote on a job's AIMG item: ``like``, ``dislike`` or None."""
        async with self._db.execute(
            "SELECT vote FROM aimg_votes WHERE job_id = ? AND user_id = ?", (job_id, user_id)
        ) as cur:
            row = await cur.fetchone()
        return str(row["vote"]) if row else None

    async def set_aimg_vote(self, job_id: int, user_id: int, vote: str | None) -> None:
        """Record the member's vote on a job's AIMG item; None takes it back."""
        if vote is None:
            await self._db.execute(
                "DELETE FROM aimg_votes WHERE job_id = ? AND user_id = ?", (job_id, user_id)
            )
        else:
            await self._db.execute(
                """INSERT INTO aimg_votes (job_id, user_id, vote) VALUES (?, ?, ?)
                   ON CONFLICT (job_id, user_id) DO UPDATE SET vote = excluded.vote""",
                (job_id, user_id, vote),
            )
        await self._db.commit()


    # ------------------------------------------------------------------- mask editor links

    async def use_editor_link(self, nonce: str, expires: float) -> bool:
        """Record an editor link as used; False when it was used already."""
        await self._db.execute("DELETE FROM editor_links WHERE expires < ?", (time.time(),))
        cur = await self._db.execute(
            "INSERT INTO editor_links (nonce, expires) VALUES (?, ?) ON CONFLICT DO NOTHING", (nonce, expires)
        )
        await self._db.commit()
        return cur.rowcount == 1

    async def editor_link_used(self, nonce: str) -> bool:
        async with self._db.execute("SELECT 1 FROM editor_links WHERE nonce = ?", (nonce,)) as cur:
            return await cur.fetchone() is not None

    async def release_editor_link(self, nonce: str) -> None:
        """Make a link usable again (its edit was refused before any job was made)."""
        await self._db.execute("DELETE FROM editor_links WHERE nonce = ?", (nonce,))
        await self._db.commit()

def _to_column(key: str, value: Any) -> Any:
    if key == "buttons":
        return json.dumps([b.model_dump(mode="json") for b in value])
    if key == "ignored_words":
        return json.dumps(list(value))
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


def _job(row: aiosqlite.Row | dict[str, Any]) -> Job:
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
        queue_position=row["queue_position"],
        ignored_words=json.loads(row["ignored_words"]),
        media_type=row["media_type"],
        preview_url=row["preview_url"],
        reply=Reply(message_id=row["message_id"], token=row["reply_token"], expires=row["reply_expires"])
        if row["reply_token"] is not None and row["message_id"] is not None
        else None,
    )
