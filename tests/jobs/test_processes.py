"""The engine's share of several processes on one store (docs/scaling.md): account slots claimed in
the store, only the jobs of this process's guilds resumed and submitted, and one process, the
dispatcher lease's holder, assigning every guild's queued jobs."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar

import httpx
import pytest

from bot.config import JobSettings
from bot.domain import BackendKind, JobStatus
from bot.jobs import dispatch as dispatch_module
from bot.jobs import leader as leader_module
from bot.jobs.accounts import AccountPool
from bot.jobs.engine import JobEngine
from bot.jobs.leader import Leadership
from bot.store import Store
from bot.store.coordination import News
from tests.jobs.conftest import GUILD, Seen, add_account, make_dispatcher, queue
from tests.jobs.test_dispatch import Started

OTHER_GUILD = 2
T = TypeVar("T")


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


async def _true(value: object) -> bool:
    return bool(value)


async def _none_claimed(store: Store, account_id: int) -> bool:
    return await store.claimed_slots(account_id) == 0


async def _until(predicate: Callable[[], Awaitable[bool]]) -> None:
    """Wait for what the dispatcher's tasks do through the store (its calls run in a thread)."""
    async with asyncio.timeout(5):
        while not await predicate():  # noqa: ASYNC110 (no event for a store write)
            await asyncio.sleep(0.01)


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_slots_another_process_claimed_fill_the_account(store: Store, pool: AccountPool) -> None:
    account = await add_account(store, pool, "proxy", max_jobs=2)
    # Another process's two submits of the shared account, known to the store only.
    assert await store.claim_slot(account, 2, 901) and await store.claim_slot(account, 2, 902)
    waiting = await queue(store, owner_id=100)
    dispatcher = make_dispatcher(store, pool, Seen(), started := Started())

    await dispatcher.dispatch(GUILD)
    await _settle()
    assert started.jobs == []
    assert dispatcher.position(waiting.id) == 1

    await store.release_slot(901)  # that process's job ended and it said so
    dispatcher.wake_waiting()
    await _until(lambda: _true(started.jobs))
    assert started.jobs == [(waiting.id, account)]
    started.done.set()
    await dispatcher.stop()


async def test_a_submit_not_sent_gives_its_slot_back(store: Store, pool: AccountPool) -> None:
    account = await add_account(store, pool, "proxy", max_jobs=1)
    job = await queue(store, owner_id=100)
    dispatcher = make_dispatcher(store, pool, Seen(), started := Started())
    started.done.set()  # the submit returns at once, the job still queued (refused as full)

    await dispatcher.dispatch(GUILD)
    await _until(lambda: _true(started.jobs and not dispatcher.submitting_jobs))
    assert started.jobs == [(job.id, account)]
    await _until(lambda: _none_claimed(store, account))


async def test_another_process_s_guild_is_not_dispatched(store: Store, pool: AccountPool) -> None:
    await add_account(store, pool, "proxy", max_jobs=2)
    await queue(store, owner_id=100)
    dispatcher = make_dispatcher(store, pool, Seen(), started := Started(), owns=lambda guild: guild != GUILD)

    await dispatcher.dispatch(GUILD)
    await _settle()
    assert started.jobs == []
    assert await store.claimed_slots(1) == 0


async def test_accounts_naming_one_service_account_share_its_slots(store: Store, pool: AccountPool) -> None:
    first = await add_account(store, pool, "proxy")
    other = await store.upsert_config_account(
        guild_id=OTHER_GUILD,
        name="proxy",
        kind=BackendKind.MJ_PROXY,
        base_url="http://127.0.0.1:9",
        max_jobs=2,
        channel_id=None,
        options={},
    )
    elsewhere = await store.upsert_config_account(
        guild_id=OTHER_GUILD,
        name="another",
        kind=BackendKind.MJ_PROXY,
        base_url="http://127.0.0.1:10",
        max_jobs=2,
        channel_id=None,
        options={},
    )
    accounts = await store.list_accounts()
    pool.sync(accounts, {a.id: "secret" for a in accounts})
    assert pool.capacity_id(other) == first == pool.capacity_id(first)
    assert pool.capacity_id(elsewhere) == elsewhere


