"""The SQLite store: migrations, job round trips, the queries the engine relies on."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from bot.domain import BackendKind, ButtonStyle, ErrorKind, GuildConfig, Job, JobKind, JobStatus, ResultButton
from bot.store import Store


@pytest.fixture
async def store(tmp_path: Path) -> Store:
    s = await Store.open(tmp_path / "db" / "mjbot.sqlite3")
    yield s  # type: ignore[misc]
    await s.close()


async def _account(store: Store, name: str = "main", guild_id: int = 1) -> int:
    return await store.upsert_config_account(
        guild_id=guild_id,
        name=name,
        kind=BackendKind.MJ_PROXY,
        base_url="http://x",
        max_jobs=3,
        channel_id=None,
        options={"flavour": "java"},
    )


async def test_the_database_and_its_wal_files_are_created_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a usual umask: files would be world-readable by default
    try:
        store = await Store.open(tmp_path / "db" / "mjbot.sqlite3")
        await store.set_guild_config(1, GuildConfig())
        files = sorted(p.name for p in (tmp_path / "db").iterdir())
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "db").iterdir()}
        await store.close()
    finally:
        os.umask(old)
    assert files == ["mjbot.sqlite3", "mjbot.sqlite3-shm", "mjbot.sqlite3-wal"]
    assert set(modes.values()) == {0o600}


async def test_migrations_set_user_version_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite3"
    store = await Store.open(path)
    assert await store.schema_version() >= 1
    await store.close()
    # Re-opening an up-to-date database applies nothing and keeps the data.
    store = await Store.open(path)
    assert await store.schema_version() >= 1
    await store.close()
    assert (tmp_path / "a.sqlite3-wal").exists() or path.exists()


async def test_config_account_upsert_keeps_id_and_never_stores_secret(store: Store) -> None:
    first = await _account(store)
    again = await store.upsert_config_account(
        guild_id=1,
        name="main",
        kind=BackendKind.MJ_PROXY,
        base_url="http://y",
        max_jobs=5,
        channel_id=7,
        options={},
    )
    assert first == again
    [acc] = await store.list_accounts(1)
    assert (acc.base_url, acc.max_jobs, acc.channel_id, acc.secret, acc.source) == (
        "http://y",
        5,
        7,
        "",
        "config",
    )


async def _new_job(
    store: Store, *, kind: JobKind = JobKind.IMAGINE, prompt: str = "a cat", **extra: Any
) -> Job:
    return await store.create_job(
        guild_id=1,
        channel_id=2,
        owner_id=3,
        kind=kind,
        prompt=prompt,
        hook_secret="s3cret",
        deadline=0.0,
        **extra,
    )


async def test_job_round_trip_with_buttons_and_inputs(store: Store) -> None:
    account_id = await _account(store)
    job = await _new_job(store, inputs=[b"png1", b"png2"])
    assert job.status is JobStatus.QUEUED
    assert await store.job_inputs(job.id) == [b"png1", b"png2"]
    buttons = [
        ResultButton(
            custom_id="MJ::JOB::upsample::1::h", label="U1", kind=JobKind.UPSCALE, style=ButtonStyle.SECONDARY
        )
    ]
    done = await store.update_job(
        job.id,
        account_id=account_id,
        backend_task_id="1689231405853400",
        status=JobStatus.SUCCESS,
        buttons=buttons,
        image_url="http://img",
    )
    assert done.buttons == buttons and done.status is JobStatus.SUCCESS and not done.result_posted
    # Inputs are dropped once the backend has them.
    assert await store.job_inputs(job.id) == []
    assert [j.id for j in await store.unfinished_jobs()] == [job.id]  # result not posted yet
    await store.update_job(job.id, result_posted=True)
    assert await store.unfinished_jobs() == []


async def test_active_counts_and_queue_order(store: Store) -> None:
    account_id = await _account(store)
    jobs = [await _new_job(store, prompt=f"p{i}") for i in range(3)]
    await store.update_job(
        jobs[0].id, account_id=account_id, backend_task_id="t0", status=JobStatus.IN_PROGRESS
    )
    await store.update_job(
        jobs[1].id,
        account_id=account_id,
        backend_task_id="t1",
        status=JobStatus.FAILURE,
        error_kind=ErrorKind.BANNED_PROMPT,
    )
    assert await store.active_counts() == {account_id: 1}
    assert [j.id for j in await store.queued_jobs(1)] == [jobs[2].id]
    failed = await store.get_job(jobs[1].id)
    assert failed is not None and failed.error_kind is ErrorKind.BANNED_PROMPT


async def test_update_rejects_unknown_columns(store: Store) -> None:
    job = await _new_job(store)
    with pytest.raises(ValueError, match="not updatable"):
        await store.update_job(job.id, hook_secret="x")


async def test_aimg_votes_are_per_member_and_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "votes.sqlite3"
    store = await Store.open(path)
    job = await _new_job(store, kind=JobKind.GENERATE)
    await store.set_aimg_vote(job.id, 3, "like")
    await store.set_aimg_vote(job.id, 4, "like")
    await store.set_aimg_vote(job.id, 3, "dislike")  # a new vote replaces the old one
    await store.set_aimg_vote(job.id, 4, None)  # taken back
    await store.close()
    store = await Store.open(path)
    assert (await store.aimg_vote(job.id, 3), await store.aimg_vote(job.id, 4)) == ("dislike", None)
    await store.close()


async def _job_in_table(path: Path, job_id: int) -> Job | None:
    """The job as another connection reads it from the file."""
    other = await Store.open(path)
    try:
        return await other.get_job(job_id)
    finally:
        await other.close()


async def test_kept_job_rows_are_the_stored_rows(tmp_path: Path) -> None:
    path = tmp_path / "mjbot.sqlite3"
    store = await Store.open(path)
    try:
        job = await _new_job(store)
        await store.update_job(job.id, status=JobStatus.IN_PROGRESS, progress=40, message_id=9)
        button = ResultButton(custom_id="MJ::JOB::upsample::1::h", label="U1")
        done = await store.update_job(job.id, status=JobStatus.SUCCESS, buttons=[button], result_posted=True)
        assert done == await store.get_job(job.id) == await _job_in_table(path, job.id)
        assert done.progress == 40 and done.message_id == 9 and done.buttons == [button]
    finally:
        await store.close()


async def _running_job(store: Store) -> Job:
    job = await _new_job(store)
    return await store.update_job(job.id, status=JobStatus.SUBMITTED, backend_task_id="t1")


@pytest.fixture
async def quick_store(tmp_path: Path) -> Store:
    """A store in ``tmp_path / "mjbot.sqlite3"`` that writes noted progress after 0.2 s."""
    s = await Store.open(tmp_path / "mjbot.sqlite3")
    s.progress_write_seconds = 0.2
    yield s  # type: ignore[misc]
    await s.close()


async def test_noted_progress_is_read_at_once_and_written_within_its_delay(
    quick_store: Store, tmp_path: Path
) -> None:
    store, path = quick_store, tmp_path / "mjbot.sqlite3"
    job = await _running_job(store)
    with pytest.raises(ValueError, match="fate"):
        await store.note_progress(job.id, status=JobStatus.SUCCESS)
    noted = await store.note_progress(job.id, progress=50, image_url="https://x/p.png")
    assert noted.progress == 50 and noted.image_url == "https://x/p.png"
    assert await store.get_job(job.id) == noted
    assert await store.member_jobs(1, 3, limit=5) == [noted]  # read from the file, progress laid over
    on_file = await _job_in_table(path, job.id)
    assert on_file is not None and on_file.progress is None
    await asyncio.sleep(0.5)
    assert await _job_in_table(path, job.id) == noted


async def test_a_write_after_noted_progress_is_not_undone_by_the_batch(
    quick_store: Store, tmp_path: Path
) -> None:
    store, path = quick_store, tmp_path / "mjbot.sqlite3"
    job = await _running_job(store)
    await store.note_progress(job.id, progress=50, image_url="https://x/p.png")
    done = await store.update_job(job.id, status=JobStatus.SUCCESS, progress=100)
    assert done.image_url == "https://x/p.png"  # the noted progress was written with it
    await asyncio.sleep(0.5)
    assert await _job_in_table(path, job.id) == done == await store.get_job(job.id)


async def test_closing_the_store_writes_noted_progress(tmp_path: Path) -> None:
    path = tmp_path / "mjbot.sqlite3"
    store = await Store.open(path)
    job = await _running_job(store)
    await store.note_progress(job.id, status=JobStatus.IN_PROGRESS, progress=75, queue_position=None)
    await store.close()
    on_file = await _job_in_table(path, job.id)
    assert on_file is not None and (on_file.status, on_file.progress) == (JobStatus.IN_PROGRESS, 75)
