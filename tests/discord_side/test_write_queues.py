"""The publisher's waiting writes: per priority and channel budget, oldest change first, channels
taking turns; progress edits resting until their job's pacing allows them."""

from __future__ import annotations

from bot.discord_side.write_queues import FINAL, POST, PROGRESS, WriteQueues
from bot.domain import Job, JobKind

INTERVAL = 3.0


def _job(job_id: int, channel_id: int = 10, message_id: int | None = 99) -> Job:
    return Job(
        id=job_id,
        guild_id=1,
        channel_id=channel_id,
        owner_id=2,
        kind=JobKind.IMAGINE,
        prompt="a cat",
        message_id=message_id,
    )


def test_a_jobs_write_waits_for_its_channels_budget_by_kind() -> None:
    queues = WriteQueues(INTERVAL)
    queues.place(_job(1, channel_id=10, message_id=None), POST, now=0.0)
    queues.place(_job(2, channel_id=10), FINAL, now=0.0)

    assert queues.buckets(POST) == [(10, "post")]
    assert queues.buckets(FINAL) == [(10, "edit")]
    assert queues.buckets(PROGRESS) == []


def test_take_gives_the_oldest_jobs_first_and_at_most_count() -> None:
    queues = WriteQueues(INTERVAL)
    for job_id in (3, 1, 2):
        queues.place(_job(job_id), FINAL, now=0.0)

    assert queues.take(FINAL, (10, "edit"), 2) == [3, 1]
    assert queues.take(FINAL, (10, "edit"), 5) == [2]
    assert queues.buckets(FINAL) == []


def test_a_served_channel_goes_behind_the_others() -> None:
    queues = WriteQueues(INTERVAL)
    for job_id, channel_id in ((1, 10), (2, 10), (3, 20)):
        queues.place(_job(job_id, channel_id), FINAL, now=0.0)

    queues.take(FINAL, (10, "edit"), 1)

    assert queues.buckets(FINAL) == [(20, "edit"), (10, "edit")]


def test_unqueue_takes_a_job_out_and_drops_an_emptied_channel() -> None:
    queues = WriteQueues(INTERVAL)
    queues.place(_job(1, 10), POST, now=0.0)
    queues.place(_job(2, 20), POST, now=0.0)
    queues.place(_job(3, 20), POST, now=0.0)

    queues.unqueue(1)
    queues.unqueue(2)
    queues.unqueue(42)  # not waiting: nothing to do

    assert queues.buckets(POST) == [(20, "edit")]
    assert queues.take(POST, (20, "edit"), 5) == [3]


def test_a_requeued_job_moves_to_the_end_of_its_channel() -> None:
    queues = WriteQueues(INTERVAL)
    queues.place(_job(1), PROGRESS, now=10.0)
    queues.place(_job(2), PROGRESS, now=10.0)

    queues.unqueue(1)
    queues.place(_job(1), PROGRESS, now=10.0)

    assert queues.take(PROGRESS, (10, "edit"), 5) == [2, 1]


def test_a_progress_edit_rests_until_its_jobs_pacing_allows_it() -> None:
    queues = WriteQueues(INTERVAL)
    queues.edited(1, at=100.0)

    queues.place(_job(1), PROGRESS, now=101.0)

    assert queues.buckets(PROGRESS) == []
    assert queues.next_wake() == 100.0 + INTERVAL
    fresh: dict[int, None] = {}
    queues.wake(102.9, fresh)
    assert fresh == {}
    queues.wake(103.0, fresh)
    assert fresh == {1: None}
    assert queues.next_wake() is None
    queues.place(_job(1), PROGRESS, now=103.0)
    assert queues.take(PROGRESS, (10, "edit"), 1) == [1]


def test_only_progress_edits_are_paced() -> None:
    queues = WriteQueues(INTERVAL)
    queues.edited(1, at=100.0)

    queues.place(_job(1), FINAL, now=100.5)

    assert queues.next_wake() is None
    assert queues.buckets(FINAL) == [(10, "edit")]


def test_a_forgotten_job_has_no_pacing_left() -> None:
    queues = WriteQueues(INTERVAL)
    queues.edited(1, at=100.0)
    queues.forget(1)

    queues.place(_job(1), PROGRESS, now=100.5)

    assert queues.next_wake() is None
    assert queues.buckets(PROGRESS) == [(10, "edit")]


def test_wake_keeps_jobs_already_waiting_to_be_classified_in_place() -> None:
    queues = WriteQueues(INTERVAL)
    queues.edited(1, at=0.0)
    queues.edited(2, at=1.0)
    queues.place(_job(2), PROGRESS, now=1.5)
    queues.place(_job(1), PROGRESS, now=1.5)
    fresh: dict[int, None] = {7: None, 2: None}

    queues.wake(10.0, fresh)

    assert list(fresh) == [7, 2, 1]
