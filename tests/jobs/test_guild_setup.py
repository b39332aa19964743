"""Guild setup alone: every change is audited without its secret, an account moved to another
address loses its secret and rotation, and a resting account says why in the list."""

from __future__ import annotations

import asyncio

import pytest

from bot.domain import BackendKind, Job
from bot.jobs.accounts import AccountPool
from bot.jobs.calls import UserError
from bot.jobs.guild_setup import NEEDS_SECRET, GuildSetup
from bot.store import Store
from tests.jobs.conftest import GUILD, Seen, make_dispatcher

ADMIN = 7


async def _never(job: Job, account_id: int) -> None:
    await asyncio.Event().wait()


def _setup(store: Store, pool: AccountPool) -> GuildSetup:
    return GuildSetup(store, pool, make_dispatcher(store, pool, Seen(), _never))


async def _add(setup: GuildSetup, name: str = "mine") -> None:
    await setup.add_account(
        GUILD, ADMIN, name=name, kind=BackendKind.MJ_PROXY, base_url="https://proxy.example",
        secret="s3cret", max_jobs=3, channel_id=None, options={},
    )  # fmt: skip


async def test_changes_are_audited_without_the_secret(store: Store, pool: AccountPool) -> None:
    setup = _setup(store, pool)
    await _add(setup)
    with pytest.raises(UserError, match="Choose another name"):
        await _add(setup)
    await setup.edit_account(GUILD, ADMIN, "mine", secret="n3w", max_jobs=5)
    await setup.configure(
        GUILD, ADMIN, "buttons anyone", lambda c: c.model_copy(update={"buttons_anyone": True})
    )

    assert (await store.guild_config(GUILD)).buttons_anyone
    log = [(e.action, e.detail) for e in reversed(await store.audit_log(GUILD))]
    assert log == [
        ("account add", "mine: mj_proxy at https://proxy.example, max 3 jobs"),
        ("account edit", "mine: secret=***, max_jobs=5"),
        ("configure", "buttons anyone"),
    ]
    assert "s3cret" not in repr(log) and "n3w" not in repr(log)
    [(account, running)] = await setup.accounts(GUILD)
    assert (account.max_jobs, running) == (5, 0) and pool.usable(account.id)


async def test_an_account_moved_elsewhere_loses_its_secret_until_given_again(
    store: Store, pool: AccountPool
) -> None:
    setup = _setup(store, pool)
    await _add(setup)
    moved = await setup.edit_account(GUILD, ADMIN, "mine", base_url="https://other.example")
    assert (moved.secret, moved.quarantine_reason) == ("", NEEDS_SECRET)
    assert not pool.usable(moved.id)
    back = await setup.edit_account(GUILD, ADMIN, "mine", secret="again")
    assert back.quarantine_reason is None and pool.usable(back.id)


async def test_a_resting_account_says_why_and_for_how_long(store: Store, pool: AccountPool) -> None:
    dispatcher = make_dispatcher(store, pool, Seen(), _never)
    setup = GuildSetup(store, pool, dispatcher)
    await _add(setup)
    [(account, _)] = await setup.accounts(GUILD)
    dispatcher.cooldowns.cool(account.id, 300.0, resting="3 submits in a row failed (HTTP 500.)")
    [(shown, _)] = await setup.accounts(GUILD)
    assert shown.quarantine_reason == "resting 5 min: 3 submits in a row failed (HTTP 500.)"
    await dispatcher.stop()


async def test_config_file_accounts_are_changed_in_the_file(store: Store, pool: AccountPool) -> None:
    await store.upsert_config_account(
        guild_id=GUILD, name="ops", kind=BackendKind.MJ_PROXY, base_url="http://127.0.0.1:9",
        max_jobs=1, channel_id=None, options={},
    )  # fmt: skip
    setup = GuildSetup(store, pool, make_dispatcher(store, pool, Seen(), _never), {})
    await setup.reload_accounts()
    with pytest.raises(UserError, match="declared in the bot's config file"):
        await setup.remove_account(GUILD, ADMIN, "ops")
    with pytest.raises(UserError, match="no account named 'nope'"):
        await setup.test_account(GUILD, "nope")