async def test_start_resumes_only_this_process_s_guilds(store: Store, pool: AccountPool) -> None:
    """A job of another process's guild, mid-submit there, is neither failed nor queued here."""
    account = await add_account(store, pool, "proxy", max_jobs=2)
    theirs = await queue(store, owner_id=100)
    await store.mark_submitting(theirs.id, account)
    ours = await store.create_job(
        guild_id=OTHER_GUILD,
        channel_id=20,
        owner_id=200,
        kind=theirs.kind,
        prompt="ours",
        hook_secret="h",
        deadline=theirs.deadline,
    )
    await store.mark_submitting(ours.id, account)
    seen = Seen()
    engine = JobEngine(store, pool, seen, JobSettings(), owns=lambda guild: guild != GUILD)

    await engine.start()
    await engine.stop()
    still = await store.get_job(theirs.id)
    assert still is not None and still.status is JobStatus.QUEUED
    failed = await store.get_job(ours.id)
    assert failed is not None and failed.status is JobStatus.FAILURE
    assert [job.id for job in seen.jobs] == [ours.id]


# ------------------------------------------------------------------ the dispatcher lease


class _Process:
    """One process's dispatcher and lease on a shared PostgreSQL store, owning one guild."""

    def __init__(self, store: Store, pool: AccountPool, guild_id: int) -> None:
        self.store, self.seen, self.started = store, Seen(), Started()
        self.dispatcher = make_dispatcher(store, pool, self.seen, self.started, owns=lambda g: g == guild_id)
        self.leadership = Leadership(store, self.dispatcher, sync_accounts=self._sync)
        self._pool = pool

    async def _sync(self) -> None:
        accounts = await self.store.list_accounts()
        self._pool.sync(accounts, {a.id: "secret" for a in accounts})


@pytest.fixture
async def processes(postgres_url: str) -> AsyncIterator[tuple[_Process, _Process]]:
    """Two processes: the first owns OTHER_GUILD, the second GUILD; one service account named by
    both guilds (``max_jobs = 1``), not started (``leadership.start()`` takes the lease)."""
    stores = [await Store.open(postgres_url) for _ in range(2)]
    async with httpx.AsyncClient() as http:
        for guild_id in (GUILD, OTHER_GUILD):
            await stores[0].upsert_config_account(
                guild_id=guild_id, name="proxy", kind=BackendKind.MJ_PROXY, base_url="http://127.0.0.1:9",
                max_jobs=1, channel_id=None, options={},
            )  # fmt: skip
        accounts = await stores[0].list_accounts()
        pools = [AccountPool(http), AccountPool(http)]
        for pool in pools:
            pool.sync(accounts, {a.id: "secret" for a in accounts})
        pair = _Process(stores[0], pools[0], OTHER_GUILD), _Process(stores[1], pools[1], GUILD)
        try:
            yield pair
        finally:
            for process in pair:
                process.started.done.set()
                await process.leadership.stop()
                await process.dispatcher.stop()
                await process.store.close()


async def _account_of(store: Store, guild_id: int) -> int:
    return next(a.id for a in await store.list_accounts() if a.guild_id == guild_id)


async def test_the_leader_assigns_another_process_s_job_and_its_owner_submits_it(
    processes: tuple[_Process, _Process],
) -> None:
    leader, owner = processes
    await leader.leadership.start()
    await owner.leadership.start()
    assert leader.dispatcher.leading and not owner.dispatcher.leading
    job = await queue(owner.store, owner_id=100)
    account = await _account_of(owner.store, GUILD)

    owner.dispatcher.wake(GUILD)  # a new job: the owner tells the leader
    await _until(lambda: _true(owner.started.jobs))
    assert owner.started.jobs == [(job.id, account)]
    assert (await owner.store.slot_claims())[job.id] == (account, False)  # the owner's claim
    # The leader neither submitted it nor wrote or showed anything of a guild it does not own.
    assert leader.started.jobs == [] and leader.seen.jobs == []
    stored = await leader.store.get_job(job.id)
    assert stored is not None and stored.status is JobStatus.QUEUED and stored.account_id is None


