"""The one scheduler of the writes of job messages (``bot/discord_side/writer.py`` writes them).

The engine reports every job change here (:meth:`JobPublisher.job_changed`, never blocking). Only
the latest state of each job is kept, so a burst of progress updates becomes one edit, and an
update that would not change what the message shows is dropped.

The writes through the interaction's webhook (the message's first content and the final, while its
token lives) start at once, whatever else is queued. The writes through the channel spend the
bot's rate budgets (``bot/discord_side/budgets.py``). Progress edits are the elastic part: they
fill what the budget leaves, so a busy bot uses the budget fully without a 429. Budgeted writes go
in priority order: finals, first posts, progress edits, so an urgent write waits at most for the
next free slot; within a priority the waiting channels take turns, and a channel's own writes go
oldest change first. Progress edits are the only writes that may be dropped: under pressure they
wait, coalesce (only a job's latest state is kept), and are superseded by the final. Progress
edits of one job are also at least ``progress_edit_seconds`` apart. One message is written at a
time per job, so edits never overtake each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict

import discord

from bot.discord_side.budgets import (
    CHANNEL_WINDOW,
    CHANNEL_WRITES,
    GLOBAL_WINDOW,
    GLOBAL_WRITES,
    Bucket,
    Slot,
    Window,
)
from bot.discord_side.host import Host
from bot.discord_side.pass_timer import PassTimer
from bot.discord_side.write_queues import FINAL, POST, PROGRESS, WriteQueues
from bot.discord_side.writer import MessageWriter, reply_usable
from bot.domain import Job, JobStatus
from bot.logs import job_fields
from bot.shards import global_share

log = logging.getLogger(__name__)

#: The scheduler looks at its queues at most this often: a change after a quiet spell is served
#: at once, and the changes that come within ``TICK`` of a pass share the next one.
TICK = 0.02


class JobPublisher:
    def __init__(self, bot: Host, progress_edit_seconds: float) -> None:
        self._bot = bot
        self._writer = MessageWriter(bot)
        #: The latest unwritten state of each job.
        self._latest: dict[int, Job] = {}
        #: Jobs to (re)classify at the next pass: changed, or their write just ended. A pass
        #: classifies only these, not every waiting job.
        self._fresh: dict[int, None] = {}
        #: Budgeted writes waiting: a pass looks at each channel once, however many of its jobs
        #: wait.
        self._queues = WriteQueues(progress_edit_seconds)
        self._busy: set[int] = set()
        # Processes that run some of the shards each take their share (docs/scaling.md).
        shards = bot.settings.discord
        self._global = Window(
            global_share(GLOBAL_WRITES, shards.shard_ids, shards.shard_count), GLOBAL_WINDOW
        )
        self._channels: defaultdict[Bucket, Window] = defaultdict(
            lambda: Window(CHANNEL_WRITES, CHANNEL_WINDOW)
        )
        self._timer = PassTimer(self._pass, TICK)
        self._writes: set[asyncio.Task[None]] = set()

    def job_changed(self, job: Job) -> None:
        self._latest[job.id] = job
        # Re-inserting moves the job to the end: writes of a priority go oldest change first.
        self._fresh.pop(job.id, None)
        self._fresh[job.id] = None
        self._timer.soon()

    def start(self) -> None:
        self._timer.start()

    async def stop(self) -> None:
        self._timer.stop()
        for task in list(self._writes):
            task.cancel()
        await asyncio.gather(*self._writes, return_exceptions=True)

    async def flush(self, timeout: float) -> None:  # noqa: ASYNC109 (a shutdown budget)
        """Wait (at most ``timeout``) until no final waits to be written and no write is under way."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while self._writes or any(job.status.terminal for job in self._latest.values()):  # noqa: ASYNC110
                    await asyncio.sleep(0.05)

    def _pass(self) -> None:
        began = self._timer.begin()
        try:
            next_due = self._start_due_writes()
        except Exception:
            # A pass that failed must not stop the publisher: the next change or due write retries.
            log.exception("the publisher's pass failed")
            next_due = began + 1.0
        if next_due is not None:
            self._timer.at(next_due)

    def _start_due_writes(self) -> float | None:
        """Start every write through an interaction, and every budgeted write the budgets allow,
        most urgent first; return when to look again (None: when something changes or a write
        completes)."""
        now = time.monotonic()
        self._classify(now)
        next_due = self._queues.next_wake()

        def later(at: float | None) -> None:
            nonlocal next_due
            if at is not None:
                next_due = at if next_due is None else min(next_due, at)

        budget = self._global.free(now)
        for priority in (FINAL, POST, PROGRESS):
            for bucket in self._queues.buckets(priority):
                if budget <= 0:
                    # Out of global budget: the rest waits for the next free slot.
                    later(self._global.free_at(now))
                    return next_due
                channel = self._channels[bucket]
                free = channel.free(now)
                if free <= 0:
                    later(channel.free_at(now))
                    continue
                taken = self._queues.take(priority, bucket, min(free, budget))
                for job_id in taken:
                    self._start(self._latest[job_id], Slot(bucket, self._global, channel))
                budget -= len(taken)
        return next_due

    def _classify(self, now: float) -> None:
        """Start the writes that go through an interaction; put the budgeted ones in their queue,
        or to rest until their job's progress pacing allows them."""
        queues = self._queues
        queues.wake(now, self._fresh)
        wall = time.time()
        for job_id in self._fresh:
            queues.unqueue(job_id)
            job = self._latest.get(job_id)
            if job is None or job_id in self._busy:
                continue  # written already, or being written: its write's end brings it back
            priority = self._priority(job)
            if priority == PROGRESS and _may_look_unchanged(job) and self._writer.shows(job):
                # Nothing a member sees would change (queued → submitted): no write, so no budget
                # slot taken and no pacing restarted for it.
                del self._latest[job_id]
            elif priority != PROGRESS and reply_usable(job, wall):
                self._start(job)
            else:
                queues.place(job, priority, now)
        self._fresh.clear()

    def _start(self, job: Job, slot: Slot | None = None) -> None:
        """Write ``job``'s message: through its interaction when ``slot`` is None, else through
        the channel, in the budgets ``slot`` was taken from."""
        del self._latest[job.id]
        self._busy.add(job.id)
        task = asyncio.create_task(self._write(job, slot))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, job: Job, slot: Slot | None) -> None:
        written = True
        try:
            requeued = await self._writer.publish(job, slot)
            if requeued is not None:
                # Its write needs another budget than the slot's: queued again, for that one.
                self._latest[job.id] = requeued
                written = False
            elif (pending := self._latest.get(job.id)) is not None:
                # A state that came during this write was read before it ended: the message it
                # posted, or the reply it forgot, decides that state's route and budget.
                stored = await self._bot.engine.get(job.id)
                if stored is not None and self._latest.get(job.id) is pending:
                    self._latest[job.id] = stored
        except Exception:
            log.exception("job %s: could not update its Discord message", job.id, extra=job_fields(job))
        finally:
            if slot is not None:
                slot.release()
            self._busy.discard(job.id)
            if job.status.terminal:
                self._queues.forget(job.id)
            elif written:
                self._queues.edited(job.id, time.monotonic())
            # A newer state that came while this was written waits for this pass.
            self._fresh.setdefault(job.id)
            self._timer.soon()

    def _priority(self, job: Job) -> int:
        if job.status.terminal:
            return FINAL
        unfilled = job.reply is not None and not self._writer.filled(job.id)
        return POST if job.message_id is None or unfilled else PROGRESS

    async def edit_view(self, job: Job, view: discord.ui.View) -> None:
        """Change only the buttons of ``job``'s message (a pressed button turns blurple)."""
        await self._writer.edit_view(job, view)

    async def download_result(self, job: Job) -> bytes | None:
        """The job's result file, as its final uploads it (None: the final links to it)."""
        return await self._writer.download_result(job)


def _may_look_unchanged(job: Job) -> bool:
    """Whether a change that brought ``job`` here may have left its message as it was. Only a
    waiting job's can: the engine drops a running job's changes that move neither its progress
    nor its preview, so checking those (a rendering each) would be wasted."""
    return job.status is not JobStatus.IN_PROGRESS
