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

from bot.domain import ErrorKind, Job, JobKind, JobStatus, Reply, ResultButton
from bot.store.db import Database, Row

#: The statuses a job ends in.
TERMINAL = tuple(s.value for s in JobStatus if s.terminal)
#: SQL: ``status NOT_TERMINAL`` holds for a job not finished (its arguments: TERMINAL).
NOT_TERMINAL = f"NOT IN ({','.join('?' * len(TERMINAL))})"

log = logging.getLogger(__name__)

#: Job rows kept in memory (see Jobs.get_job).
JOB_ROWS_KEPT = 4096
#: The columns that only show a running job's progress (see Jobs.note_progress).
_PROGRESS_COLUMNS = ("status", "progress", "image_url", "queue_position", "queue_length", "updated_at")
_PROGRESS_FIELDS = frozenset(_PROGRESS_COLUMNS)
#: At most this many seconds pass before noted progress is written (see Jobs.note_progress).
PROGRESS_WRITE_SECONDS = 1.0

#: Columns a caller may change with :meth:`Jobs.update_job`.
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
            if fields.get("status") in TERMINAL or fields.get("backend_task_id"):
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
