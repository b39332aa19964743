"""A new job's rules alone: the per-member flood limit, the server's limits counted in the store,
its banned words, and the sentence naming the service that cannot do what was asked."""

from __future__ import annotations

import pytest

from bot.domain import BackendKind, GuildConfig, GuildLimits, JobKind
from bot.jobs.accounts import AccountPool
from bot.jobs.calls import UserError
from bot.jobs.rules import MemberRate, Rules
from bot.store import Store
from tests.jobs.conftest import CHANNEL, GUILD, add_account, queue


def test_a_member_may_start_a_burst_then_waits() -> None:
    rate = MemberRate(burst=2, every=60.0)
    rate.check(GUILD, 1)
    rate.check(GUILD, 1)
    with pytest.raises(UserError, match=r"You are starting jobs too fast\. Wait 60 s"):
        rate.check(GUILD, 1)
    rate.check(GUILD, 2)  # another member has their own bucket


async def test_the_servers_limits_are_counted_in_the_store(store: Store, pool: AccountPool) -> None:
    rules = Rules(store, pool)
    config = GuildConfig(limits=GuildLimits(user_concurrent=2, queue_length=3))
    await rules.check_allowed(config, GUILD, CHANNEL, 1, "a cat", "a cat")
    for _ in range(2):
        await queue(store, owner_id=1)
    with pytest.raises(UserError, match="You already have 2 jobs waiting or running"):
        await rules.check_allowed(config, GUILD, CHANNEL, 1, "a cat", "a cat")
    await queue(store, owner_id=2)
    with pytest.raises(UserError, match=r"This server's queue is full \(3 jobs waiting\)"):
        await rules.check_allowed(config, GUILD, CHANNEL, 3, "a cat", "a cat")


async def test_banned_words_are_checked_as_typed_and_as_sent(store: Store, pool: AccountPool) -> None:
    rules = Rules(store, pool)
    config = GuildConfig(banned_words=["gore"])
    with pytest.raises(UserError, match="Your prompt contains “gore”"):
        await rules.check_allowed(config, GUILD, CHANNEL, 1, "gore", "gore")
    with pytest.raises(UserError, match="With your /settings flags and /prefer suffix added"):
        await rules.check_allowed(config, GUILD, CHANNEL, 1, "a cat", "a cat gore")


async def test_a_job_no_account_here_can_run_is_refused_naming_the_service(
    store: Store, pool: AccountPool
) -> None:
    rules = Rules(store, pool)
    with pytest.raises(UserError, match="no image service set up for this channel"):
        rules.check_served(GuildConfig(), GUILD, CHANNEL, JobKind.IMAGINE)
    await add_account(store, pool, "nextleg", kind=BackendKind.NEXTLEG)
    rules.check_served(GuildConfig(), GUILD, CHANNEL, JobKind.IMAGINE)
    with pytest.raises(UserError, match="TheNextLeg can't shorten prompts from the bot yet"):
        rules.check_served(GuildConfig(), GUILD, CHANNEL, JobKind.SHORTEN)
