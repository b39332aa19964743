"""Jobs in the store: their rows, the last ones read or written kept in memory with the job made
from each, and the progress of running jobs written in batches (see Jobs.note_progress)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

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
from bot.store.db import Database, DuplicateError, Row

_TERMINAL = tuple(s.value for s in JobStatus if s.terminal)

log = logging.getLogger(__name__)

#: Job rows kept in memory (see Store.get_job).
JOB_ROWS_KEPT = 4096
#: The columns that only show a running job's progress (see Store.note_progress).
_PROGRESS_COLUMNS = ("status", "progress", "image_url", "queue_position", "queue_length", "updated_at")
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
        "queue_length",
        "ignored_words",
        "media_type",
        "preview_url",
        "result_urls",
    }
)


@dataclass
class _KeptJob:
    row: dict[str, Any]
    #: The job made from ``row``, until ``row`` changes (making one parses three JSON columns
    #: and validates the model: far more than handing out the one made before).
    job: Job | None = None


class Jobs:
    """The job calls of :class:`bot.store.Store`: job rows, kept in memory, and their progress."""

    _db: Database
    #: Seals account secrets written by the bot; None keeps them as given (tests).
    _box: SecretBox | None

    def __init__(self) -> None:
        #: The rows of the jobs read or written last, least recent first. A backend event reads
        #: its job and writes it, and the publisher reads it again; each round trip to the
        #: database costs ~0.15 ms of CPU. The bot is the only writer of its jobs (its shards'
        #: ones, docs/scaling.md) and every change to a job goes through update_job or
        #: note_progress, which change a kept row as they change the table, so a kept row is the
        #: stored row (a job another process notifies is dropped: listen_jobs).
        self._job_rows: OrderedDict[int, _KeptJob] = OrderedDict()
        #: Counts job writes: a row read while one was under way is not kept (it may be older).
        self._job_writes = 0
        #: Progress noted and not yet written (job id → its _PROGRESS_COLUMNS), and the batch
        #: being written now; both are laid over rows read from the database.
        self._unsaved: dict[int, dict[str, Any]] = {}
        self._saving: dict[int, dict[str, Any]] = {}
        self._saver: asyncio.Task[None] | None = None
        self.progress_write_seconds = PROGRESS_WRITE_SECONDS

    async def _flush_progress(self) -> None:
        """Stop the timed write of noted progress and write it now (the store is closing)."""
        if self._saver is not None:
            self._saver.cancel()
            self._saver = None
        await self._save_progress()

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
        row = await self._db.fetchone(
            "SELECT id FROM accounts WHERE guild_id = ? AND name = ?", (guild_id, name)
        )
        assert row is not None
        return int(row["id"])

    async def list_accounts(self, guild_id: int | None = None) -> list[Account]:
        """Accounts not removed, their secrets unsealed."""
        sql = "SELECT * FROM accounts WHERE removed_at IS NULL"
        args: tuple[Any, ...] = ()
        if guild_id is not None:
            sql += " AND guild_id = ?"
            args = (guild_id,)
        rows = await self._db.fetchall(sql + " ORDER BY id", args)
        return [self._unsealed(_account(r)) for r in rows]

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
            account_id = await self._db.insert(
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
            )
        except DuplicateError:
            raise ValueError(f"An account named {name!r} already exists.") from None
        account = await self.get_account(guild_id, name)
        assert account is not None and account.id == account_id
        return account

    async def get_account(self, guild_id: int, name: str) -> Account | None:
        row = await self._db.fetchone(
            "SELECT * FROM accounts WHERE guild_id = ? AND name = ? AND removed_at IS NULL", (guild_id, name)
        )
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

    async def remove_account(self, account_id: int) -> None:
        """Take an account out for good; its jobs keep pointing at it (history), its name is freed."""
        await self._db.execute(
            "UPDATE accounts SET removed_at = ?, enabled = 0, secret = '', name = name || '~removed~' || id "
            "WHERE id = ?",
            (time.time(), account_id),
        )

    # ---------------------------------------------------------------------- guild config, audit

    async def guild_config(self, guild_id: int) -> GuildConfig:
        row = await self._db.fetchone("SELECT settings FROM guild_config WHERE guild_id = ?", (guild_id,))
        return GuildConfig.model_validate_json(row["settings"]) if row else GuildConfig()

    async def set_guild_config(self, guild_id: int, config: GuildConfig) -> None:
        await self._db.execute(
            """INSERT INTO guild_config (guild_id, settings) VALUES (?, ?)
               ON CONFLICT (guild_id) DO UPDATE SET settings = excluded.settings""",
            (guild_id, config.model_dump_json()),
        )

    async def audit(self, guild_id: int, user_id: int, action: str, detail: str) -> None:
        await self._db.execute(
            "INSERT INTO audit (guild_id, user_id, action, detail, at) VALUES (?, ?, ?, ?, ?)",
            (guild_id, user_id, action, detail, time.time()),
        )

    async def audit_log(self, guild_id: int, limit: int = 20) -> list[AuditEntry]:
        rows = await self._db.fetchall(
            "SELECT * FROM audit WHERE guild_id = ? ORDER BY at DESC, id DESC LIMIT ?", (guild_id, limit)
        )
        return [
            AuditEntry(
                guild_id=r["guild_id"],
                user_id=r["user_id"],
                action=r["action"],
                detail=r["detail"],
                at=r["at"],
            )
            for r in rows
        ]

    async def member_job_counts(self, guild_id: int, user_id: int, since: float) -> tuple[int, int]:
        """(jobs waiting or running, jobs started since ``since``) of one member."""
        row = await self._db.fetchone(
            f"""SELECT
                   SUM(CASE WHEN status NOT IN ({",".join("?" * len(_TERMINAL))}) THEN 1 ELSE 0 END),
                   SUM(CASE WHEN created_at >= ? THEN 1 ELSE 0 END)
                FROM jobs WHERE guild_id = ? AND owner_id = ?""",
            (*_TERMINAL, since, guild_id, user_id),
        )
        return (int(row[0] or 0), int(row[1] or 0)) if row else (0, 0)

    async def member_jobs(self, guild_id: int, user_id: int, *, limit: int, offset: int = 0) -> list[Job]:
        rows = await self._db.fetchall(
            """SELECT * FROM jobs WHERE guild_id = ? AND owner_id = ?
               ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?""",
            (guild_id, user_id, limit, offset),
        )
        return self._jobs(rows)

    async def set_account_quarantine(self, account_id: int, reason: str | None) -> None:
        await self._db.execute("UPDATE accounts SET quarantine_reason = ? WHERE id = ?", (reason, account_id))

    # ---------------------------------------------------------------------------- user prefs

    async def user_prefs(self, guild_id: int, user_id: int) -> UserPrefs:
        row = await self._db.fetchone(
            "SELECT prefs FROM user_prefs WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
        )
        return UserPrefs.model_validate_json(row["prefs"]) if row else UserPrefs()

    async def set_user_prefs(self, guild_id: int, user_id: int, prefs: UserPrefs) -> None:
        await self._db.execute(
            """INSERT INTO user_prefs (guild_id, user_id, prefs) VALUES (?, ?, ?)
               ON CONFLICT (guild_id, user_id) DO UPDATE SET prefs = excluded.prefs""",
            (guild_id, user_id, prefs.model_dump_json()),
        )

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
        async with self._db.transaction() as db:
            job_id = await db.insert(
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
            )
            if inputs:
                await db.executemany(
                    "INSERT INTO job_inputs (job_id, position, data) VALUES (?, ?, ?)",
                    [(job_id, i, data) for i, data in enumerate(inputs)],
                )
            if reply is not None:
                # The command that this job's reply acknowledged is done, in the same transaction.
                await db.execute("DELETE FROM acked_commands WHERE token = ?", (reply.token,))
        job = await self.get_job(job_id)
        assert job is not None
        return job

    # ----------------------------------------------------------------------------- acked commands
    async def record_command(self, command: AckedCommand) -> None:
        await self._db.execute(
            """INSERT INTO acked_commands (interaction_id, application_id, token, guild_id,
                   channel_id, user_id, command, payload, message_id, acked_at, expires)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
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

    async def acked_commands(self, before: float) -> list[AckedCommand]:
        """Commands acknowledged before ``before`` whose job was never stored (nor the command
        answered)."""
        rows = await self._db.fetchall(
            "SELECT * FROM acked_commands WHERE acked_at < ? ORDER BY interaction_id", (before,)
        )
        return [
            AckedCommand.model_validate({**dict(row), "payload": json.loads(row["payload"])}) for row in rows
        ]

    async def forget_command(self, interaction_id: int) -> None:
        await self._db.execute("DELETE FROM acked_commands WHERE interaction_id = ?", (interaction_id,))

    async def get_job(self, job_id: int) -> Job | None:
        kept = self._kept(job_id)
        if kept is not None:
            return kept
        writes = self._job_writes
        found = await self._db.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if found is None:
            return None
        row = self._with_progress(found)
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

    def _with_progress(self, row: Row) -> dict[str, Any]:
        """A job row read from the file, with the progress noted since (note_progress)."""
        found = dict(row)
        job_id = found["id"]
        found.update(self._saving.get(job_id, ()))
        found.update(self._unsaved.get(job_id, ()))
        return found

    def _jobs(self, rows: Iterable[Row]) -> list[Job]:
        return [_job(self._with_progress(r)) for r in rows]

    async def job_inputs(self, job_id: int) -> list[bytes]:
        rows = await self._db.fetchall(
            "SELECT data FROM job_inputs WHERE job_id = ? ORDER BY position", (job_id,)
        )
        return [bytes(r["data"]) for r in rows]

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
        async with self._db.transaction() as db:
            await db.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", (*columns.values(), job_id))
            if fields.get("status") in _TERMINAL or fields.get("backend_task_id"):
                # Inputs are only needed until the backend has them.
                await db.execute("DELETE FROM job_inputs WHERE job_id = ?", (job_id,))
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
        two round trips to the database (~0.3 ms of CPU on SQLite). A crash loses at most that much progress,
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
        finally:
            self._saving = {}

    async def mark_submitting(self, job_id: int, account_id: int | None) -> None:
        """Record (durably, before the backend call) that ``job_id`` is being submitted to
        ``account_id``; None clears it after a submit the backend refused."""
        await self._db.execute("UPDATE jobs SET submitting_account = ? WHERE id = ?", (account_id, job_id))

    async def interrupted_submits(self) -> list[int]:
        """Queued jobs whose submit was under way when the bot stopped: nobody knows whether the
        backend made a task for them."""
        rows = await self._db.fetchall(
            """SELECT id FROM jobs WHERE status = ? AND submitting_account IS NOT NULL
                   AND backend_task_id IS NULL ORDER BY id""",
            (JobStatus.QUEUED.value,),
        )
        return [int(r["id"]) for r in rows]

    async def unfinished_jobs(self) -> list[Job]:
        """Jobs still running or queued, and finished jobs whose result is not yet on Discord."""
        rows = await self._db.fetchall(
            f"""SELECT * FROM jobs WHERE status NOT IN ({",".join("?" * len(_TERMINAL))})
                   OR result_posted = 0 ORDER BY created_at, id""",
            _TERMINAL,
        )
        return self._jobs(rows)

    async def active_counts(self) -> dict[int, int]:
        """Jobs each account is running now (submitted and not finished)."""
        rows = await self._db.fetchall(
            f"""SELECT account_id, COUNT(*) AS n FROM jobs
                WHERE account_id IS NOT NULL AND backend_task_id IS NOT NULL
                  AND status NOT IN ({",".join("?" * len(_TERMINAL))})
                GROUP BY account_id""",
            _TERMINAL,
        )
        return {int(r["account_id"]): int(r["n"]) for r in rows}

    async def queued_count(self, guild_id: int) -> int:
        row = await self._db.fetchone(
            "SELECT COUNT(*) FROM jobs WHERE guild_id = ? AND status = ?", (guild_id, JobStatus.QUEUED.value)
        )
        return int(row[0]) if row else 0

    async def queued_total(self) -> int:
        """Queued jobs of every guild."""
        query = "SELECT COUNT(*) FROM jobs WHERE status = ?"
        row = await self._db.fetchone(query, (JobStatus.QUEUED.value,))
        return int(row[0]) if row else 0

    async def queued_jobs(self, guild_id: int) -> list[Job]:
        rows = await self._db.fetchall(
            "SELECT * FROM jobs WHERE guild_id = ? AND status = ? ORDER BY created_at, id",
            (guild_id, JobStatus.QUEUED.value),
        )
        return self._jobs(rows)

    async def job_of_task(self, account_id: int, task_id: str) -> int | None:
        """The id of the job that follows ``task_id`` on ``account_id``, if one does."""
        row = await self._db.fetchone(
            "SELECT id FROM jobs WHERE account_id = ? AND backend_task_id = ?", (account_id, task_id)
        )
        return None if row is None else int(row[0])

    async def jobs_by_ids(self, ids: Iterable[int]) -> list[Job]:
        id_list = list(ids)
        if not id_list:
            return []
        rows = await self._db.fetchall(
            f"SELECT * FROM jobs WHERE id IN ({','.join('?' * len(id_list))})", id_list
        )
        return self._jobs(rows)

    # ----------------------------------------------------------------- members' AIMG sessions

    async def link_member_account(
        self, *, guild_id: int, user_id: int, base_url: str, session_id: str, email: str
    ) -> Account:
        """Store a member's signed-in AIMG session as their own account (replacing an older one)."""
        name = f"aimg-member-{user_id}"
        options = json.dumps({"owner_id": str(user_id)})
        async with self._db.transaction() as db:
            await db.execute(
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
            await db.execute(
                """INSERT INTO aimg_member_sessions (guild_id, user_id, account_id, email, linked_at)
                   SELECT ?, ?, id, ?, ? FROM accounts WHERE guild_id = ? AND name = ?
                   ON CONFLICT (guild_id, user_id) DO UPDATE SET account_id = excluded.account_id,
                       email = excluded.email, linked_at = excluded.linked_at""",
                (guild_id, user_id, email, time.time(), guild_id, name),
            )
        account = await self.member_account(guild_id, user_id)
        assert account is not None
        return account

    async def member_account(self, guild_id: int, user_id: int) -> Account | None:
        """The member's linked AIMG account in this guild, if they linked one."""
        row = await self._db.fetchone(
            """SELECT accounts.* FROM aimg_member_sessions JOIN accounts ON accounts.id = account_id
               WHERE aimg_member_sessions.guild_id = ? AND user_id = ? AND removed_at IS NULL""",
            (guild_id, user_id),
        )
        return self._unsealed(_account(row)) if row else None

    # ------------------------------------------------------------------- members' AIMG votes

    async def aimg_vote(self, job_id: int, user_id: int) -> str | None:
        """The member's standing vote on a job's AIMG item: ``like``, ``dislike`` or None."""
        row = await self._db.fetchone(
            "SELECT vote FROM aimg_votes WHERE job_id = ? AND user_id = ?", (job_id, user_id)
        )
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

    # ------------------------------------------------------------------- mask editor links

    async def use_editor_link(self, nonce: str, expires: float) -> bool:
        """Record an editor link as used; False when it was used already."""
        await self._db.execute("DELETE FROM editor_links WHERE expires < ?", (time.time(),))
        added = await self._db.execute(
            "INSERT INTO editor_links (nonce, expires) VALUES (?, ?) ON CONFLICT DO NOTHING", (nonce, expires)
        )
        return added == 1

    async def editor_link_used(self, nonce: str) -> bool:
        row = await self._db.fetchone("SELECT 1 FROM editor_links WHERE nonce = ?", (nonce,))
        return row is not None

    async def release_editor_link(self, nonce: str) -> None:
        """Make a link usable again (its edit was refused before any job was made)."""
        await self._db.execute("DELETE FROM editor_links WHERE nonce = ?", (nonce,))


def _to_column(key: str, value: Any) -> Any:
    if key == "buttons":
        return json.dumps([b.model_dump(mode="json") for b in value])
    if key in ("ignored_words", "result_urls"):
        return json.dumps(list(value))
    if key == "result_posted":
        return int(bool(value))
    if hasattr(value, "value"):  # StrEnum
        return value.value
    return value


def _account(row: Row) -> Account:
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


def _job(row: Row | dict[str, Any]) -> Job:
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
        queue_length=row["queue_length"],
        ignored_words=json.loads(row["ignored_words"]),
        media_type=row["media_type"],
        preview_url=row["preview_url"],
        result_urls=json.loads(row["result_urls"]),
        reply=Reply(message_id=row["message_id"], token=row["reply_token"], expires=row["reply_expires"])
        if row["reply_token"] is not None and row["message_id"] is not None
        else None,
    )