async def test_a_process_that_does_not_lead_never_assigns_and_takes_over_when_the_lease_is_free(
    processes: tuple[_Process, _Process], postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(leader_module, "LEASE_CHECK_SECONDS", 0.2)
    _, owner = processes
    holder = await Store.open(postgres_url)  # a leader that runs no dispatcher: it assigns nothing
    try:
        lease = holder.dispatcher_lease()
        assert await lease.hold()
        await owner.leadership.start()
        job = await queue(owner.store, owner_id=100)
        owner.dispatcher.wake(GUILD)
        await _until(lambda: _true(owner.dispatcher.position(job.id) == 1))
        await asyncio.sleep(0.5)
        assert owner.started.jobs == [] and await owner.store.slot_claims() == {}
        assert [j.queue_position for j in owner.seen.jobs] == [1]  # the owner shows its place

        await lease.release()  # the leader is gone: the owner takes the lease and the queue
        await _until(lambda: _true(owner.started.jobs))
        assert owner.dispatcher.leading
        assert owner.started.jobs == [(job.id, await _account_of(owner.store, GUILD))]
    finally:
        await holder.close()


async def test_an_assignment_nobody_claims_expires_and_is_made_again(
    processes: tuple[_Process, _Process], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dispatch_module, "ASSIGNED_SECONDS", 0.3)
    leader, owner = processes
    heard: list[tuple[int, int]] = []

    def on_news(news: News) -> None:
        if news.kind == "assigned":
            heard.append((news.job_id, news.account_id))

    await leader.store.listen_dispatch(on_news, lambda: None)
    await leader.leadership.start()
    job = await queue(owner.store, owner_id=100)
    account = await _account_of(owner.store, GUILD)
    leader.dispatcher.wake(GUILD)  # the owner is not listening (as if it had died)
    await _until(lambda: _true(len(heard) >= 2))  # assigned, expired, assigned again
    assert set(heard) == {(job.id, account)}
    await owner.leadership.start()  # the owner is back: the next assignment is claimed
    await _until(lambda: _true(owner.started.jobs))
    assert owner.started.jobs == [(job.id, account)]
    # Its claim holds the account both guilds name: the leader's own guild's job waits.
    mine = await leader.store.create_job(
        guild_id=OTHER_GUILD, channel_id=20, owner_id=200, kind=job.kind, prompt="mine", hook_secret="h",
        deadline=job.deadline,
    )  # fmt: skip
    leader.dispatcher.wake(OTHER_GUILD)
    await _until(lambda: _true(leader.dispatcher.position(mine.id) == 1))
    assert leader.started.jobs == []


async def test_an_account_added_at_another_process_reaches_the_leader(
    processes: tuple[_Process, _Process],
) -> None:
    leader, owner = processes
    await leader.leadership.start()
    await owner.leadership.start()
    shared = await _account_of(owner.store, GUILD)
    assert await owner.store.claim_slot(shared, 1, 901)  # the account both guilds name is full
    job = await queue(owner.store, owner_id=100)
    owner.dispatcher.wake(GUILD)
    await _until(lambda: _true(owner.dispatcher.position(job.id) == 1))

    added = await owner.store.upsert_config_account(
        guild_id=GUILD, name="second", kind=BackendKind.MJ_PROXY, base_url="http://127.0.0.1:10",
        max_jobs=1, channel_id=None, options={},
    )  # fmt: skip
    await owner.store.notify(News("accounts"))  # what GuildSetup.reload_accounts sends
    await _until(lambda: _true(owner.started.jobs))
    assert owner.started.jobs == [(job.id, added)]


class _FirstChoice(random.Random):
    def choice(self, seq: Sequence[T]) -> T:
        return seq[0]


async def test_an_account_only_the_owner_s_config_declares_is_assigned_and_a_refusal_moves_the_job(
    processes: tuple[_Process, _Process], http: httpx.AsyncClient
) -> None:
    """Each process's config file may declare its own servers' accounts only: the leader assigns a
    job to one it has no secret for, and when the owner cannot take an account (here: resting
    after a "queue full"), the leader leaves it for a while and assigns another."""
    leader, owner = processes
    first = await _account_of(owner.store, GUILD)
    second = await owner.store.upsert_config_account(
        guild_id=GUILD, name="second", kind=BackendKind.MJ_PROXY, base_url="http://127.0.0.1:10",
        max_jobs=1, channel_id=None, options={},
    )  # fmt: skip
    accounts = await owner.store.list_accounts()
    ours = {a.id: "secret" for a in accounts if a.guild_id == OTHER_GUILD}
    leader_pool = AccountPool(http, rng=_FirstChoice())  # the leader tries `first` first
    leader.dispatcher = make_dispatcher(
        leader.store, leader_pool, leader.seen, leader.started, owns=lambda g: g == OTHER_GUILD
    )

    async def sync_leader() -> None:
        leader_pool.sync(await leader.store.list_accounts(), ours)

    leader.leadership = Leadership(leader.store, leader.dispatcher, sync_accounts=sync_leader)
    refused: list[int] = []
    await leader.store.listen_dispatch(
        lambda news: refused.append(news.account_id) if news.kind == "refused" else None, lambda: None
    )
    await leader.leadership.start()
    await owner.leadership.start()
    assert not leader_pool.usable(first) and leader_pool.usable(first, anywhere=True)
    owner.dispatcher.cooldowns.cool(first, 60)  # "queue full" here: resting on this process
    job = await queue(owner.store, owner_id=100)
    owner.dispatcher.wake(GUILD)
    await _until(lambda: _true(owner.started.jobs))
    assert refused == [first]
    assert owner.started.jobs == [(job.id, second)]


async def test_the_leader_s_passes_of_two_guilds_at_once_assign_no_more_than_the_free_slots(
    processes: tuple[_Process, _Process],
) -> None:
    """Its own server's queue and another's news arrive together: the second pass counts what the
    first took, so the one slot both servers' account has is not also assigned to the other."""
    leader, owner = processes
    heard: list[int] = []
    await leader.store.listen_dispatch(
        lambda news: heard.append(news.job_id) if news.kind == "assigned" else None, lambda: None
    )
    await leader.leadership.start()
    theirs = await queue(owner.store, owner_id=100)
    mine = await leader.store.create_job(
        guild_id=OTHER_GUILD, channel_id=20, owner_id=200, kind=theirs.kind, prompt="mine", hook_secret="h",
        deadline=theirs.deadline,
    )  # fmt: skip
    leader.dispatcher.wake(OTHER_GUILD)
    leader.dispatcher.wake(GUILD)
    await _until(lambda: _true(leader.started.jobs or heard))
    await asyncio.sleep(0.3)
    taken = [job_id for job_id, _ in leader.started.jobs] + heard
    assert len(taken) == 1 and taken[0] in (mine.id, theirs.id)


async def test_a_refused_assignment_is_made_again_once_the_account_counts_again(
    processes: tuple[_Process, _Process], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The owner refused the only account (it rested there): with nothing else happening, the
    leader assigns the job again once its own rest of the account is over."""
    monkeypatch.setattr(dispatch_module, "CLAIM_RETRY_SECONDS", 0.3)
    leader, owner = processes
    await leader.leadership.start()
    await owner.leadership.start()
    account = await _account_of(owner.store, GUILD)
    owner.dispatcher.cooldowns.cool(account, 0.2)  # "queue full" here, for a moment
    job = await queue(owner.store, owner_id=100)
    owner.dispatcher.wake(GUILD)
    await _until(lambda: _true(owner.started.jobs))
    assert owner.started.jobs == [(job.id, account)]
