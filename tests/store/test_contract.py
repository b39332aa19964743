"""The store's contract, on SQLite and on PostgreSQL (the ``where`` fixture): migrations, job
round trips, the queries the engine relies on."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from bot.domain import (
    AckedCommand,
    BackendKind,
    ButtonStyle,
    ErrorKind,
    GuildConfig,
    Job,
    JobKind,
    JobStatus,
    Reply,
    ResultButton,
    UserPrefs,
)
from bot.store import Store
from bot.store.db import migrations
from bot.store.db_sqlite import SqliteDatabase

#: Discord ids are 64-bit: a guild, channel and member as large as real ones.
GUILD, CHANNEL, MEMBER = 1_100_000_000_000_000_001, 1_100_000_000_000_000_002, 1_100_000_000_000_000_003
NEWEST = max(version for version, _ in migrations(SqliteDatabase.TYPES))


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


async def test_migrations_reach_the_newest_version_once(where: str) -> None:
    store = await Store.open(where)
    assert await store.schema_version() == NEWEST
    await store.set_guild_config(1, GuildConfig(banned_words=["x"]))
    await store.close()
    # Re-opening an up-to-date database applies nothing and keeps the data.
    store = await Store.open(where)
    assert await store.schema_version() == NEWEST
    assert (await store.guild_config(1)).banned_words == ["x"]
    assert await store.writable() is None
    await store.close()


async def test_both_engines_make_the_same_tables_and_columns(tmp_path: Path, postgres_url: str) -> None:
    sqlite, postgres = await Store.open(tmp_path / "s.sqlite3"), await Store.open(postgres_url)
    try:
        tables = [
            r[0] for r in await sqlite._db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        on_sqlite = {
            (t, r["name"]) for t in tables for r in await sqlite._db.fetchall(f"PRAGMA table_info({t})")
        }
        on_postgres = await postgres._db.fetchall(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name != 'schema_version'"
        )
        assert {(r[0], r[1]) for r in on_postgres} == on_sqlite
        # Migrations write {INT} and {REAL}: a plain INTEGER would be 32 bits, too small for Discord ids.
        assert {r[2] for r in on_postgres} == {"bigint", "double precision", "text", "bytea"}
    finally:
        await sqlite.close()
        await postgres.close()


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


async def test_aimg_votes_are_per_member_and_survive_reopening(where: str) -> None:
    store = await Store.open(where)
    job = await _new_job(store, kind=JobKind.GENERATE)
    await store.set_aimg_vote(job.id, 3, "like")
    await store.set_aimg_vote(job.id, 4, "like")
    await store.set_aimg_vote(job.id, 3, "dislike")  # a new vote replaces the old one
    await store.set_aimg_vote(job.id, 4, None)  # taken back
    await store.close()
    store = await Store.open(where)
    assert (await store.aimg_vote(job.id, 3), await store.aimg_vote(job.id, 4)) == ("dislike", None)
    await store.close()


async def _job_in_table(where: str, job_id: int) -> Job | None:
    """The job as another connection reads it from the database."""
    other = await Store.open(where)
    try:
        return await other.get_job(job_id)
    finally:
        await other.close()


async def test_kept_job_rows_are_the_stored_rows(where: str) -> None:
    store = await Store.open(where)
    try:
        job = await _new_job(store)
        await store.update_job(job.id, status=JobStatus.IN_PROGRESS, progress=40, message_id=9)
        button = ResultButton(custom_id="MJ::JOB::upsample::1::h", label="U1")
        done = await store.update_job(job.id, status=JobStatus.SUCCESS, buttons=[button], result_posted=True)
        assert done == await store.get_job(job.id) == await _job_in_table(where, job.id)
        assert done.progress == 40 and done.message_id == 9 and done.buttons == [button]
    finally:
        await store.close()


async def _running_job(store: Store) -> Job:
    job = await _new_job(store)
    return await store.update_job(job.id, status=JobStatus.SUBMITTED, backend_task_id="t1")


@pytest.fixture
async def quick_store(store: Store) -> Store:
    """The store, writing noted progress after 0.2 s."""
    store.progress_write_seconds = 0.2
    return store


async def test_noted_progress_is_read_at_once_and_written_within_its_delay(
    quick_store: Store, where: str
) -> None:
    store = quick_store
    job = await _running_job(store)
    with pytest.raises(ValueError, match="fate"):
        await store.note_progress(job.id, status=JobStatus.SUCCESS)
    noted = await store.note_progress(job.id, progress=50, image_url="https://x/p.png")
    assert noted.progress == 50 and noted.image_url == "https://x/p.png"
    assert await store.get_job(job.id) == noted
    assert await store.member_jobs(1, 3, limit=5) == [noted]  # read from the file, progress laid over
    on_file = await _job_in_table(where, job.id)
    assert on_file is not None and on_file.progress is None
    await asyncio.sleep(0.5)
    assert await _job_in_table(where, job.id) == noted


async def test_a_write_after_noted_progress_is_not_undone_by_the_batch(
    quick_store: Store, where: str
) -> None:
    store = quick_store
    job = await _running_job(store)
    await store.note_progress(job.id, progress=50, image_url="https://x/p.png")
    done = await store.update_job(job.id, status=JobStatus.SUCCESS, progress=100)
    assert done.image_url == "https://x/p.png"  # the noted progress was written with it
    await asyncio.sleep(0.5)
    assert await _job_in_table(where, job.id) == done == await store.get_job(job.id)


async def test_closing_the_store_writes_noted_progress(where: str) -> None:
    store = await Store.open(where)
    job = await _running_job(store)
    await store.note_progress(job.id, status=JobStatus.IN_PROGRESS, progress=75, queue_position=None)
    await store.close()
    on_file = await _job_in_table(where, job.id)
    assert on_file is not None and (on_file.status, on_file.progress) == (JobStatus.IN_PROGRESS, 75)


async def test_discord_sized_ids_and_every_kind_of_row_round_trip(store: Store) -> None:
    account_id = await _account(store, guild_id=GUILD)
    await store.set_user_prefs(GUILD, MEMBER, UserPrefs(remix=True, suffix="--ar 2:3"))
    assert await store.user_prefs(GUILD, MEMBER) == UserPrefs(remix=True, suffix="--ar 2:3")
    command = AckedCommand(
        interaction_id=1_200_000_000_000_000_000,
        application_id=1_200_000_000_000_000_001,
        token="tok",
        guild_id=GUILD,
        channel_id=CHANNEL,
        user_id=MEMBER,
        command="imagine",
        payload={"options": [{"name": "prompt", "value": "a cat"}]},
        message_id=1_200_000_000_000_000_002,
        acked_at=time.time(),
        expires=time.time() + 900,
    )
    await store.record_command(command)
    await store.record_command(command)  # recorded once
    assert await store.acked_commands(before=time.time() + 1) == [command]
    assert await store.acked_commands(before=command.acked_at) == []  # this process's own
    job = await store.create_job(
        guild_id=GUILD,
        channel_id=CHANNEL,
        owner_id=MEMBER,
        kind=JobKind.IMAGINE,
        prompt="a cat",
        hook_secret="s",
        deadline=time.time() + 60,
        account_id=account_id,
        params={"ar": "2:3"},
        reply=Reply(message_id=command.message_id, token="tok", expires=command.expires),
    )
    assert await store.acked_commands(before=time.time() + 1) == []  # the job took its place
    assert (job.guild_id, job.owner_id, job.params, job.reply) == (
        GUILD,
        MEMBER,
        {"ar": "2:3"},
        Reply(message_id=command.message_id, token="tok", expires=command.expires),
    )
    await store.update_job(job.id, backend_task_id="task-1", status=JobStatus.SUBMITTED)
    assert await store.job_of_task(account_id, "task-1") == job.id
    assert await store.member_job_counts(GUILD, MEMBER, since=0) == (1, 1)
    assert [j.id for j in await store.member_jobs(GUILD, MEMBER, limit=5)] == [job.id]
    assert [j.id for j in await store.jobs_by_ids([job.id, job.id + 1])] == [job.id]
    assert (await store.queued_count(GUILD), await store.queued_total()) == (0, 0)
    await store.mark_submitting(job.id, account_id)
    assert await store.interrupted_submits() == []  # it has its task id
    await store.audit(GUILD, MEMBER, "account add", "main")
    [entry] = await store.audit_log(GUILD)
    assert (entry.guild_id, entry.user_id, entry.action, entry.detail) == (
        GUILD,
        MEMBER,
        "account add",
        "main",
    )


async def test_admin_accounts_are_unique_by_name_and_removal_frees_the_name(store: Store) -> None:
    def add() -> Any:
        return store.add_account(
            guild_id=GUILD,
            name="pro",
            kind=BackendKind.USEAPI,
            base_url="https://api.example",
            secret="k",
            max_jobs=2,
            channel_id=CHANNEL,
            options={},
            created_by=MEMBER,
        )

    first = await add()
    with pytest.raises(ValueError, match="already exists"):
        await add()
    await store.update_account(first.id, max_jobs=4, enabled=False, options={"a": "b"})
    await store.set_account_quarantine(first.id, "auth")
    edited = await store.get_account(GUILD, "pro")
    assert edited is not None and (
        edited.max_jobs,
        edited.enabled,
        edited.options,
        edited.quarantine_reason,
    ) == (
        4,
        False,
        {"a": "b"},
        "auth",
    )
    await store.remove_account(first.id)
    assert await store.get_account(GUILD, "pro") is None
    second = await add()  # the name is free again; the new account has a new id
    assert second.id != first.id and [a.id for a in await store.list_accounts(GUILD)] == [second.id]


async def test_member_sessions_replace_the_older_one(store: Store) -> None:
    first = await store.link_member_account(
        guild_id=GUILD, user_id=MEMBER, base_url="https://aimg", session_id="s1", email="a@example.com"
    )
    again = await store.link_member_account(
        guild_id=GUILD, user_id=MEMBER, base_url="https://aimg", session_id="s2", email="a@example.com"
    )
    assert again.id == first.id and again.secret == "s2"
    assert await store.member_account(GUILD, MEMBER) == again


async def test_an_editor_link_is_used_once(store: Store) -> None:
    assert await store.use_editor_link("n1", time.time() + 60)
    assert not await store.use_editor_link("n1", time.time() + 60)
    assert await store.editor_link_used("n1")
    await store.release_editor_link("n1")
    assert await store.use_editor_link("n1", time.time() + 60)
