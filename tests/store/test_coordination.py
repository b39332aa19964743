"""Coordination through the store (bot/store/coordination.py), on both engines (the ``where``
fixture); what needs several processes' connections, on PostgreSQL alone."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest

from bot.domain import JobStatus
from bot.store import Store
from bot.store.coordination import News
from bot.store.db import LEASE_CHECK_SECONDS
from tests.store.test_contract import _account, _new_job


@pytest.fixture
async def pair(where: str) -> AsyncIterator[tuple[Store, Store]]:
    """Two stores on one database: two processes' (one process's twice on SQLite)."""
    first = await Store.open(where)
    second = await Store.open(where)
    yield first, second
    await first.close()
    await second.close()


async def _eventually(check: Callable[[], bool], seconds: float = 3.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not within the time"
        await asyncio.sleep(0.01)


# ------------------------------------------------------------------------------ account slots


async def test_slots_are_claimed_up_to_max_jobs_and_freed_by_release_or_the_end_of_the_job(
    store: Store,
) -> None:
    account_id = await _account(store)
    jobs = [(await _new_job(store)).id for _ in range(12)]
    claimed = await asyncio.gather(*(store.claim_slot(account_id, 2, job) for job in jobs))
    assert sum(claimed) == 2 and await store.claimed_slots(account_id) == 2
    holder, other = [job for job, ok in zip(jobs, claimed, strict=True) if ok]
    waiting = jobs[claimed.index(False)]
    # Claiming again is the same claim; a released slot, or a finished job's, is free again.
    assert await store.claim_slot(account_id, 2, holder)
    await store.release_slot(holder)
    assert await store.claim_slot(account_id, 2, waiting)
    assert not await store.claim_slot(account_id, 2, holder)
    await store.update_job(other, status=JobStatus.SUCCESS)
    assert await store.claimed_slots(account_id) == 1
    assert await store.claim_slot(account_id, 2, holder)
    # No account, no slot; a job moving to another account gives up the first one's slot.
    assert not await store.claim_slot(account_id + 100, 2, jobs[-1])
    second = await _account(store, "second")
    assert await store.claim_slot(second, 1, holder)
    assert await store.claimed_slots(account_id) == 1


async def test_two_processes_claiming_at_once_never_exceed_max_jobs(postgres_url: str) -> None:
    stores = [await Store.open(postgres_url) for _ in range(2)]
    try:
        account_id = await _account(stores[0])
        for _ in range(5):
            jobs = [(await _new_job(stores[0])).id for _ in range(20)]
            claims = [stores[n % 2].claim_slot(account_id, 2, job) for n, job in enumerate(jobs)]
            assert sum(await asyncio.gather(*claims)) == 2
            assert await stores[1].claimed_slots(account_id) == 2
            for job in jobs:
                await stores[0].update_job(job, status=JobStatus.SUCCESS)
    finally:
        for store in stores:
            await store.close()


# ------------------------------------------------------------------------------------ leases


async def test_one_lease_holder_at_a_time_and_the_next_takes_over_when_it_is_gone(
    pair: tuple[Store, Store],
) -> None:
    first, second = pair
    mine, theirs = first.dispatcher_lease(), second.dispatcher_lease()
    assert await mine.hold() and await mine.hold()
    assert not await theirs.hold()
    await mine.release()
    assert await theirs.hold()
    assert not await mine.hold()
    # The holder's store closes (its process ends): the lease is free.
    await second.close()
    assert await mine.hold()


async def test_a_holder_whose_connection_is_killed_loses_the_lease_to_another(postgres_url: str) -> None:
    first, second = await Store.open(postgres_url), await Store.open(postgres_url)
    try:
        mine, theirs = first.dispatcher_lease(), second.dispatcher_lease()
        assert await mine.hold() and not await theirs.hold()
        # Its process is gone: the server ends the session that held the lock, nothing else.
        killer = await asyncpg.connect(postgres_url)
        try:
            killed = await killer.fetchval(
                """SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l
                   WHERE l.locktype = 'advisory' AND l.granted AND l.pid <> pg_backend_pid()
                     AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"""
            )
        finally:
            await killer.close()
        assert killed == 1
        started = time.monotonic()
        while not await theirs.hold():
            assert time.monotonic() - started < 3 * LEASE_CHECK_SECONDS
            await asyncio.sleep(LEASE_CHECK_SECONDS / 10)
        # The old holder finds out at its next check, and does not get it back.
        assert not await mine.hold()
    finally:
        await first.close()
        await second.close()


#: A process that takes the dispatcher lease, says so, and waits to be killed.
_HOLDER = """
import asyncio, sys
from bot.store import Store

