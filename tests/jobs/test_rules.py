"""A new job's rules alone: the per-member flood limit, the server's limits counted in the store,
its banned words, and the sentence naming the service that cannot do what was asked (each account
by what its own client offers) or whose prompt limit the prompt, with its images' links, passes."""

from __future__ import annotations

import pytest

from bot.backends import prompt_limit
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
    with pytest.raises(UserError, match=r"This server's TheNextLeg account can't shorten prompts"):
        rules.check_served(GuildConfig(), GUILD, CHANNEL, JobKind.SHORTEN)


async def test_what_a_job_needs_is_asked_of_each_account(store: Store, pool: AccountPool) -> None:
    rules = Rules(store, pool)
    await add_account(store, pool, "oss", options={"flavour": "oss"})
    with pytest.raises(UserError, match=r"midjourney-proxy \(open-source\) account can't shorten prompts"):
        rules.check_served(GuildConfig(), GUILD, CHANNEL, JobKind.SHORTEN)
    await add_account(store, pool, "csharp", options={"flavour": "csharp"})
    rules.check_served(GuildConfig(), GUILD, CHANNEL, JobKind.SHORTEN)


async def test_image_prompts_sent_as_links_count_in_a_prompt_length(store: Store, pool: AccountPool) -> None:
    rules = Rules(store, pool)
    await add_account(store, pool, "useapi", kind=BackendKind.USEAPI)
    limit = prompt_limit(BackendKind.USEAPI)
    assert limit is not None
    prompt, links = "a" * (limit - 10), ["https://cdn.discordapp.com/attachments/1/2/cat.png"]
    rules.check_length(GuildConfig(), GUILD, CHANNEL, JobKind.IMAGINE, prompt)
    with pytest.raises(UserError, match="Your prompt with the links of your images has"):
        rules.check_length(GuildConfig(), GUILD, CHANNEL, JobKind.IMAGINE, prompt, links)
    # A /blend's images are not in its prompt.
    rules.check_length(GuildConfig(), GUILD, CHANNEL, JobKind.BLEND, prompt, links)
