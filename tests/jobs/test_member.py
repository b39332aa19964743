"""Member commands alone: the /settings panel the bot keeps (only what changes what its services
get), the /prefer suffix under the server's rules, and their refusals."""

from __future__ import annotations

import pytest

from bot.domain import BackendKind, GuildConfig, JobStatus
from bot.jobs.accounts import AccountPool
from bot.jobs.calls import UserError
from bot.jobs.member import MemberCommands
from bot.store import Store
from tests.jobs.conftest import CHANNEL, GUILD, add_account, queue

BOB = 100


async def test_the_bot_kept_panel_offers_and_keeps_only_what_the_service_takes(
    store: Store, pool: AccountPool
) -> None:
    await add_account(store, pool, "proxy")  # midjourney-proxy remixes, keeps no settings
    member = MemberCommands(store, pool)
    state = await member.toggle_setting(GUILD, BOB, CHANNEL, "Style high")
    assert "Style high" in state.active and "Remix mode" in state.available
    assert "Stealth mode" not in state.available  # not a prompt flag: the bot cannot apply it
    with pytest.raises(UserError, match="has no Stealth mode the bot can switch"):
        await member.toggle_setting(GUILD, BOB, CHANNEL, "Stealth mode")
    assert (await store.user_prefs(GUILD, BOB)).stylize == "250"


async def test_remix_is_refused_where_no_service_takes_an_edited_prompt(
    store: Store, pool: AccountPool
) -> None:
    member = MemberCommands(store, pool)
    with pytest.raises(UserError, match="No image service here can't remix"):
        await member.check_remix(GUILD, CHANNEL)
    await add_account(store, pool, "proxy")
    await member.check_remix(GUILD, CHANNEL)


async def test_a_suffix_is_kept_unless_the_server_bans_a_word_of_it(store: Store, pool: AccountPool) -> None:
    member = MemberCommands(store, pool)
    assert (await member.set_suffix(GUILD, BOB, "  --ar 16:9 ")).suffix == "--ar 16:9"
    await store.set_guild_config(GUILD, GuildConfig(banned_words=["gore"]))
    with pytest.raises(UserError, match="The suffix contains “gore”"):
        await member.set_suffix(GUILD, BOB, "gore")
    assert (await store.user_prefs(GUILD, BOB)).suffix == "--ar 16:9"


async def test_usage_counts_the_members_jobs_and_a_seed_needs_a_result(
    store: Store, pool: AccountPool
) -> None:
    await add_account(store, pool, "useapi", kind=BackendKind.USEAPI)
    member = MemberCommands(store, pool)
    job = await queue(store, owner_id=BOB)
    await store.update_job((await queue(store, owner_id=BOB)).id, status=JobStatus.FAILURE)
    assert await member.usage(GUILD, BOB) == (1, 2)
    with pytest.raises(UserError, match=f"Job #{job.id} has no finished image"):
        await member.seed(job)
    assert not member.offers_account_info(GUILD, CHANNEL, BackendKind.MJ_PROXY)
