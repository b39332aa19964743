"""Questions about many jobs at once: what is queued, running or unfinished, and a member's jobs."""

from __future__ import annotations

from collections.abc import Iterable

from bot.domain import Job, JobStatus
from bot.store.jobs import NOT_TERMINAL, TERMINAL, Jobs


class JobQueries(Jobs):
    """The job lists and counts of :class:`bot.store.Store`; the jobs carry their noted progress."""

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
            f"""SELECT * FROM jobs WHERE status {NOT_TERMINAL}
                   OR result_posted = 0 ORDER BY created_at, id""",
            TERMINAL,
        )
        return self._jobs(rows)

    async def active_counts(self) -> dict[int, int]:
        """Jobs each account is running now (submitted and not finished)."""
        rows = await self._db.fetchall(
            f"""SELECT account_id, COUNT(*) AS n FROM jobs
                WHERE account_id IS NOT NULL AND backend_task_id IS NOT NULL
                  AND status {NOT_TERMINAL}
                GROUP BY account_id""",
            TERMINAL,
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

    async def queued_guilds(self) -> list[int]:
        """The guilds with jobs queued."""
        query = "SELECT DISTINCT guild_id FROM jobs WHERE status = ?"
        return [int(r[0]) for r in await self._db.fetchall(query, (JobStatus.QUEUED.value,))]

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

    async def member_job_counts(self, guild_id: int, user_id: int, since: float) -> tuple[int, int]:
        """(jobs waiting or running, jobs started since ``since``) of one member."""
        row = await self._db.fetchone(
            f"""SELECT
                   SUM(CASE WHEN status {NOT_TERMINAL} THEN 1 ELSE 0 END),
                   SUM(CASE WHEN created_at >= ? THEN 1 ELSE 0 END)
                FROM jobs WHERE guild_id = ? AND owner_id = ?""",
            (*TERMINAL, since, guild_id, user_id),
        )
        return (int(row[0] or 0), int(row[1] or 0)) if row else (0, 0)

    async def member_jobs(self, guild_id: int, user_id: int, *, limit: int, offset: int = 0) -> list[Job]:
        rows = await self._db.fetchall(
            """SELECT * FROM jobs WHERE guild_id = ? AND owner_id = ?
               ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?""",
            (guild_id, user_id, limit, offset),
        )
        return self._jobs(rows)
