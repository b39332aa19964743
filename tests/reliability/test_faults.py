"""Backend and Discord faults, in process: the outcome is the same one message per job."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.domain import BackendKind
from bot.jobs.rules import MemberRate
from bot.net import allowed_image_url
from sandbox.discord import Message
from sandbox.discord.messages import delete
from sandbox.fake_mj_proxy import FakeMjProxy
from sandbox.runner import ExtraBackend, Sandbox
from tests.e2e.conftest import Running, buttons, is_result


def _results(box: Sandbox, channel_id: int) -> list[Message]:
    return [m for m in box.emulator.messages(channel_id) if is_result(m)]


async def test_duplicated_and_reordered_pushes_give_one_identical_result(sandbox: Sandbox) -> None:
    emu, proxy = sandbox.emulator, sandbox.proxy
    art, bob = emu.channel("art"), emu.world.member
    await emu.slash(bob.id, art.id, "imagine", prompt="calm reference")
    reference = await emu.wait_for_message(art.id, is_result, timeout=10)
    proxy.faults.duplicate_hooks = True
    proxy.faults.reorder_hooks = True  # the SUCCESS push arrives first, stale progress after it
    await emu.slash(bob.id, art.id, "imagine", prompt="stormy copy")
    copy = await emu.wait_for_message(art.id, lambda m: m.id != reference.id and is_result(m), timeout=10)
    await asyncio.sleep(0.5)  # the late, stale pushes arrive now; they must change nothing
    assert emu.message(copy.id).content == copy.content and buttons(copy) == buttons(reference)
    assert len(_results(sandbox, art.id)) == 2
    assert any(d.delivered for d in proxy.hook_deliveries)


async def test_repeated_failures_quarantine_the_account_and_jobs_go_elsewhere(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    spare = FakeMjProxy(step_seconds=0.05)
    extra = ExtraBackend(fake=spare, kind=BackendKind.MJ_PROXY, name="spare", options={"flavour": "java"})
    async with Running(make_sandbox(extra=[extra])) as box:
        emu, broken = box.emulator, box.proxy
        art = emu.channel("art")
        # Two members take turns, so the per-member flood limit (10 at once) never bites here.
        people = [emu.world.member.id, emu.world.admin.id]
        for _ in range(20):
            broken.faults.fail_next_submit(status=502)

        def ended() -> int:
            return len([m for m in emu.messages(art.id) if is_result(m) or "(Failed)" in m.content])

        sent = 0
        # Accounts are chosen at random: keep going until the broken one failed 3 times in a row.
        while broken.count("/mj/submit/imagine") < 3:
            assert sent < 25, "the broken account was never chosen"
            sent += 1
            await emu.slash(people[sent % 2], art.id, "imagine", prompt=f"try {sent}")
            await emu.wait_for(lambda: ended() >= sent or None, timeout=10)  # noqa: B023 (awaited here)
        for n in range(3):
            await emu.slash(people[n % 2], art.id, "imagine", prompt=f"after quarantine {n}")
        await emu.wait_for(
            lambda: (
                len([m for m in emu.messages(art.id) if "after quarantine" in m.content and is_result(m)])
                == 3
            ),
            timeout=15,
        )
        assert broken.count("/mj/submit/imagine") == 3
        failed = [m for m in emu.messages(art.id) if "(Failed)" in m.content]
        assert failed and all("unreachable" in m.content for m in failed)


async def test_discord_429s_500s_and_a_gateway_reconnect_still_post_each_result_once(
    sandbox: Sandbox,
) -> None:
    emu = sandbox.emulator
    art, bob = emu.channel("art"), emu.world.member
    # The job's message is written through the interaction's webhook (first content, final) and
    # edited through the channel (progress): both routes meet 429s and a 500.
    emu.inject_fault("PATCH /webhooks/*/*/messages/*", 429, times=2, retry_after=0.2)
    emu.inject_fault("PATCH /webhooks/*/*/messages/*", 500, times=1)
    emu.inject_fault("PATCH /channels/*/messages/*", 429, times=2, retry_after=0.2, is_global=True)
    await emu.slash(bob.id, art.id, "imagine", prompt="through the storm")
    await emu.reconnect_gateway()
    await emu.wait_for_message(art.id, is_result, timeout=15)
    await asyncio.sleep(0.5)
    assert len(_results(sandbox, art.id)) == 1
    assert len(emu.rate_limited) >= 2
    assert emu.violations == []


async def test_a_deleted_job_message_is_posted_again_in_the_channel(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    async with Running(make_sandbox(proxy=FakeMjProxy(step_seconds=0.4, progress_steps=3))) as box:
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        await emu.slash(bob.id, art.id, "imagine", prompt="a vanishing act")
        waiting = await emu.wait_for_message(art.id, lambda m: "<@" in m.content, timeout=10)
        await delete(emu, waiting)  # the interaction's own message: its webhook cannot bring it back
        result = await emu.wait_for_message(art.id, is_result, timeout=15)
        assert result.id != waiting.id and result.interaction_id is None  # a channel post
        assert len(_results(box, art.id)) == 1
        assert emu.violations == []


async def test_the_ack_comes_first_even_when_the_backend_is_slow(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    sandbox.proxy.faults.delay_responses(4.0)
    inter = await emu.slash(emu.world.member.id, emu.channel("art").id, "imagine", prompt="patience")
    await emu.wait_for(lambda: inter.acked or None, timeout=1.0)
    assert not inter.errors


async def test_a_member_who_floods_is_told_to_wait(sandbox: Sandbox) -> None:
    assert sandbox.bot is not None
    sandbox.bot.engine.member_rate = MemberRate(burst=2, every=60.0)
    emu = sandbox.emulator
    art, bob, alice = emu.channel("art"), emu.world.member, emu.world.admin
    for n in range(2):
        await emu.slash(bob.id, art.id, "imagine", prompt=f"flood {n}")
    third = await emu.slash(bob.id, art.id, "imagine", prompt="flood 3")
    text = await emu.wait_for(
        lambda: next((m.content for m in third.ephemeral if "too fast" in m.content), None)
    )
    assert "Wait" in text
    other = await emu.slash(alice.id, art.id, "imagine", prompt="someone else")
    # Someone else's job goes ahead: their "thinking…" message becomes the job's.
    await emu.wait_for(lambda: (other.original is not None and not other.original.loading) or None)


def test_image_urls_only_from_the_accounts_host_or_discord_and_midjourney_cdns() -> None:
    local = "http://127.0.0.1:8080"
    assert allowed_image_url("http://127.0.0.1:8080/images/1.png", local)  # the sandbox's own proxy
    assert allowed_image_url("https://cdn.discordapp.com/attachments/1/2/a.png", local)
    assert allowed_image_url("https://media.discordapp.net/attachments/1/2/a.png", None)
    refused = [
        "http://127.0.0.1:8081/admin",  # another port on the bot's machine
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://10.0.0.5/x.png",
        "http://[::1]:8080/x.png",
        "http://localhost:8080/x.png",
        "https://cdn.discordapp.com.evil.example/x.png",
        "http://cdn.discordapp.com/x.png",  # CDNs over https only
        "https://user:pw@cdn.discordapp.com/x.png",
        "file:///etc/passwd",
        "gopher://127.0.0.1:8080/",
        "http://127.0.0.1:99999/x",
        "not a url",
    ]
    assert [u for u in refused if allowed_image_url(u, local)] == []
    assert not allowed_image_url("http://127.0.0.1:8080/x.png", "https://proxy.example.com")
