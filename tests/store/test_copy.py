"""`mjbot store copy --to URL`: a SQLite store with every kind of row, copied into PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from bot.cli import main
from bot.crypto import SecretBox
from bot.domain import (
    AckedCommand,
    BackendKind,
    GuildConfig,
    JobKind,
    JobStatus,
    Reply,
    ResultButton,
    UserPrefs,
)
from bot.store import Store

GUILD, MEMBER = 1_100_000_000_000_000_001, 1_100_000_000_000_000_003


async def _fill(store: Store) -> None:
    """Two servers' worth of rows in every table."""
    for guild in (GUILD, GUILD + 1):
        account = await store.add_account(
            guild_id=guild,
            name="pro",
            kind=BackendKind.USEAPI,
            base_url="https://api.example",
            secret="the-api-key",
            max_jobs=2,
            channel_id=None,
            options={"channel": "7"},
            created_by=MEMBER,
        )
        await store.set_guild_config(guild, GuildConfig(banned_words=["x"]))
        await store.set_user_prefs(guild, MEMBER, UserPrefs(remix=True))
        await store.audit(guild, MEMBER, "account add", "pro")
        parent = await store.create_job(
            guild_id=guild,
            channel_id=2,
            owner_id=MEMBER,
            kind=JobKind.IMAGINE,
            prompt="a cat",
            hook_secret="h",
            deadline=time.time() + 60,
            account_id=account.id,
            reply=Reply(message_id=9, token=f"t{guild}", expires=time.time() + 900),
        )
        await store.update_job(
            parent.id,
            backend_task_id="task",
            status=JobStatus.SUCCESS,
            buttons=[ResultButton(custom_id="MJ::JOB::upsample::1::h", label="U1")],
            result_posted=True,
        )
        child = await store.create_job(
            guild_id=guild,
            channel_id=2,
            owner_id=MEMBER,
            kind=JobKind.UPSCALE,
            prompt="a cat",
            hook_secret="h2",
            deadline=time.time() + 60,
            parent_job_id=parent.id,
            inputs=[b"\x89PNG one", b"\x89PNG two"],
        )
        await store.set_aimg_vote(child.id, MEMBER, "like")
        await store.link_member_account(
            guild_id=guild, user_id=MEMBER, base_url="https://aimg", session_id="sess", email="m@example.com"
        )
        await store.use_editor_link(f"nonce{guild}", time.time() + 600)
        await store.record_command(
            AckedCommand(
                interaction_id=guild + 5,
                application_id=1,
                token=f"waiting{guild}",
                guild_id=guild,
                channel_id=2,
                user_id=MEMBER,
                command="imagine",
                payload={"options": []},
                message_id=10,
                acked_at=time.time(),
                expires=time.time() + 900,
            )
        )
    await store.remove_account((await store.list_accounts(GUILD + 1))[0].id)


async def _everything(store: Store) -> dict[str, Any]:
    """What the store answers about every row, plus every table's rows as stored."""
    jobs = await store.jobs_by_ids(range(1, 10))
    tables = [
        "accounts", "jobs", "job_inputs", "guild_config", "user_prefs", "audit",
        "aimg_member_sessions", "aimg_votes", "acked_commands", "editor_links",
    ]  # fmt: skip
    return {
        "accounts": await store.list_accounts(),
        "jobs": sorted(jobs, key=lambda j: j.id),
        "inputs": [await store.job_inputs(j.id) for j in jobs],
        "votes": [await store.aimg_vote(j.id, MEMBER) for j in jobs],
        "audit": [await store.audit_log(g) for g in (GUILD, GUILD + 1)],
        "configs": [await store.guild_config(g) for g in (GUILD, GUILD + 1)],
        "prefs": [await store.user_prefs(g, MEMBER) for g in (GUILD, GUILD + 1)],
        "sessions": [await store.member_account(g, MEMBER) for g in (GUILD, GUILD + 1)],
        "commands": await store.acked_commands(before=time.time() + 1),
        "links": [await store.editor_link_used(f"nonce{g}") for g in (GUILD, GUILD + 1)],
        "rows": {
            t: [dict(r) for r in await store._db.fetchall(f"SELECT * FROM {t} ORDER BY 1, 2")] for t in tables
        },
    }


async def _read(where: str | Path, box: SecretBox) -> dict[str, Any]:
    store = await Store.open(where, box)
    try:
        return await _everything(store)
    finally:
        await store.close()


def test_copy_keeps_every_row_and_new_ids_follow_the_copied_ones(
    tmp_path: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path, box = tmp_path / "data" / "mjbot.sqlite3", SecretBox(Fernet.generate_key())
    config = tmp_path / "mjbot.toml"
    config.write_text(f'[store]\npath = "{path}"\n')

    async def fill() -> None:
        store = await Store.open(path, box)
        await _fill(store)
        await store.close()

    asyncio.run(fill())
    assert main(["store", "copy", "--to", postgres_url, "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "jobs                             4" in out and "Copied 26 rows" in out, out
    assert "postgres@" not in out  # the URL is named without its user

    before, after = asyncio.run(_read(path, box)), asyncio.run(_read(postgres_url, box))
    assert after == before
    assert before["accounts"][0].secret == "the-api-key" and len(before["jobs"]) == 4  # not vacuous

    async def add_one() -> tuple[int, int]:
        store = await Store.open(postgres_url, box)
        try:
            job = await store.create_job(
                guild_id=GUILD, channel_id=2, owner_id=MEMBER, kind=JobKind.IMAGINE, prompt="new",
                hook_secret="n", deadline=0.0,
            )  # fmt: skip
            await store.audit(GUILD, MEMBER, "next", "")
            [entry] = await store._db.fetchall("SELECT max(id) FROM audit")
            return job.id, int(entry[0])
        finally:
            await store.close()

    assert asyncio.run(add_one()) == (5, 3)


def test_copy_refuses_a_database_that_holds_a_store(
    tmp_path: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mjbot.sqlite3"
    config = tmp_path / "mjbot.toml"
    config.write_text(f'[store]\npath = "{path}"\n')

    async def fill(where: str | Path, guild: int) -> None:
        store = await Store.open(where)
        await store.set_guild_config(guild, GuildConfig())
        await store.audit(guild, MEMBER, "a", "b")
        await store.close()

    asyncio.run(fill(path, GUILD))
    asyncio.run(fill(postgres_url, GUILD + 7))
    assert main(["store", "copy", "--to", postgres_url, "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "already holds a store (guild_config has rows): copy into an empty database." in err

    async def guilds() -> list[Any]:
        store = await Store.open(postgres_url)
        try:
            return [r[0] for r in await store._db.fetchall("SELECT guild_id FROM guild_config")]
        finally:
            await store.close()

    assert asyncio.run(guilds()) == [GUILD + 7]  # nothing written


def test_copy_from_a_missing_file_says_so_and_makes_none(
    tmp_path: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "mjbot.toml"
    config.write_text(f'[store]\npath = "{tmp_path / "typo.sqlite3"}"\n')
    assert main(["store", "copy", "--to", postgres_url, "--config", str(config)]) == 1
    assert capsys.readouterr().err.strip() == (
        f"There is no SQLite store at {tmp_path / 'typo.sqlite3'} ([store] path): nothing to copy."
    )
    assert not (tmp_path / "typo.sqlite3").exists()
