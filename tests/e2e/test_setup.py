"""/setup end to end: an admin sets the server up inside Discord; members meet the rules."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from sandbox.discord import Interaction
from sandbox.fake_mj_proxy import FakeMjProxy
from sandbox.runner import Sandbox
from tests.e2e.conftest import Running, custom_id, is_result

#: On SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_stores

SECRET = "sk-very-secret-token-1234"


async def _reply(box: Sandbox, inter: Interaction) -> str:
    """The text of the bot's ephemeral answer (content or embeds) to ``inter``."""

    def text() -> str | None:
        for m in inter.ephemeral:
            body = m.content + " ".join(str(e) for e in m.embeds)
            if body.strip() and not m.loading:
                return body
        return None

    return await box.emulator.wait_for(text, timeout=10)


async def _add_account(box: Sandbox, name: str, proxy: FakeMjProxy, max_jobs: int, secret: str = "") -> str:
    emu = box.emulator
    alice, general = emu.world.admin, emu.channel("general")
    inter = await emu.slash(
        alice.id,
        general.id,
        "setup",
        subcommand="account add",
        kind="mj_proxy",
        name=name,
        base_url=proxy.base_url,
        max_jobs=max_jobs,
        flavour="java",
    )
    await emu.wait_for_response(inter)
    assert inter.response_type == 9  # the secret is asked in a modal, as the first response
    assert inter.modal is not None
    done = await emu.submit_modal(
        inter, inter.modal["custom_id"], {"Secret (API key, token or session id)": secret}
    )
    return await _reply(box, done)


