"""The fair per-server queue: which queued job goes to which account, when. Members take turns,
an account takes no more than its capacity (running jobs in the store plus the slots claimed for
submits under way, and a slot claimed in the store across processes: docs/scaling.md), and
accounts that said "full" or keep failing rest for a while."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from bot.domain import MEMBER_SOURCE, ErrorKind, Job, JobStatus
from bot.jobs.accounts import AccountPool
from bot.jobs.rules import Rules, job_kinds, needs
from bot.jobs.tracking import JobObserver, Tracker
from bot.store import Store

#: (account, model) and how many of that model the account may run at once (AIMG's limits).
ModelSlot = tuple[tuple[int, str], int]
#: How soon a guild whose job found its account's slots taken (by another process) tries again,
#: should no notification of a freed slot come first.
CLAIM_RETRY_SECONDS = 2.0


class Cooldowns:
    """Accounts that count as full until a moment (a "queue full" answer, or a rest after
    failures), with why a resting one is out of rotation, for admins."""

    def __init__(self) -> None:
        self._until: dict[int, float] = {}
        self._resting: dict[int, str] = {}

    def cool(self, account_id: int, seconds: float, resting: str | None = None) -> None:
        self._until[account_id] = time.monotonic() + seconds
        if resting is not None:
            self._resting[account_id] = resting

    def until(self, account_id: int) -> float:
        """Until when (monotonic) the account counts as full; 0 when it does not."""
        return self._until.get(account_id, 0.0)

    def resting(self, account_id: int) -> str | None:
        """Why the account rests, while it does."""
        return self._resting.get(account_id) if self.until(account_id) > time.monotonic() else None

    def active(self) -> list[int]:
        """The accounts that count as full now (forgetting those whose time is over)."""
        now = time.monotonic()
        for account_id, until in list(self._until.items()):
            if until <= now:
                del self._until[account_id]
                self._resting.pop(account_id, None)
        return list(self._until)


class Dispatcher:
    """Dispatch passes per guild, the slots claimed by submits under way, and queue positions.

    ``start`` submits a job to the account whose slot was claimed for it; it must end with
    :meth:`release`. ``model_slot`` and ``model_load`` are AIMG's per-model limits. ``owns``: whether
    this process runs the guild's queue (its shard, docs/scaling.md)."""

    def __init__(
        self,
        store: Store,
        accounts: AccountPool,
        observer: JobObserver,
        rules: Rules,
        tracker: Tracker,
        *,
        start: Callable[[Job, int], Awaitable[None]],
        model_slot: Callable[[Job, int], Awaitable[ModelSlot | None]],
        model_load: Callable[[], Awaitable[Counter[tuple[int, str]]]],
        owns: Callable[[int], bool] = lambda guild_id: True,
    ) -> None:
        self._store = store
        self._accounts = accounts
        self._observer = observer
        self._rules = rules
        self._tracker = tracker
        self._start = start
        self._model_slot = model_slot
        self._model_load = model_load
        self._owns = owns
        self.cooldowns = Cooldowns()
        self._guild_locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        #: Submits under way, per account: they hold capacity before the store shows a task id.
        self._submitting: Counter[int] = Counter()
        #: Jobs being submitted now, with the account each goes to.
        self.submitting_jobs: dict[int, int] = {}
        #: Guilds with a dispatch pass requested but not started yet.
        self._wanted: set[int] = set()
        #: Guilds with a pass coming after a claim the store refused (CLAIM_RETRY_SECONDS).
        self._retrying: set[int] = set()
        #: Place in the guild's queue of each waiting job (1 = next), and the job's guild.
        self._positions: dict[int, int] = {}
        self._position_guild: dict[int, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        #: Shutting down: queued jobs stay queued for the next start (see :meth:`drain`).
        self._draining = False

    # ---------------------------------------------------------------- the claim seam

    async def claim(self, job_id: int, account_id: int) -> bool:
        """Hold one of ``account_id``'s slots for ``job_id``'s submit until :meth:`release`: False
        when the store says every slot is taken (by this process or another). The store's claim
        lasts until the job ends (or stays queued after its submit, :meth:`_start_claimed`)."""
        account = self._accounts.get(account_id)
        capacity_id = self._accounts.capacity_id(account_id) if account is not None else account_id
        if account is None or not await self._store.claim_slot(capacity_id, account.max_jobs, job_id):
            return False
        self._submitting[account_id] += 1
        self.submitting_jobs[job_id] = account_id
        return True

    def release(self, job_id: int) -> None:
        """Give back the slot claimed for ``job_id`` (its submit was answered, either way)."""
        account_id = self.submitting_jobs.pop(job_id, None)
        if account_id is not None:
            self._submitting[account_id] -= 1

    # ---------------------------------------------------------------------- passes

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def wake(self, guild_id: int) -> None:
        """Ask for a dispatch pass of the guild (something changed: a job, an account)."""
        self.spawn(self.dispatch(guild_id))

    def wake_waiting(self) -> None:
        """A slot may have been freed elsewhere (another process's job ended): a pass for every
        guild with jobs waiting here."""
        for guild_id in set(self._position_guild.values()):
            self.wake(guild_id)

    def job_ended(self, job: Job) -> None:
        """Capacity was freed: start what waits here, and tell the other processes when the
        account's slots are shared (their queues may wait for it)."""
        self.wake(job.guild_id)
        account = self._accounts.get(job.account_id) if job.account_id is not None else None
        shared = account is not None and account.source == "config"
        if shared:
            self.wake_waiting()  # this process's other servers naming the same service account
        self.spawn(self._free_slot(job, notify=shared))

    async def _free_slot(self, job: Job, *, notify: bool) -> None:
        # An ended job's claim counts no more; deleting it keeps the claims counted few.
        await self._store.release_slot(job.id)
        if notify:
            await self._store.notify_job(job.id, job.guild_id)

    def _retry_later(self, guild_id: int) -> None:
        if guild_id not in self._retrying:
            self._retrying.add(guild_id)
            self.spawn(self._retry(guild_id))

    async def _retry(self, guild_id: int) -> None:
        await asyncio.sleep(CLAIM_RETRY_SECONDS)
        self._retrying.discard(guild_id)
        await self.dispatch(guild_id)

    def wake_later(self, guild_id: int, delay: float) -> None:
        self.spawn(self._dispatch_later(guild_id, delay))

    async def _dispatch_later(self, guild_id: int, delay: float) -> None:
        await asyncio.sleep(delay)
        await self.dispatch(guild_id)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def drain(self, timeout: float) -> None:  # noqa: ASYNC109 (a shutdown budget)
        """Start no more submits; wait (at most ``timeout``) for those under way to be answered,
        so none is cut off between the backend's answer and the store."""
        self._draining = True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while self.submitting_jobs:  # noqa: ASYNC110 (no event per finished submit)
                    await asyncio.sleep(0.05)

    async def dispatch(self, guild_id: int) -> None:
        """Run a dispatch pass for the guild, coalescing requests: many changes at once (a burst of
        commands, finished jobs) ask for a pass each, but one pass that starts after the last
        request sees them all, so at most one more waits behind the running one."""
        if self._draining or not self._owns(guild_id):
            return  # shutting down (queued jobs wait for the next start), or another process's
        if guild_id in self._wanted:
            return  # a pass that has not started yet will see this change too
        self._wanted.add(guild_id)
        async with self._guild_locks[guild_id]:
            self._wanted.discard(guild_id)
            await self._dispatch_pass(guild_id)

    async def _busy(self) -> Counter[int]:
        busy = Counter(await self._store.active_counts())
        busy.update(self._submitting)
        for account_id in self.cooldowns.active():
            account = self._accounts.get(account_id)
            if account is not None:
                busy[account_id] = max(busy[account_id], account.max_jobs)  # full until then
        return busy

    async def _dispatch_pass(self, guild_id: int) -> None:
        """Start as many of the guild's queued jobs as accounts have room for, taking members in
        turn (one member's 20 jobs do not block everyone), and tell the rest their position."""
        busy = await self._busy()
        config = await self._store.guild_config(guild_id)
        waiting: list[Job] = []
        model_load: Counter[tuple[int, str]] | None = None
        for job in fair_order(await self._store.queued_jobs(guild_id)):
            if job.id in self.submitting_jobs:
                continue
            if time.time() > job.deadline:
                kind = job.error_kind or ErrorKind.TIMEOUT
                await self._tracker.finish_failed(
                    job, kind, job.error_detail or "It waited too long for a free account."
                )
                continue
            kinds = job_kinds(job.kind, job.channel_id, config)
            if not self._rules.can_ever_run(job, kinds):
                await self._tracker.finish_failed(
                    job,
                    ErrorKind.UNAVAILABLE,
                    "No image service account of this server can take jobs right now.",
                )
                continue
            if job.account_id is not None:
                if not self._accounts.has_capacity(job.account_id, busy):
                    waiting.append(job)
                    continue
                account_id = job.account_id
            else:
                account = self._accounts.choose(guild_id, job.channel_id, busy, kinds, needs(job.kind))
                if account is None:
                    waiting.append(job)
                    continue
                account_id = account.id
            slot = await self._model_slot(job, account_id)
            if slot is not None:
                # AIMG: the job waits here while its model is at the account's limit.
                key, limit = slot
                model_load = await self._model_load() if model_load is None else model_load
                if model_load[key] >= limit:
                    waiting.append(job)
                    continue
                model_load[key] += 1
            if not await self.claim(job.id, account_id):
                # Its slots are taken in the store: by another process sharing the account.
                busy[account_id] = max(busy[account_id], self._max_jobs(account_id))
                waiting.append(job)
                self._retry_later(guild_id)
                continue
            busy[account_id] += 1
            self.spawn(self._start_claimed(job, account_id))
        self._show_positions(guild_id, waiting)

    def _max_jobs(self, account_id: int) -> int:
        account = self._accounts.get(account_id)
        return account.max_jobs if account is not None else 0

    async def _start_claimed(self, job: Job, account_id: int) -> None:
        try:
            await self._start(job, account_id)
        finally:
            self.release(job.id)
        current = await self._store.get_job(job.id)
        if current is None or current.status is JobStatus.QUEUED:
            await self._store.release_slot(job.id)  # not sent (refused, or full): it queues again

    def _show_positions(self, guild_id: int, waiting: list[Job]) -> None:
        """Remember each waiting job's place in the queue; re-show the jobs whose place changed."""
        positions = {job.id: n for n, job in enumerate(waiting, start=1)}
        for job in waiting:
            if self._positions.get(job.id) != positions[job.id] and not job.status.terminal:
                self._positions[job.id] = positions[job.id]
                self._observer.job_changed(job.model_copy(update={"queue_position": positions[job.id]}))
        for job_id in [j for j, g in self._position_guild.items() if g == guild_id and j not in positions]:
            self._positions.pop(job_id, None)
            del self._position_guild[job_id]
        self._position_guild.update(dict.fromkeys(positions, guild_id))

    def position(self, job_id: int) -> int | None:
        """``job_id``'s place in its guild's queue (1 = next) while it waits there."""
        return self._positions.get(job_id)

    # ---------------------------------------------------------------------- load

    async def load(self) -> tuple[int, int, list[tuple[int, str, str, int, int]]]:
        """Jobs running and queued, and per shared account (guild id, name, service, jobs in
        use, capacity): the scrape-time gauges of ``/metrics``."""
        running = await self._store.active_counts()
        busy = Counter(running)
        busy.update(self._submitting)
        accounts = [
            (a.guild_id, a.name, a.kind.value, busy.get(a.id, 0), a.max_jobs)
            for a in self._accounts.all()
            if a.source != MEMBER_SOURCE
        ]
        return sum(running.values()), await self._store.queued_total(), accounts

    def unhealthy_guilds(self) -> list[int]:
        """Servers with shared accounts none of which is in rotation (enabled, not held, not resting)."""
        now = time.monotonic()
        healthy: dict[int, bool] = {}
        for a in self._accounts.all():
            if a.source == MEMBER_SOURCE:
                continue
            ok = self._accounts.usable(a.id) and self.cooldowns.until(a.id) <= now
            healthy[a.guild_id] = healthy.get(a.guild_id, False) or ok
        return sorted(guild for guild, ok in healthy.items() if not ok)


def fair_order(jobs: list[Job]) -> list[Job]:
    """Queued jobs taken one per member in turn, each member's in the order they were made."""
    by_owner: dict[int, list[Job]] = {}
    for job in jobs:
        by_owner.setdefault(job.owner_id, []).append(job)
    queues = list(by_owner.values())
    ordered: list[Job] = []
    for rank in range(max((len(q) for q in queues), default=0)):
        ordered.extend(q[rank] for q in queues if rank < len(q))
    return ordered
