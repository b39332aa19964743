"""What the bot shows is true: /settings offers only toggles that change what a channel's service
gets, ❤️ answers privately, /info names services as members know them, and a service's missing
capability is refused up front, naming the service. The real bot, the emulator and the fakes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.backends.base import Capability
from bot.backends.useapi import UseApiBackend
from sandbox.discord import Interaction, Message
from sandbox.fake_mj_proxy import FakeMjProxy
from sandbox.fake_nextleg import FakeNextLeg
from sandbox.fake_useapi import FakeUseApi
from sandbox.runner import Sandbox
from tests.e2e.conftest import Running, buttons, custom_id, is_result, nextleg_backend, useapi_backend

#: On SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_stores

PUBLIC_STEALTH = {"Public mode", "Stealth mode"}


def _labels(message: Message) -> set[str]:
    return {label for row in buttons(message) for label in row}


async def _said(box: Sandbox, inter: Interaction, text: str) -> str:
    """The first private message of ``inter`` holding ``text``."""
    found = await box.emulator.wait_for(
        lambda: next((m.content for m in inter.ephemeral if text in m.content), None), 15
    )
    assert found is not None
    return found


async def _panel(box: Sandbox, channel: str = "art") -> Message:
    emu = box.emulator
    inter = await emu.slash(emu.world.member.id, emu.channel(channel).id, "settings")
    return await emu.wait_for(lambda: next((m for m in inter.ephemeral if m.components), None), 15)


async def test_settings_on_mj_proxy_offer_no_public_or_stealth(sandbox: Sandbox) -> None:
    # Public and Stealth are not prompt flags: midjourney-proxy gets nothing from them.
    emu = sandbox.emulator
    art, bob = emu.channel("art"), emu.world.member
    panel = await _panel(sandbox)
    assert not _labels(panel) & PUBLIC_STEALTH
    assert {"Remix mode", "Fast mode", "Relax mode", "High quality (2x cost)"} <= _labels(panel)
    for command in ("stealth", "public"):
        inter = await emu.slash(bob.id, art.id, command)
        said = await _said(sandbox, inter, "midjourney-proxy has no")
        assert "mode the bot can switch" in said
    # Nothing was kept: the panel still shows neither, and a prompt gets no flag for them.
    assert (await sandbox.bot.store.user_prefs(emu.world.guild.id, bob.id)).stealth is None  # type: ignore[union-attr]
    assert emu.violations == []


async def test_settings_on_useapi_offer_remix_only_if_it_remixes(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    # Remix is offered where the service takes an edited prompt for a button: not useapi.net's
    # declaration here (so it would change nothing), but it follows the declaration.
    fake = FakeUseApi(step_seconds=0.02)
    async with Running(
        make_sandbox(extra=[useapi_backend(fake, next(iter(fake.accounts)))], with_proxy=False)
    ) as box:
        emu = box.emulator
        panel = await _panel(box)
        labels = _labels(panel)
        assert ("Remix mode" in labels) is (Capability.REMIX in UseApiBackend.capabilities)
        assert not labels & PUBLIC_STEALTH
        assert "Relax mode" in labels
        await emu.click(emu.world.member.id, panel.id, custom_id(panel, "Relax mode"))
        await emu.wait_for(lambda: "--relax" in emu.message(panel.id).content or None)
        await emu.slash(emu.world.member.id, emu.channel("art").id, "imagine", prompt="slow boat")
        await emu.wait_for_message(emu.channel("art").id, is_result, timeout=10)
        [submit] = [r.json for r in fake.requests if r.path == "/v2/jobs/imagine"]
        assert submit["prompt"] == "slow boat --relax"
        assert emu.violations == []


async def test_settings_follow_the_channels_service_not_the_guilds(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    # The server has TheNextLeg too, but #art is kept to midjourney-proxy: its panel is the
    # member's own and its toggles reach the proxy's prompts, not TheNextLeg.
    fake = FakeNextLeg(step_seconds=0.02)
    async with Running(make_sandbox(extra=[nextleg_backend(fake)])) as box:
        emu = box.emulator
        art, alice, bob = emu.channel("art"), emu.world.admin, emu.world.member
        setup = await emu.slash(
            alice.id, art.id, "setup", subcommand="channel", enabled=True, backend="mj_proxy"
        )
        await _said(box, setup, "The bot is on")
        panel = await _panel(box)
        assert "are yours in this server" in panel.content
        await emu.click(bob.id, panel.id, custom_id(panel, "High quality (2x cost)"))
        await emu.wait_for(lambda: "--q 2" in emu.message(panel.id).content or None)
        await emu.slash(bob.id, art.id, "imagine", prompt="a red fox")
        await emu.wait_for_message(art.id, is_result, timeout=10)
        [submit] = [r.json for r in box.proxy.requests if r.path == "/mj/submit/imagine"]
        assert submit["prompt"] == "a red fox --q 2"
        assert [r for r in fake.requests if r.path == "/v2/settings"] == []
        assert emu.violations == []


async def test_stealth_on_nextleg_is_the_services_own_toggle(make_sandbox: Callable[..., Sandbox]) -> None:
    fake = FakeNextLeg(step_seconds=0.02)
    async with Running(make_sandbox(extra=[nextleg_backend(fake)], with_proxy=False)) as box:
        emu = box.emulator
        panel = await _panel(box)
        assert _labels(panel) >= PUBLIC_STEALTH
        inter = await emu.slash(emu.world.member.id, emu.channel("art").id, "stealth")
        await _said(box, inter, "Stealth mode is on.")
        toggles = [r.json["settingsToggle"] for r in fake.requests if r.path == "/v2/settings" and r.json]
        assert toggles == ["Stealth mode"]
        assert emu.violations == []


async def _upscale(box: Sandbox) -> Message:
    emu = box.emulator
    art, bob = emu.channel("art"), emu.world.member
    await emu.slash(bob.id, art.id, "imagine", prompt="a lighthouse")
    grid = await emu.wait_for_message(art.id, is_result, timeout=10)
    await emu.click(bob.id, grid.id, custom_id(grid, "U1"))
    return await emu.wait_for_message(art.id, lambda m: m.id != grid.id and is_result(m), timeout=10)


async def test_a_refused_bookmark_is_said_to_the_member_alone(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    upscale = await _upscale(sandbox)
    seen = {m.id for m in emu.messages(upscale.channel_id)}
    sandbox.proxy.faults.fail_next_submit(code=3, description="no such task")
    click = await emu.click(emu.world.member.id, upscale.id, custom_id(upscale, "❤️"))
    said = await _said(sandbox, click, "no such task")
    assert "Bookmarked" not in said
    assert {m.id for m in emu.messages(upscale.channel_id)} == seen  # no job message in the channel
    assert sandbox.bot is not None
    jobs = await sandbox.bot.store.member_jobs(emu.world.guild.id, emu.world.member.id, limit=10)
    assert [j.kind.value for j in jobs] == ["upscale", "imagine"]  # and no job for the ❤️
    assert emu.violations == []


def _fields(message: Message) -> dict[str, str]:
    return {f["name"]: f["value"] for e in message.embeds for f in e.get("fields", [])}


async def _info(box: Sandbox, channel: str) -> dict[str, str]:
    emu = box.emulator
    inter = await emu.slash(emu.world.member.id, emu.channel(channel).id, "info")
    message = await emu.wait_for(lambda: next((m for m in inter.ephemeral if m.embeds), None))
    assert message is not None
    return _fields(message)


async def test_info_names_services_and_shows_aimg_only_where_allowed(aimg_sandbox: Sandbox) -> None:
    art = await _info(aimg_sandbox, "art")
    assert art["This channel"] == "midjourney-proxy"  # AIMG's adult content is not for #art
    assert art["Limits"].endswith("at once · no daily limit")
    after_dark = await _info(aimg_sandbox, "after-dark")
    assert after_dark["This channel"] == "AIMG, midjourney-proxy"
    emu = aimg_sandbox.emulator
    setup = await emu.slash(
        emu.world.admin.id, emu.channel("art").id, "setup", subcommand="limits", per_user_daily=5
    )
    await emu.wait_for(lambda: next((m for m in setup.ephemeral if m.content), None))
    assert (await _info(aimg_sandbox, "art"))["Limits"].endswith("at once · today: 5 of 5 left")
    assert aimg_sandbox.emulator.violations == []


async def _admin_text(box: Sandbox, subcommand: str, **options: object) -> str:
    emu = box.emulator
    inter = await emu.slash(
        emu.world.admin.id, emu.channel("art").id, "setup", subcommand=subcommand, **options
    )

    def text() -> str | None:
        bodies = [m.content + " ".join(str(e) for e in m.embeds) for m in inter.ephemeral if not m.loading]
        return next((b for b in bodies if b.strip()), None)

    return await emu.wait_for(text, 10)


async def test_setup_list_and_show_name_services_as_members_know_them(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    fake = FakeUseApi(step_seconds=0.02)
    async with Running(make_sandbox(extra=[useapi_backend(fake, next(iter(fake.accounts)))])) as box:
        await _admin_text(box, "channel", enabled=True, backend="useapi")
        listing = await _admin_text(box, "account list")
        shown = await _admin_text(box, "show")
        for text in (listing, shown):
            assert "midjourney-proxy" in text and "useapi.net" in text
            assert "mj_proxy" not in text and "useapi," not in text and "useapi at" not in text
        assert f"<#{box.emulator.channel('art').id}>: on, useapi.net only" in shown


async def test_cancel_says_when_the_service_could_not_stop_the_job(sandbox: Sandbox) -> None:
    # The plus proxy has no cancel route: the bot stops the job, says the service may finish it,
    # and does not call a route that is not there.
    emu = sandbox.emulator
    art, bob = emu.channel("art"), emu.world.member
    sandbox.proxy.faults.stick_next_task()
    await emu.slash(bob.id, art.id, "imagine", prompt="a long job")
    running = await emu.wait_for_message(
        art.id, lambda m: "%)" in m.content and "Cancel" in str(buttons(m)), 10
    )
    click = await emu.click(bob.id, running.id, custom_id(running, "Cancel"))
    said = await _said(sandbox, click, "Job #1 is cancelled here")
    assert "midjourney-proxy (plus) could not stop it" in said
    await emu.wait_for_message(art.id, lambda m: "(Cancelled)" in m.content, timeout=10)
    assert not [r for r in sandbox.proxy.requests if r.path.endswith("/cancel")]
    assert emu.violations == []


async def test_what_a_service_cannot_do_is_never_the_members_mistake(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    # The open-source proxy has no /shorten: refused before a job, privately, naming the service
    # and its flavour, and not asking the member to check their prompt.
    async with Running(make_sandbox(proxy=FakeMjProxy(flavour="oss", step_seconds=0.02))) as box:
        emu = box.emulator
        art = emu.channel("art")
        bob = emu.world.member
        inter = await emu.slash(bob.id, art.id, "shorten", prompt="a long prompt about many things")
        said = await _said(box, inter, "can't shorten prompts")
        assert said.startswith("This server's midjourney-proxy (open-source) account can't")
        assert "Check the prompt" not in said
        assert not [m for m in emu.messages(art.id) if "(Failed)" in m.content]
        assert emu.violations == []


async def test_prefer_remix_is_refused_where_no_service_remixes(make_sandbox: Callable[..., Sandbox]) -> None:
    fake = FakeNextLeg(step_seconds=0.02)
    async with Running(make_sandbox(extra=[nextleg_backend(fake)], with_proxy=False)) as box:
        emu = box.emulator
        bob = emu.world.member
        inter = await emu.slash(bob.id, emu.channel("art").id, "prefer", subcommand="remix")
        said = await _said(box, inter, "TheNextLeg can't remix prompts")
        assert "Remix mode would change nothing here." in said
        assert box.bot is not None and not (await box.bot.store.user_prefs(emu.world.guild.id, bob.id)).remix
        assert emu.violations == []