async def test_a_member_is_refused(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    inter = await emu.slash(emu.world.member.id, emu.channel("general").id, "setup", subcommand="show")
    assert "Manage Server permission" in await _reply(sandbox, inter)


async def test_account_add_list_test_remove_never_shows_the_secret(
    make_sandbox: Callable[..., Sandbox], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    second = FakeMjProxy(secret=SECRET, step_seconds=0.02)
    async with Running(make_sandbox()) as box:
        await second.start()
        try:
            emu = box.emulator
            alice, general = emu.world.admin, emu.channel("general")
            assert "Added **second**" in await _add_account(box, "second", second, 2, SECRET)

            listing = await _reply(
                box, await emu.slash(alice.id, general.id, "setup", subcommand="account list")
            )
            assert "second" in listing
            assert "secret: set (hidden)" in listing

            tested = await _reply(
                box, await emu.slash(alice.id, general.id, "setup", subcommand="account test", name="second")
            )
            assert tested.startswith("✅ second")

            removed = await _reply(
                box,
                await emu.slash(alice.id, general.id, "setup", subcommand="account remove", name="second"),
            )
            assert "is removed" in removed
            listing = await _reply(
                box, await emu.slash(alice.id, general.id, "setup", subcommand="account list")
            )
            assert "second" not in listing

            audit = await _reply(box, await emu.slash(alice.id, general.id, "setup", subcommand="audit"))
            assert "account add" in audit
            assert "account remove" in audit

            # The secret went in through the modal only: never in anything the bot sent, nor a log line.
            sent = [str(c.body) for c in emu.calls]
            assert not [s for s in sent if SECRET in s]
            assert SECRET not in caplog.text
            # At rest it is sealed.
            assert box.bot is not None
            raw = await box.bot.store._db.fetchall("SELECT secret FROM accounts")
            assert not [r for r in raw if SECRET in str(r[0])]
        finally:
            await second.stop()


async def test_a_wrong_secret_fails_the_test_with_a_clear_sentence(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    locked = FakeMjProxy(secret=SECRET, step_seconds=0.02)
    async with Running(make_sandbox()) as box:
        await locked.start()
        try:
            emu = box.emulator
            await _add_account(box, "locked", locked, 1, "wrong")
            tested = await _reply(
                box,
                await emu.slash(
                    emu.world.admin.id,
                    emu.channel("general").id,
                    "setup",
                    subcommand="account test",
                    name="locked",
                ),
            )
            assert tested.startswith("❌ locked")
            assert "credentials" in tested
        finally:
            await locked.stop()


async def test_two_accounts_take_three_jobs_and_the_fourth_queues_with_its_position(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    first = FakeMjProxy(step_seconds=0.6, progress_steps=2)
    second = FakeMjProxy(step_seconds=0.6, progress_steps=2)
    async with Running(make_sandbox(proxy=first, max_jobs=1)) as box:
        await second.start()
        try:
            emu = box.emulator
            await _add_account(box, "second", second, 2)
            art, bob, alice = emu.channel("art"), emu.world.member, emu.world.admin
            for i in range(4):
                user = bob if i % 2 else alice
                await emu.slash(user.id, art.id, "imagine", prompt=f"job {i}")
            queued = await emu.wait_for_message(art.id, lambda m: "position 1 in the queue" in m.content, 10)
            assert "job 3" in queued.content
            await emu.wait_for_message(art.id, lambda m: "job 3" in m.content and is_result(m), 30)
            # The first account (max 1) took one job and the fourth; the second (max 2) two.
            assert first.count("/mj/submit/imagine") + second.count("/mj/submit/imagine") == 4
            await emu.wait_for(
                lambda: len([m for m in emu.messages(art.id) if is_result(m)]) == 4 or None, 30
            )
        finally:
            await second.stop()


async def test_banned_words_are_refused_before_any_backend_call(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    alice, bob, art = emu.world.admin, emu.world.member, emu.channel("art")
    await _reply(sandbox, await emu.slash(alice.id, art.id, "setup", subcommand="words add", text="kraken"))
    await _reply(
        sandbox,
        await emu.slash(alice.id, art.id, "setup", subcommand="words add", text=r"sea\s*monster", regex=True),
    )
    for prompt, shown in (("a KRAKEN rising", "kraken"), ("a giant Sea  Monster", "Sea  Monster")):
        text = await _reply(sandbox, await emu.slash(bob.id, art.id, "imagine", prompt=prompt))
        assert f"contains “{shown}”" in text
    assert sandbox.proxy.count("/mj/submit/") == 0


async def test_per_member_limits(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    alice, bob, art = emu.world.admin, emu.world.member, emu.channel("art")
    await _reply(sandbox, await emu.slash(alice.id, art.id, "setup", subcommand="limits", per_user_daily=1))
    await emu.slash(bob.id, art.id, "imagine", prompt="first")
    await emu.wait_for_message(art.id, is_result, timeout=10)
    text = await _reply(sandbox, await emu.slash(bob.id, art.id, "imagine", prompt="second"))
    assert "your 1 jobs for today" in text
    assert sandbox.proxy.count("/mj/submit/imagine") == 1


async def test_a_disabled_channel_is_refused(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    alice, bob, art = emu.world.admin, emu.world.member, emu.channel("art")
    await _reply(sandbox, await emu.slash(alice.id, art.id, "setup", subcommand="channel", enabled=False))
    text = await _reply(sandbox, await emu.slash(bob.id, art.id, "imagine", prompt="anything"))
    assert "off in this channel" in text
    shown = await _reply(sandbox, await emu.slash(alice.id, art.id, "setup", subcommand="show"))
    assert f"<#{art.id}>: off" in shown


async def test_a_quarantined_account_is_skipped(make_sandbox: Callable[..., Sandbox]) -> None:
    held = FakeMjProxy(secret="the-old-one", step_seconds=0.02)
    async with Running(make_sandbox(proxy=held, max_jobs=1)) as box:
        # The proxy's secret changed behind the bot's back: every submit there is now a 401.
        held.secret = "rotated"
        healthy = FakeMjProxy(step_seconds=0.3, progress_steps=2)
        await healthy.start()
        try:
            emu = box.emulator
            await _add_account(box, "healthy", healthy, 1)
            art, bob = emu.channel("art"), emu.world.member
            for i in range(3):
                await emu.slash(bob.id, art.id, "imagine", prompt=f"job {i}")
            await emu.wait_for(
                lambda: len([m for m in emu.messages(art.id) if is_result(m)]) == 3 or None, 30
            )
            # With one job running on "healthy", the next had to try the other account once:
            # its 401 took it out of rotation and the job waited for "healthy" instead.
            assert held.count("/mj/submit/imagine") == 1
            assert healthy.count("/mj/submit/imagine") == 3
            listing = await _reply(
                box, await emu.slash(emu.world.admin.id, art.id, "setup", subcommand="account list")
            )
            assert "out of rotation: auth" in listing
            reset = await _reply(
                box,
                await emu.slash(
                    emu.world.admin.id, art.id, "setup", subcommand="account reset", name="sandbox-proxy"
                ),
            )
            assert "back in rotation" in reset
        finally:
            await healthy.stop()


async def test_buttons_can_be_opened_to_anyone(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    alice, bob, art = emu.world.admin, emu.world.member, emu.channel("art")
    # Alice's job, bob clicks: refused by default (bob has no Manage Messages) …
    await emu.slash(alice.id, art.id, "imagine", prompt="shared")
    grid = await emu.wait_for_message(art.id, is_result, timeout=10)
    refused = await emu.click(bob.id, grid.id, custom_id(grid, "U1"))
    assert "Only" in await _reply(sandbox, refused)
    # … and allowed once the admin opens the buttons to anyone.
    await _reply(sandbox, await emu.slash(alice.id, art.id, "setup", subcommand="buttons", anyone=True))
    await emu.click(bob.id, grid.id, custom_id(grid, "U1"))
    await emu.wait_for_message(art.id, lambda m: m.id != grid.id and is_result(m), timeout=10)
    shown = await _reply(sandbox, await emu.slash(alice.id, art.id, "setup", subcommand="show"))
    assert "Usable by anyone" in shown


async def test_member_commands_info_jobs_show_cancel(make_sandbox: Callable[..., Sandbox]) -> None:
    async with Running(make_sandbox(proxy=FakeMjProxy(step_seconds=0.3, progress_steps=3))) as box:
        emu = box.emulator
        bob, art = emu.world.member, emu.channel("art")
        await emu.slash(bob.id, art.id, "imagine", prompt="a finished fox")
        grid = await emu.wait_for_message(art.id, is_result, timeout=10)
        box.proxy.faults.stick_next_task()
        await emu.slash(bob.id, art.id, "imagine", prompt="a stuck owl")
        await emu.wait_for_message(
            art.id, lambda m: "stuck owl" in m.content and "%)" in m.content, timeout=10
        )

        info = await _reply(box, await emu.slash(bob.id, art.id, "info"))
        assert "stuck owl" in info
        assert "1 of 10 at once" in info
        assert "midjourney-proxy" in info
        jobs = await _reply(box, await emu.slash(bob.id, art.id, "jobs"))
        assert "#1" in jobs
        assert "#2" in jobs

        show = await emu.slash(bob.id, art.id, "show", job=1)
        shown = await emu.wait_for_message(
            art.id, lambda m: "(job #1)" in m.content and is_result(m), timeout=10
        )
        assert shown.id != grid.id
        assert [len(r["components"]) for r in shown.components] == [5, 4]
        del show
        # The re-posted buttons work like the original ones.
        await emu.click(bob.id, shown.id, custom_id(shown, "U4"))
        await emu.wait_for_message(art.id, lambda m: "Image #4" in m.content and is_result(m), timeout=10)

        cancelled = await _reply(box, await emu.slash(bob.id, art.id, "cancel"))
        assert "Job #2 is cancelled" in cancelled
        await emu.wait_for_message(art.id, lambda m: "stuck owl" in m.content and "(Cancelled)" in m.content)
        assert emu.violations == []
