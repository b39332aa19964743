"""The submitter alone, against the fake midjourney-proxy on loopback: an accepted submit is
tracked, and each refusal does what it means to the account (held, busy, failing)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from bot.config import JobSettings
from bot.domain import BackendKind, ErrorKind, Job, JobStatus
from bot.jobs.accounts import AccountPool
from bot.jobs.calls import CallCounter
from bot.jobs.dispatch import Dispatcher, ModelSlot
from bot.jobs.rules import Rules
from bot.jobs.submitting import FAILURES_BEFORE_QUARANTINE, Submitter
from bot.jobs.tracking import Tracker
from bot.metrics import Metrics
from bot.store import Store
from sandbox.fake_mj_proxy import FakeMjProxy
from tests.jobs.conftest import GUILD, Seen, queue

#: The configured rest after a "queue full" answer (jittered ±25%).
QUEUE_FULL_RETRY = 40.0


@dataclass
class Parts:
    store: Store
    proxy: FakeMjProxy
    account: int
    dispatcher: Dispatcher
    tracker: Tracker
    submitter: Submitter
    seen: Seen

    async def run(self, job: Job) -> Job:
        """Dispatch the guild and wait for ``job``'s submit to be answered."""
        await self.dispatcher.dispatch(GUILD)
        async with asyncio.timeout(5):
            while self.dispatcher.submitting_jobs:  # noqa: ASYNC110 (the seam has no event)
                await asyncio.sleep(0.01)
        stored = await self.store.get_job(job.id)
        assert stored is not None
        return stored


async def _no_slot(job: Job, account_id: int) -> ModelSlot | None:
    return None


async def _no_load() -> Counter[tuple[int, str]]:
    return Counter()


@pytest.fixture
async def parts(store: Store, pool: AccountPool) -> AsyncIterator[Parts]:
    proxy = FakeMjProxy()
    await proxy.start()
    account = await store.upsert_config_account(
        guild_id=GUILD, name="proxy", kind=BackendKind.MJ_PROXY, base_url=proxy.base_url, max_jobs=2,
        channel_id=None, options={},
    )  # fmt: skip
    pool.sync(await store.list_accounts(), {account: ""})
    seen, calls, rules = Seen(), CallCounter(pool, Metrics()), Rules(store, pool)
    tracker = Tracker(
        store, pool, seen, JobSettings(), calls, result_buttons=lambda j, s: [], wake=lambda g: None
    )
    holder: list[Submitter] = []
    dispatcher = Dispatcher(
        store, pool, seen, rules, tracker,
        start=lambda job, account_id: holder[0].submit(job, account_id),
        model_slot=_no_slot, model_load=_no_load,
    )  # fmt: skip
    settings = JobSettings(queue_full_retry_seconds=QUEUE_FULL_RETRY)
    holder.append(Submitter(store, pool, seen, settings, calls, rules, dispatcher, tracker))
    yield Parts(store, proxy, account, dispatcher, tracker, holder[0], seen)
    await dispatcher.stop()
    await proxy.stop()


async def test_an_accepted_submit_is_stored_tracked_and_its_slot_given_back(
    parts: Parts, store: Store
) -> None:
    job = await queue(store, owner_id=100)
    done = await parts.run(job)
    assert done.status is JobStatus.SUBMITTED and done.backend_task_id
    assert done.account_id == parts.account
    assert job.id in parts.tracker.tracked()
    assert parts.dispatcher.submitting_jobs == {}
    assert parts.seen.jobs[-1].status is JobStatus.SUBMITTED


async def test_refused_credentials_take_the_account_out_of_rotation(
    parts: Parts, store: Store, pool: AccountPool
) -> None:
    parts.proxy.faults.fail_next_submit(status=401)
    done = await parts.run(await queue(store, owner_id=100))
    # No other account could take it: the job fails with what the service said.
    assert (done.status, done.error_kind) == (JobStatus.FAILURE, ErrorKind.AUTH)
    [account] = await store.list_accounts()
    assert account.quarantine_reason and account.quarantine_reason.startswith("auth")
    assert not pool.usable(parts.account)


async def test_a_full_queue_makes_the_account_rest_briefly_and_the_job_wait(
    parts: Parts, store: Store
) -> None:
    parts.proxy.faults.fail_next_submit(code=23, description="队列已满")
    done = await parts.run(await queue(store, owner_id=100))
    assert (done.status, done.error_kind) == (JobStatus.QUEUED, ErrorKind.QUEUE_FULL)
    rest = parts.dispatcher.cooldowns.until(parts.account) - time.monotonic()
    assert 0.7 * QUEUE_FULL_RETRY < rest <= 1.25 * QUEUE_FULL_RETRY
    assert parts.dispatcher.cooldowns.resting(parts.account) is None  # busy, not failing


async def test_an_account_that_keeps_failing_rests_for_a_while(parts: Parts, store: Store) -> None:
    for n in range(FAILURES_BEFORE_QUARANTINE):
        parts.proxy.faults.fail_next_submit(status=500)
        done = await parts.run(await queue(store, owner_id=100 + n))
        assert (done.status, done.error_kind) == (JobStatus.FAILURE, ErrorKind.UNAVAILABLE)
    resting = parts.dispatcher.cooldowns.resting(parts.account)
    assert resting is not None and resting.startswith(f"{FAILURES_BEFORE_QUARANTINE} submits in a row failed")
    assert parts.dispatcher.unhealthy_guilds() == [GUILD]
