"""The engine's share of several processes on one store (docs/scaling.md): account slots claimed in
the store, and only the jobs of this process's guilds queued, resumed and dispatched."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bot.config import JobSettings
from bot.domain import BackendKind, JobStatus
from bot.jobs.accounts import AccountPool
from bot.jobs.engine import JobEngine
from bot.store import Store
from tests.jobs.conftest import GUILD, Seen, add_account, make_dispatcher, queue
from tests.jobs.test_dispatch import Started

OTHER_GUILD = 2


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
