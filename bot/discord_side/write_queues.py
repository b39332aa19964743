"""The publisher's budgeted writes waiting to be chosen (``bot/discord_side/publisher.py``): per
priority, per channel budget, the jobs that wait for it, oldest change first; and the progress
edits resting until their job's own pacing allows them."""

from __future__ import annotations

import heapq

from bot.discord_side.budgets import Bucket
from bot.discord_side.budgets import bucket as budget_of
from bot.domain import Job

#: Write priorities, most urgent first.
FINAL, POST, PROGRESS = 0, 1, 2


class WriteQueues:
    def __init__(self, progress_edit_seconds: float) -> None:
        self._interval = progress_edit_seconds
        #: Per priority: per channel budget, the jobs that wait for it, oldest change first. A
        #: channel served goes behind the others (``take``), so channels take turns.
        self._waiting: tuple[dict[Bucket, dict[int, None]], ...] = ({}, {}, {})
        #: Where each waiting job is in ``_waiting``: (priority, bucket).
        self._queued: dict[int, tuple[int, Bucket]] = {}
        #: Progress edits waiting for their job's own pacing: (when due, job id), a heap.
        self._resting: list[tuple[float, int]] = []
        #: When each job's last progress edit was written (time.monotonic()).
        self._last_edit: dict[int, float] = {}

    def place(self, job: Job, priority: int, now: float) -> None:
        """Queue ``job``'s write for its channel budget, or, for a progress edit that comes less
        than ``progress_edit_seconds`` after its job's last, rest it until then."""
        if priority == PROGRESS and (own := self._last_edit.get(job.id, 0.0) + self._interval) > now:
            heapq.heappush(self._resting, (own, job.id))
        else:
            bucket = budget_of(job)
            self._waiting[priority].setdefault(bucket, {})[job.id] = None
            self._queued[job.id] = (priority, bucket)

    def unqueue(self, job_id: int) -> None:
        """Take ``job_id`` out of the queue it waits in, if any (a resting job stays resting)."""
        where = self._queued.pop(job_id, None)
        if where is None:
            return
        priority, bucket = where
        jobs = self._waiting[priority][bucket]
        del jobs[job_id]
        if not jobs:
            del self._waiting[priority][bucket]

    def buckets(self, priority: int) -> list[Bucket]:
        """The channel budgets ``priority``'s writes wait for, in turn order."""
        return list(self._waiting[priority])

    def take(self, priority: int, bucket: Bucket, count: int) -> list[int]:
        """Take at most ``count`` of the oldest jobs waiting for ``bucket`` at ``priority``; the
        channel goes behind the others if some of its jobs still wait."""
        queue = self._waiting[priority]
        jobs = queue.pop(bucket)
        taken: list[int] = []
        while jobs and count > 0:
            job_id = next(iter(jobs))
            del jobs[job_id], self._queued[job_id]
            taken.append(job_id)
            count -= 1
        if jobs:
            queue[bucket] = jobs
        return taken

    def wake(self, now: float, into: dict[int, None]) -> None:
        """Move the resting jobs due by ``now`` into ``into`` (the jobs to classify again)."""
        resting = self._resting
        while resting and resting[0][0] <= now:
            into.setdefault(heapq.heappop(resting)[1])

    def next_wake(self) -> float | None:
        """When the first resting job is due (None: none rests)."""
        return self._resting[0][0] if self._resting else None

    def edited(self, job_id: int, at: float) -> None:
        """``job_id``'s message was written at ``at``: its next progress edit rests until
        ``progress_edit_seconds`` later."""
        self._last_edit[job_id] = at

    def forget(self, job_id: int) -> None:
        """``job_id`` is done: no pacing to keep for it."""
        self._last_edit.pop(job_id, None)
