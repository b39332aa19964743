"""The tracker alone: a backend snapshot is applied once, in order; a late, repeated or foreign
one changes nothing, and a job's end frees its account (a dispatch pass is asked for)."""

from __future__ import annotations

from bot.config import JobSettings
from bot.domain import ErrorKind, Job, JobStatus, ResultButton, TaskSnapshot
from bot.jobs.accounts import AccountPool
from bot.jobs.calls import CallCounter
from bot.jobs.tracking import Tracker
from bot.metrics import Metrics
from bot.store import Store
from tests.jobs.conftest import GUILD, Seen, add_account, queue

U1 = ResultButton(custom_id="MJ::JOB::upsample::1::abc", label="U1")
OURS = ResultButton(custom_id="ours", label="Ours")


class Woken(list[int]):
    """The guilds of the jobs the tracker said ended."""

    def __call__(self, job: Job) -> None:
        self.append(job.guild_id)


def _tracker(store: Store, pool: AccountPool, seen: Seen, woken: Woken) -> Tracker:
    return Tracker(
        store,
        pool,
        seen,
        JobSettings(),
        CallCounter(pool, Metrics()),
        result_buttons=lambda job, snap: [*snap.buttons, OURS],
        wake=woken,
    )


async def _submitted(store: Store, pool: AccountPool) -> Job:
    account = await add_account(store, pool, "proxy")
    job = await queue(store, owner_id=100)
    return await store.update_job(
        job.id, account_id=account, backend_task_id="t1", status=JobStatus.SUBMITTED
    )


async def _apply(tracker: Tracker, store: Store, job_id: int, snap: TaskSnapshot) -> Job | None:
    async with tracker.lock(job_id):
        job = await store.get_job(job_id)
        assert job is not None
        return await tracker.apply_to(job, snap)


async def test_progress_is_applied_once_and_a_late_update_is_dropped(store: Store, pool: AccountPool) -> None:
    job = await _submitted(store, pool)
    tracker = _tracker(store, pool, Seen(), Woken())
    halfway = TaskSnapshot(task_id="t1", status=JobStatus.IN_PROGRESS, progress=50)

    moved = await _apply(tracker, store, job.id, halfway)
    assert moved is not None and (moved.status, moved.progress) == (JobStatus.IN_PROGRESS, 50)
    assert await _apply(tracker, store, job.id, halfway) is None  # the same push again
    late = TaskSnapshot(task_id="t1", status=JobStatus.SUBMITTED, progress=0)
    assert await _apply(tracker, store, job.id, late) is None  # an older state, arriving late
    lower = TaskSnapshot(task_id="t1", status=JobStatus.IN_PROGRESS, progress=30)
    assert await _apply(tracker, store, job.id, lower) is None  # progress never goes back
    stored = await store.get_job(job.id)
    assert stored is not None and (stored.status, stored.progress) == (JobStatus.IN_PROGRESS, 50)


async def test_a_snapshot_of_another_task_changes_nothing(store: Store, pool: AccountPool) -> None:
    job = await _submitted(store, pool)
    tracker = _tracker(store, pool, Seen(), Woken())
    other = TaskSnapshot(task_id="t2", status=JobStatus.SUCCESS, image_url="https://cdn.example/x.png")
    assert await _apply(tracker, store, job.id, other) is None
    stored = await store.get_job(job.id)
    assert stored is not None and stored.status is JobStatus.SUBMITTED


async def test_a_result_gets_its_buttons_frees_the_account_and_ends_the_job(
    store: Store, pool: AccountPool
) -> None:
    job = await _submitted(store, pool)
    seen, woken = Seen(), Woken()
    tracker = _tracker(store, pool, seen, woken)
    done = TaskSnapshot(
        task_id="t1", status=JobStatus.SUCCESS, image_url="https://cdn.example/x.png", buttons=[U1]
    )

    finished = await _apply(tracker, store, job.id, done)
    assert finished is not None
    tracker.after_change(finished)

    stored = await store.get_job(job.id)
    assert stored is not None and stored.status is JobStatus.SUCCESS and stored.progress == 100
    assert [b.custom_id for b in stored.buttons] == [U1.custom_id, OURS.custom_id]
    assert woken == [GUILD] and seen.jobs == [finished]
    # A failure pushed after the result is stale: the job has ended.
    failed = TaskSnapshot(task_id="t1", status=JobStatus.FAILURE, fail_reason="late")
    assert await _apply(tracker, store, job.id, failed) is None


async def test_a_failure_is_written_with_the_services_reason(store: Store, pool: AccountPool) -> None:
    job = await _submitted(store, pool)
    tracker = _tracker(store, pool, Seen(), Woken())
    banned = TaskSnapshot(
        task_id="t1", status=JobStatus.FAILURE, error_kind=ErrorKind.BANNED_PROMPT, fail_reason="banned word"
    )
    failed = await _apply(tracker, store, job.id, banned)
    assert failed is not None and failed.status is JobStatus.FAILURE
    assert (failed.error_kind, failed.error_detail) == (ErrorKind.BANNED_PROMPT, "banned word")


async def test_a_hook_secret_matches_only_its_own_job(store: Store, pool: AccountPool) -> None:
    job = await _submitted(store, pool)
    tracker = _tracker(store, pool, Seen(), Woken())
    assert await tracker.hook_secret_matches(job.id, job.hook_secret)
    assert not await tracker.hook_secret_matches(job.id, job.hook_secret + "x")
    assert not await tracker.hook_secret_matches(job.id + 1, job.hook_secret)
    assert not await tracker.on_push(job.id, "wrong", {"id": "t1", "status": "SUCCESS"})
