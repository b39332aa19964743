"""The fair per-server queue: which queued job goes to which account, when. Members take turns,
servers take turns for the accounts they share, an account takes no more than its capacity (the
slots claimed in the store across processes, running jobs, jobs assigned to another process),
and accounts that said "full" or keep failing rest for a while. With several processes, one of
them, the leader (``bot/jobs/leader.py``), assigns every server's jobs; a server's owner
submits them and shows their places (docs/scaling.md)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from typing import Any

from bot.domain import MEMBER_SOURCE, BackendKind, ErrorKind, Job, JobStatus
from bot.jobs.accounts import AccountPool
from bot.jobs.rules import Rules, job_kinds, needs
from bot.jobs.tracking import JobObserver, Tracker
from bot.store import Store
from bot.store.coordination import News

#: (account, model) and how many of that model the account may run at once (AIMG's limits).
ModelSlot = tuple[tuple[int, str], int]
#: How soon a guild whose job found its account's slots taken (by another process) tries again,
#: should no notification of a freed slot come first.
CLAIM_RETRY_SECONDS = 2.0
#: How long a job the leader assigned to another process's server counts on its account, waiting
#: for that owner's claim; unclaimed by then (the owner died, or the slot was taken), the leader
#: assigns it again.
ASSIGNED_SECONDS = 5.0


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


class Load(Mapping[int, int]):
    """Jobs on each account's slots, which accounts naming one service account share
    (:meth:`AccountPool.capacity_id`): a job on one counts on all of them."""

    def __init__(self, accounts: AccountPool) -> None:
        self._accounts = accounts
        self._by_capacity: Counter[int] = Counter()

    def add(self, account_id: int, jobs: int = 1) -> None:
        if self._accounts.get(account_id) is not None:
            self._by_capacity[self._accounts.capacity_id(account_id)] += jobs

    def at_least(self, account_id: int, jobs: int) -> None:
        if self._accounts.get(account_id) is not None:
            self.add(account_id, max(0, jobs - self[account_id]))

    def __getitem__(self, account_id: int) -> int:
        if self._accounts.get(account_id) is None:
            raise KeyError(account_id)
        return self._by_capacity[self._accounts.capacity_id(account_id)]

    def __iter__(self) -> Iterator[int]:
        return (a.id for a in self._accounts.all())

    def __len__(self) -> int:
        return len(self._accounts.all())


class Dispatcher:
    """Dispatch passes per guild, the slots claimed by submits under way, and queue positions.

    ``start`` submits a job to the account whose slot was claimed for it; it must end with
    :meth:`release`. ``model_slot`` and ``model_load`` are AIMG's per-model limits. ``owns``: whether
    this process runs the guild's jobs (its shard, docs/scaling.md). ``leading``: whether this
    process assigns queued jobs to accounts (the leader's lease, ``bot/jobs/leader.py``)."""

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
        self.leading = True
        #: The leader's: jobs of other processes' guilds assigned to an account, until when.
        self._assigned: dict[int, tuple[int, float]] = {}
        #: The leader's turn order between guilds: when each last had a job assigned.
        self._last_start: dict[int, float] = {}
        #: A round of every guild with jobs queued is requested but not started yet.
        self._round_wanted = False
        self._round_lock = asyncio.Lock()
        #: The leader's passes run one at a time: each counts the load the one before assigned.
        self._assigning = asyncio.Lock()
        #: Guilds whose queue news is not yet sent to the leader.
        self._telling: set[int] = set()

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
        """Ask for a dispatch pass of the guild (something changed: a job, an account); the
        leader is told when it is another process."""
        self.spawn(self.dispatch(guild_id))
        if not self.leading and self._owns(guild_id) and guild_id not in self._telling:
            self._telling.add(guild_id)
            self.spawn(self._tell_leader(guild_id))

    async def _tell_leader(self, guild_id: int) -> None:
        self._telling.discard(guild_id)  # from now on a change needs news of its own
        await self._store.notify(News("queue", guild_id))

    def wake_waiting(self) -> None:
        """Capacity may have been freed (a job ended, here or elsewhere): the leader runs a pass
        of every guild with jobs queued, the one whose last job started longest ago first."""
        if self.leading and not self._round_wanted:
            self._round_wanted = True
            self.spawn(self._round())

    async def _round(self) -> None:
        async with self._round_lock:
            self._round_wanted = False
            guilds = await self._store.queued_guilds()
            for guild_id in sorted(guilds, key=lambda g: self._last_start.get(g, 0.0)):
                await self.dispatch(guild_id)

    def job_ended(self, job: Job) -> None:
        """Capacity was freed: the leader gives the guilds waiting turns; another process shows
        its guild's queue again and tells the leader."""
        if not self.leading:
            self.spawn(self.dispatch(job.guild_id))
        self.spawn(self._free_slot(job))

    async def _free_slot(self, job: Job) -> None:
        # An ended job's claim counts no more; deleting it keeps the claims counted few.
        await self._store.release_slot(job.id)
        if self.leading:
            self.wake_waiting()
        else:
            await self._store.notify(News("ended", job.guild_id, job.id))

    def lead(self, leading: bool) -> None:
        """This process holds the dispatcher lease from now on, or not (``bot/jobs/leader.py``):
        a new leader runs a pass of every guild with jobs queued."""
        was, self.leading = self.leading, leading
        if leading and not was:
            self.wake_waiting()
        elif not leading:
            self._assigned.clear()

    def assigned(self, job_id: int, guild_id: int, account_id: int) -> None:
        """The leader assigned a job of this process's guild to the account: claim its slot and
        submit it. The leader is told when this process cannot (the slot taken meanwhile, the
        account resting or out of rotation here, or not in this process's config file)."""
        if self._owns(guild_id) and not self._draining and job_id not in self.submitting_jobs:
            self.spawn(self._take_assigned(job_id, guild_id, account_id))

    async def _take_assigned(self, job_id: int, guild_id: int, account_id: int) -> None:
        async with self._guild_locks[guild_id]:
            job = await self._store.get_job(job_id)
            if job is None or job.status is not JobStatus.QUEUED or job_id in self.submitting_jobs:
                return
            usable = self._accounts.usable(account_id) and account_id not in self.cooldowns.active()
            if not (usable and await self.claim(job_id, account_id)):
                await self._store.notify(News("refused", guild_id, job_id, account_id))
                return
            self.spawn(self._start_claimed(job, account_id))
        await self.dispatch(guild_id)  # its place is taken: the others move up

    def refused(self, job_id: int, guild_id: int, account_id: int) -> None:
        """The owner could not take the job on the account: it counts as full here for a while,
        and the guild's queue is run again now (another account may take the job) and once the
        account counts again (nothing else may come to wake it)."""
        if self._assigned.pop(job_id, None) is not None:
            self.cooldowns.cool(account_id, CLAIM_RETRY_SECONDS)
            self.wake(guild_id)
            self.spawn(self._round_after(CLAIM_RETRY_SECONDS))  # when the account counts again

    async def _round_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self.wake_waiting()

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
        if self._draining or not (self.leading or self._owns(guild_id)):
            return  # shutting down (queued jobs wait for the next start), or another process's
        if guild_id in self._wanted:
            return  # a pass that has not started yet will see this change too
        self._wanted.add(guild_id)
        async with self._guild_locks[guild_id]:
            self._wanted.discard(guild_id)
            if self.leading:
                async with self._assigning:
                    await self._dispatch_pass(guild_id)
            else:
                await self._dispatch_pass(guild_id)

    async def _busy(self) -> tuple[Load, set[int]]:
        """Jobs on each account's slots, and the jobs holding one (being submitted, running)."""
        busy = Load(self._accounts)
        for account_id, jobs in (await self._store.active_counts()).items():
            busy.add(account_id, jobs)
        claims = await self._store.slot_claims()
        for account_id, running in claims.values():
            if not running:
                busy.add(account_id)
        now = time.monotonic()
        for job_id, (account_id, until) in list(self._assigned.items()):
            if until <= now or job_id in claims:
                del self._assigned[job_id]  # expired, or its owner's claim counts now
            else:
                busy.add(account_id)
        for account_id in self.cooldowns.active():
            busy.at_least(account_id, self._max_jobs(account_id))  # full until then
        return busy, set(claims)

    async def _dispatch_pass(self, guild_id: int) -> None:
        """The leader starts as many of the guild's queued jobs as accounts have room for, taking
        members in turn (one member's 20 jobs do not block everyone); the guild's owner tells the
        rest their position."""
        owned, leading = self._owns(guild_id), self.leading
        busy, claimed = await self._busy() if leading else (Load(self._accounts), set[int]())
        config = await self._store.guild_config(guild_id)
        waiting: list[Job] = []
        model_load: Counter[tuple[int, str]] | None = None
        for job in fair_order(await self._store.queued_jobs(guild_id)):
            if job.id in self.submitting_jobs or job.id in self._assigned or job.id in claimed:
                continue
            kinds = job_kinds(job.kind, job.channel_id, config)
            if not await self._runnable(job, kinds, owned=owned):
                continue
            if not leading:
                waiting.append(job)
                continue
            if job.account_id is not None:
                if not self._accounts.has_capacity(job.account_id, busy):
                    waiting.append(job)
                    continue
                account_id = job.account_id
            else:
                # Another process's guild: the accounts its config declares count.
                choose, wanted = self._accounts.choose, needs(job.kind)
                account = choose(guild_id, job.channel_id, busy, kinds, wanted, anywhere=not owned)
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
            self._last_start[guild_id] = time.monotonic()
            if not owned:
                await self._assign(job, account_id)
            elif not await self.claim(job.id, account_id):
                # Its slots are taken in the store: by another process sharing the account.
                busy.at_least(account_id, self._max_jobs(account_id))
                waiting.append(job)
                self._retry_later(guild_id)
                continue
            else:
                self.spawn(self._start_claimed(job, account_id))
            busy.add(account_id)
        if owned:
            self._show_positions(guild_id, waiting)

    async def _runnable(self, job: Job, kinds: frozenset[BackendKind], *, owned: bool) -> bool:
        """Whether the job may still run: not past its deadline, an account of its kind exists.
        One that may not is failed by its guild's owner (the only process that writes it)."""
        if time.time() > job.deadline:
            kind = job.error_kind or ErrorKind.TIMEOUT
            detail = job.error_detail or "It waited too long for a free account."
        elif not self._rules.can_ever_run(job, kinds, anywhere=not owned):
            kind = ErrorKind.UNAVAILABLE
            detail = "No image service account of this server can take jobs right now."
        else:
            return True
        if owned:
            await self._tracker.finish_failed(job, kind, detail)
        return False

    async def _assign(self, job: Job, account_id: int) -> None:
        """Leave the job of another process's guild to its owner, on the account (its row and its
        messages are the owner's to write); a pass runs again once the assignment expires."""
        self._assigned[job.id] = (account_id, time.monotonic() + ASSIGNED_SECONDS)
        self.spawn(self._expire_assigned(job.id))
        await self._store.notify(News("assigned", job.guild_id, job.id, account_id))

    async def _expire_assigned(self, job_id: int) -> None:
        await asyncio.sleep(ASSIGNED_SECONDS)
        if job_id in self._assigned:  # no pass has seen its owner's claim (or it was not made)
            self.wake_waiting()

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