async def main() -> None:
    store = await Store.open(sys.argv[1])
    assert await store.dispatcher_lease().hold()
    print("held", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def test_the_lease_of_a_process_killed_9_is_taken_within_seconds(postgres_url: str) -> None:
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _HOLDER, postgres_url, stdout=asyncio.subprocess.PIPE
    )
    store = await Store.open(postgres_url)
    try:
        assert holder.stdout is not None
        assert await asyncio.wait_for(holder.stdout.readline(), 30) == b"held\n"
        lease = store.dispatcher_lease()
        assert not await lease.hold()
        holder.kill()
        await holder.wait()
        started = time.monotonic()
        while not await lease.hold():
            assert time.monotonic() - started < 3 * LEASE_CHECK_SECONDS
            await asyncio.sleep(LEASE_CHECK_SECONDS / 10)
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()
        await store.close()


# ----------------------------------------------------------------------------- job news, pushes


async def test_a_push_kept_by_one_process_reaches_the_listener_of_another(pair: tuple[Store, Store]) -> None:
    first, second = pair
    job = await _new_job(first)
    heard: list[tuple[int, int]] = []
    await second.listen_jobs(lambda job_id, guild_id: heard.append((job_id, guild_id)), lambda: None)
    assert await second.get_job(job.id) is not None  # kept in the listener's memory
    await first.update_job(job.id, prompt="changed elsewhere")
    await first.relay_push(job.id, job.guild_id, {"status": "IN_PROGRESS", "progress": "40%"})
    await first.relay_push(job.id, job.guild_id, {"status": "SUCCESS"})
    await _eventually(lambda: len(heard) == 2)
    assert heard == [(job.id, job.guild_id)] * 2
    assert await second.relayed_jobs() == [(job.id, job.guild_id)]
    # A notified job is read again, not from what the listener kept.
    assert (await second.get_job(job.id)).prompt == "changed elsewhere"  # type: ignore[union-attr]
    assert await second.take_relayed_pushes(job.id) == [
        {"status": "IN_PROGRESS", "progress": "40%"},
        {"status": "SUCCESS"},
    ]
    assert await first.take_relayed_pushes(job.id) == []
    assert await second.relayed_jobs() == []


async def test_a_listener_whose_connection_drops_listens_again_and_reports_the_gap(postgres_url: str) -> None:
    first, second = await Store.open(postgres_url), await Store.open(postgres_url)
    try:
        heard: list[int] = []
        gaps: list[float] = []
        await second.listen_jobs(
            lambda job_id, _guild: heard.append(job_id), lambda: gaps.append(time.monotonic())
        )
        killer = await asyncpg.connect(postgres_url)
        try:
            await killer.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE query LIKE 'LISTEN%' AND datname = current_database()"
            )
        finally:
            await killer.close()
        await _eventually(lambda: len(gaps) == 1, 5 * LEASE_CHECK_SECONDS)
        await first.notify_job(7, 8)
        await _eventually(lambda: heard == [7])
    finally:
        await first.close()
        await second.close()


async def test_every_kind_of_news_reaches_the_dispatcher_s_listener_and_old_payloads_still_parse(
    pair: tuple[Store, Store],
) -> None:
    first, second = pair
    heard: list[News] = []
    jobs_heard: list[tuple[int, int]] = []
    await second.listen_dispatch(heard.append, lambda: None)
    await second.listen_jobs(lambda job_id, guild_id: jobs_heard.append((job_id, guild_id)), lambda: None)
    sent = [
        News("queue", guild_id=8),
        News("ended", guild_id=8, job_id=7),
        News("assigned", guild_id=8, job_id=7, account_id=3),
        News("refused", guild_id=8, job_id=7, account_id=3),
        News("accounts"),
    ]
    for news in sent:
        await first.notify(news)
    await first.notify_job(7, 8)  # "7 8", as processes of the version before sent it
    await _eventually(lambda: len(heard) == len(sent) + 1)
    assert heard == [*sent, News("job", guild_id=8, job_id=7)]
    assert jobs_heard == [(7, 8)]  # the pushes' listener hears of jobs only
    assert News.parse("7") is None and News.parse("assigned 7 8") is None and News.parse("") is None
