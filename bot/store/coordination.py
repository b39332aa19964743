"""What processes sharing one store coordinate through it (docs/scaling.md): account slots, leases,
and pushes handed to the process that owns a job's server. On SQLite (one process a file) the same
calls are this process's own affairs."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Literal, NamedTuple, cast

from bot.store.db import Lease, Queries
from bot.store.jobs import NOT_TERMINAL, TERMINAL, Jobs

log = logging.getLogger(__name__)

#: The claims that count: those of jobs not finished (or gone).
_COUNTED = f"""FROM account_claims c LEFT JOIN jobs j ON j.id = c.job_id
    WHERE (j.status IS NULL OR j.status {NOT_TERMINAL})"""
_CLAIMED = f"SELECT COUNT(*) {_COUNTED} AND c.account_id = ?"
#: The channel every process listens on (payloads: :class:`News`).
JOBS_CHANNEL = "mjbot_jobs"
#: The lease of the one process that runs the queues (LEASE_CHECK_SECONDS apart).
DISPATCHER = "dispatcher"

#: Called with (job id, its guild id) for each job with news (Coordination.listen_jobs).
OnJob = Callable[[int, int], None]


Kind = Literal["job", "queue", "ended", "assigned", "refused", "accounts"]
#: What each kind's payload carries after its word ("job": no word, for the payloads of old).
_FIELDS: dict[str, tuple[str, ...]] = {
    "job": ("job_id", "guild_id"),
    "queue": ("guild_id",),
    "ended": ("job_id", "guild_id"),
    "assigned": ("job_id", "guild_id", "account_id"),
    "refused": ("job_id", "guild_id", "account_id"),
    "accounts": (),
}


class News(NamedTuple):
    """A notification on :data:`JOBS_CHANNEL` (docs/scaling.md), by its payload: "job_id
    guild_id", a job with news (a push kept for its owner); "queue guild_id", the guild's queue
    changed, and "ended job_id guild_id", a job ended (for the dispatcher); "assigned job_id
    guild_id account_id", the dispatcher assigned the job to the account (for the guild's owner to
    submit); "refused …", the owner could not take that account (for the dispatcher); "accounts",
    accounts changed (every process reads them again)."""

    kind: Kind
    guild_id: int = 0
    job_id: int = 0
    account_id: int = 0

    @property
    def payload(self) -> str:
        values = [str(getattr(self, field)) for field in _FIELDS[self.kind]]
        return " ".join(values if self.kind == "job" else [self.kind, *values])

    @classmethod
    def parse(cls, payload: str) -> News | None:
        words = payload.split()
        kind = words[0] if words and words[0] in _FIELDS and words[0] != "job" else "job"
        values = words if kind == "job" else words[1:]
        fields = _FIELDS[kind]
        try:
            numbers = [int(value) for value in values]
        except ValueError:
            numbers = []
        if len(numbers) != len(fields):
            log.warning("Ignored a notification that is not one of the jobs channel's: %r", payload[:100])
            return None
        return cls(cast(Kind, kind), **dict(zip(fields, numbers, strict=True)))


#: Called with every notification (Coordination.listen_dispatch).
OnNews = Callable[[News], None]


class Coordination(Jobs):
    """The coordination calls of :class:`bot.store.Store`; a job row another process changed is
    dropped from the ones :class:`Jobs` keeps."""

    # ----------------------------------------------------------------- account capacity

    async def claim_slot(self, account_id: int, max_jobs: int, job_id: int) -> bool:
        """Claim one of the account's ``max_jobs`` slots for the job; False when all are taken.
        Claims are counted under a lock on the account's row, so processes claiming at once never
        exceed ``max_jobs``. A job holds at most one claim (claiming again is True at once); a
        claim whose job has finished counts no more; an unknown account has no slot."""
        async with self._db.transaction() as q:
            if not await q.fetchall(
                f"SELECT id FROM accounts WHERE id = ?{self._db.FOR_UPDATE}", (account_id,)
            ):
                return False
            held = await q.fetchone("SELECT account_id FROM account_claims WHERE job_id = ?", (job_id,))
            if held is not None and held[0] == account_id:
                return True
            await q.execute("DELETE FROM account_claims WHERE job_id = ?", (job_id,))
            if await self._claimed(q, account_id) >= max_jobs:
                return False
            await q.execute(
                "INSERT INTO account_claims (job_id, account_id, claimed_at) VALUES (?, ?, ?)",
                (job_id, account_id, time.time()),
            )
            return True

    async def release_slot(self, job_id: int) -> None:
        """Give back the job's slot (none held: nothing happens)."""
        await self._db.execute("DELETE FROM account_claims WHERE job_id = ?", (job_id,))

    async def claimed_slots(self, account_id: int) -> int:
        """The account's slots held by jobs not finished."""
        return await self._claimed(self._db, account_id)

    async def slot_claims(self) -> dict[int, tuple[int, bool]]:
        """Every slot that counts (as :meth:`claim_slot` counts them): job id to the account, and
        whether the job runs (has its task; ``active_counts`` counts those) or is being submitted."""
        rows = await self._db.fetchall(
            f"SELECT c.job_id, c.account_id, j.backend_task_id IS NOT NULL {_COUNTED}",
            TERMINAL,
        )
        return {int(r[0]): (int(r[1]), bool(r[2])) for r in rows}

    @staticmethod
    async def _claimed(q: Queries, account_id: int) -> int:
        row = await q.fetchone(_CLAIMED, (*TERMINAL, account_id))
        return int(row[0]) if row else 0

    # ----------------------------------------------------------------------------- leases

    def dispatcher_lease(self) -> Lease:
        """The lease of the one process that runs the queues (docs/scaling.md)."""
        return self._db.lease(DISPATCHER)

    # ----------------------------------------------------------------- pushes and news

    async def notify_job(self, job_id: int, guild_id: int) -> None:
        """Tell every process listening (this one too) that the job has news."""
        await self.notify(News("job", guild_id, job_id))

    async def notify(self, news: News) -> None:
        """Tell every process listening (this one too)."""
        await self._db.notify(JOBS_CHANNEL, news.payload)

    async def listen_jobs(self, on_job: OnJob, on_gap: Callable[[], None]) -> None:
        """Call ``on_job(job_id, guild_id)`` for each job notified from now on, after dropping what
        this process keeps of its row; ``on_gap()`` when notifications may have been missed
        (re-read what is pending then: :meth:`relayed_jobs`)."""

        def on_payload(payload: str) -> None:
            news = News.parse(payload)
            if news is not None and news.kind == "job":
                self._job_rows.pop(news.job_id, None)
                on_job(news.job_id, news.guild_id)

        await self._db.listen(JOBS_CHANNEL, on_payload, on_gap)

    async def listen_dispatch(self, on_news: OnNews, on_gap: Callable[[], None]) -> None:
        """Call ``on_news`` with every notification from now on (the dispatcher's side of them,
        ``bot/jobs/leader.py``); ``on_gap()`` when some may have been missed."""

        def on_payload(payload: str) -> None:
            news = News.parse(payload)
            if news is not None:
                on_news(news)

        await self._db.listen(JOBS_CHANNEL, on_payload, on_gap)

    async def relay_push(self, job_id: int, guild_id: int, body: object) -> None:
        """Keep a backend push for the process that owns the job's server, and tell it."""
        await self._db.insert(
            "INSERT INTO relayed_pushes (job_id, body, received_at) VALUES (?, ?, ?)",
            (job_id, json.dumps(body), time.time()),
        )
        await self.notify_job(job_id, guild_id)

    async def take_relayed_pushes(self, job_id: int) -> list[object]:
        """The pushes kept for the job, oldest first, removed: each is taken by one caller only."""
        async with self._db.transaction() as q:
            rows = await q.fetchall(
                "DELETE FROM relayed_pushes WHERE job_id = ? RETURNING id, body", (job_id,)
            )
        return [json.loads(body) for _, body in sorted((r[0], r[1]) for r in rows)]

    async def relayed_jobs(self) -> list[tuple[int, int]]:
        """(job id, guild id) of every job with pushes kept, for an owner starting or back from a gap."""
        rows = await self._db.fetchall(
            """SELECT DISTINCT p.job_id, j.guild_id FROM relayed_pushes p JOIN jobs j ON j.id = p.job_id
               ORDER BY p.job_id"""
        )
        return [(int(r[0]), int(r[1])) for r in rows]
