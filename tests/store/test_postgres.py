"""What only the PostgreSQL store does: its URL, the sentences when it cannot be used, its probe."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from pathlib import Path

import asyncpg
import pytest
from pydantic import SecretStr

from bot.check import run_checks
from bot.config import ConfigError, Settings, StartupError, StoreSettings, load_settings
from bot.domain import GuildConfig
from bot.store import Store
from sandbox.runner import Sandbox
from tests.store.test_contract import NEWEST


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_nothing_listening_ends_start_up_with_one_sentence_without_the_password() -> None:
    url = f"postgresql://mjbot:hunter2@127.0.0.1:{_closed_port()}/mjbot"
    with pytest.raises(StartupError) as caught:
        await Store.open(url)
    message = str(caught.value)
    assert message.startswith(
        f"Cannot use the PostgreSQL database postgresql://127.0.0.1:{url.split(':')[3]}"
    )
    assert message.endswith("nothing answers there: start PostgreSQL or fix [store] url.")
    assert "hunter2" not in message and "mjbot@" not in message


async def test_a_missing_database_is_named(postgres_url: str) -> None:
    with pytest.raises(StartupError, match=r"/nowhere \(\[store\] url\): the database does not exist"):
        await Store.open(postgres_url.rsplit("/", 1)[0] + "/nowhere")


def test_the_url_must_be_postgresql(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MJBOT_STORE_URL", "mysql://db/mjbot")
    with pytest.raises(ConfigError, match=r"store\.url: .*must start with postgresql://"):
        load_settings()


async def test_check_names_the_database_without_credentials(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MJBOT_STORE_URL", postgres_url)
    monkeypatch.setenv("MJBOT_STORE_PATH", str(tmp_path / "mjbot.sqlite3"))  # the key file goes beside it
    [_, store_row] = await run_checks(load_settings())
    assert store_row.ok, store_row
    assert store_row.detail == f"postgresql://{postgres_url.split('@')[1]} opens and takes writes"


async def test_the_sandbox_keeps_to_its_own_store_whatever_the_operator_configured(tmp_path: Path) -> None:
    operator = Settings(store=StoreSettings(url=SecretStr("postgresql://mjbot:pw@db.example/mjbot")))
    box = Sandbox(operator, store_path=tmp_path / "sandbox.sqlite3")
    await box.proxy.start()  # the settings name its address
    try:
        store = box.settings.store
    finally:
        await box.proxy.stop()
    assert store.url is None and store.database == str(tmp_path / "sandbox.sqlite3")


async def test_bots_starting_together_on_a_new_database_migrate_it_once(postgres_url: str) -> None:
    stores = await asyncio.gather(*(Store.open(postgres_url) for _ in range(3)))
    try:
        assert [await s.schema_version() for s in stores] == [NEWEST] * 3
        versions = await stores[0]._db.fetchall("SELECT version FROM schema_version")
        assert [r[0] for r in versions] == [NEWEST]
    finally:
        await asyncio.gather(*(s.close() for s in stores))


async def test_an_unknown_user_is_told_to_fix_the_url(postgres_url: str) -> None:
    url = postgres_url.replace("postgres@", "nobody:pw@")
    with pytest.raises(StartupError, match=r"\): it refused the user or password: fix \[store\] url\.$"):
        await Store.open(url)


async def test_a_connection_lost_is_made_again_on_the_next_call(postgres_url: str) -> None:
    store = await Store.open(postgres_url)
    try:
        await store.set_guild_config(1, GuildConfig(banned_words=["x"]))
        other = await Store.open(postgres_url)
        await other._db.fetchall(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid != pg_backend_pid()"
        )
        await other.close()
        # A call may still meet the dropped connection (unless the server's notice came first).
        with contextlib.suppress(
            asyncpg.AdminShutdownError, asyncpg.ConnectionDoesNotExistError, asyncpg.InternalClientError
        ):
            await store.guild_config(1)
        assert (await store.guild_config(1)).banned_words == ["x"]
        assert await store.writable() is None
    finally:
        await store.close()


async def _transactions(server: asyncpg.Connection) -> int:
    found = await server.fetchval(
        "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
    )
    return int(found)


async def test_a_call_is_one_round_trip_with_nothing_reset_after_it(postgres_url: str) -> None:
    """Each statement outside a transaction is one transaction on the server: 50 reads are ~50,
    not ~100 (a reset statement after every call)."""
    server = await asyncpg.connect(postgres_url)
    before = await _transactions(server)
    store = await Store.open(postgres_url)
    try:
        for guild in range(50):
            await store.guild_config(guild)
        await store.close()
        # The server counts a connection's transactions once it has ended (a moment after close).
        for _ in range(100):
            if (await _transactions(server)) - before >= 50:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        # Besides the reads: the opening (its migration) and this test's own reads.
        assert (await _transactions(server)) - before < 70
    finally:
        await store.close()
        await server.close()
