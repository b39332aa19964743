"""The dispatcher alone: members take turns, an account takes no more than its capacity (running
jobs in the store plus claimed slots), and resting accounts take nothing."""

from __future__ import annotations

import asyncio
import time

from bot.domain import ErrorKind, Job, JobKind, JobStatus
from bot.jobs.accounts import AccountPool
from bot.store import Store
from tests.jobs.conftest import GUILD, Seen, add_account, make_dispatcher, queue


class Started:
    """The dispatcher's ``start``: records each job with its account and holds its slot until
    ``done`` is set (as a submit under way does)."""

    def __init__(self) -> None:
        self.jobs: list[tuple[int, int]] = []
        self.done = asyncio.Event()

    async def __call__(self, job: Job, account_id: int) -> None:
        self.jobs.append((job.id, account_id))
        await self.done.wait()


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_members_take_turns_and_the_rest_learn_their_place(store: Store, pool: AccountPool) -> None:
    account = await add_account(store, pool, "proxy", max_jobs=2)
    alice = [await queue(store, owner_id=100) for _ in range(3)]
    bob = await queue(store, owner_id=200)
    seen, started = Seen(), Started()
    dispatcher = make_dispatcher(store, pool, seen, started)

    await dispatcher.dispatch(GUILD)
    await _settle()

    # Alice queued three first, yet Bob's one goes second: one job per member in turn.
    assert started.jobs == [(alice[0].id, account), (bob.id, account)]
    assert dispatcher.position(alice[1].id) == 1 and dispatcher.position(alice[2].id) == 2
    shown = {j.id: j.queue_position for j in seen.jobs}
    assert shown == {alice[1].id: 1, alice[2].id: 2}
    started.done.set()


async def test_running_jobs_and_claimed_slots_fill_an_account(store: Store, pool: AccountPool) -> None:
    account = await add_account(store, pool, "proxy", max_jobs=2)
    running = await queue(store, owner_id=100)
    await store.update_job(running.id, account_id=account, backend_task_id="t1", status=JobStatus.SUBMITTED)
    dispatcher = make_dispatcher(store, pool, Seen(), started := Started())
    assert await dispatcher.claim(999, account)  # a submit under way elsewhere holds the other slot
    waiting = await queue(store, owner_id=200)

    await dispatcher.dispatch(GUILD)
    await _settle()
    assert started.jobs == []
    assert dispatcher.position(waiting.id) == 1

    dispatcher.release(999)
    await store.release_slot(999)
    await dispatcher.dispatch(GUILD)
    await _settle()
    assert started.jobs == [(waiting.id, account)]
    # Its slot stays claimed until its submit is answered: the account is full again.
    assert dispatcher.submitting_jobs == {waiting.id: account}
    started.done.set()
    await _settle()
    assert dispatcher.submitting_jobs == {}


async def test_a_resting_account_takes_nothing_and_its_server_is_unhealthy(
    store: Store, pool: AccountPool
) -> None:
    account = await add_account(store, pool, "proxy", max_jobs=3)
    job = await queue(store, owner_id=100)
    dispatcher = make_dispatcher(store, pool, Seen(), started := Started())
    dispatcher.cooldowns.cool(account, 60.0, resting="3 submits in a row failed")
    assert dispatcher.unhealthy_guilds() == [GUILD]
    assert dispatcher.cooldowns.resting(account) == "3 submits in a row failed"

    await dispatcher.dispatch(GUILD)
    await _settle()
    assert started.jobs == []
    assert dispatcher.position(job.id) == 1


async def test_a_job_past_its_deadline_fails_instead_of_starting(store: Store, pool: AccountPool) -> None:
    await add_account(store, pool, "proxy")
    job = await queue(store, owner_id=100)
    await store.update_job(job.id, deadline=time.time() - 1)
    seen, started = Seen(), Started()

    await make_dispatcher(store, pool, seen, started).dispatch(GUILD)
    await _settle()

    assert started.jobs == []
    failed = await store.get_job(job.id)
    assert failed is not None and failed.status is JobStatus.FAILURE
    assert failed.error_kind is ErrorKind.TIMEOUT
    assert seen.jobs[-1].status is JobStatus.FAILURE


async def test_a_drained_dispatcher_starts_nothing(store: Store, pool: AccountPool) -> None:
    await add_account(store, pool, "proxy")
    await queue(store, owner_id=100)
    dispatcher = make_dispatcher(store, pool, Seen(), started := Started())
    await dispatcher.drain(0.1)

    await dispatcher.dispatch(GUILD)
    await _settle()
    assert started.jobs == []


async def test_a_job_goes_to_an_account_whose_client_offers_what_it_needs(
    store: Store, pool: AccountPool
) -> None:
    # Two midjourney-proxy accounts with room; only the C# flavour has /shorten.
    await add_account(store, pool, "oss", options={"flavour": "oss"}, max_jobs=5)
    csharp = await add_account(store, pool, "csharp", options={"flavour": "csharp"}, max_jobs=5)
    shortens = [await queue(store, owner_id=100 + n, kind=JobKind.SHORTEN) for n in range(4)]
    dispatcher = make_dispatcher(store, pool, Seen(), started := Started())

    await dispatcher.dispatch(GUILD)
    await _settle()
    assert started.jobs == [(job.id, csharp) for job in shortens]
    started.done.set()
