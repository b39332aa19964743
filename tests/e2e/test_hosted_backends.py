"""TheNextLeg and useapi.net end to end, and /settings on every backend: the same cogs, the
real bot, the Discord emulator, and the fake services over loopback."""

from __future__ import annotations

from collections.abc import Callable

from sandbox.discord import Message
from sandbox.fake_nextleg import FakeNextLeg
from sandbox.fake_useapi import FakeAccount, FakeUseApi
from sandbox.runner import Sandbox
from tests.e2e.conftest import (
    Running,
    buttons,
    custom_id,
    is_result,
    nextleg_backend,
    png_bytes,
    useapi_backend,
)

GRID = ["U1", "U2", "U3", "U4", "🔄", "V1", "V2", "V3", "V4"]


def _flat(message: Message) -> list[str]:
    return [label for row in buttons(message) for label in row]


async def _imagine_then(box: Sandbox, label: str, prompt: str = "a lighthouse") -> tuple[Message, Message]:
    emu = box.emulator
    art, bob = emu.channel("art"), emu.world.member
    await emu.slash(bob.id, art.id, "imagine", prompt=prompt)
    grid = await emu.wait_for_message(art.id, is_result, timeout=10)
    await emu.click(bob.id, grid.id, custom_id(grid, label))
    after = await emu.wait_for_message(art.id, lambda m: m.id != grid.id and is_result(m), timeout=10)
    return grid, after


async def test_nextleg_imagine_grid_upscale_and_variation(make_sandbox: Callable[..., Sandbox]) -> None:
    fake = FakeNextLeg(step_seconds=0.02)
    async with Running(make_sandbox(extra=[nextleg_backend(fake)], with_proxy=False)) as box:
        grid, upscale = await _imagine_then(box, "U2")
        assert _flat(grid) == GRID
        assert "Image #2" in upscale.content
        await box.emulator.click(box.emulator.world.member.id, grid.id, custom_id(grid, "V1"))
        variation = await box.emulator.wait_for_message(
            grid.channel_id, lambda m: m.id not in (grid.id, upscale.id) and is_result(m), timeout=10
        )
        assert _flat(variation) == GRID
        buttons_pressed = [r.json["button"] for r in fake.requests if r.path == "/v2/button"]
        assert buttons_pressed == ["U2", "V1"]
        assert box.emulator.violations == []


async def test_nextleg_failure_in_content_text_is_a_clear_error(make_sandbox: Callable[..., Sandbox]) -> None:
    fake = FakeNextLeg(step_seconds=0.02)
    async with Running(make_sandbox(extra=[nextleg_backend(fake)], with_proxy=False)) as box:
        fake.faults.job_fails("BANNED_PROMPT")
        emu = box.emulator
        art = emu.channel("art")
        await emu.slash(emu.world.member.id, art.id, "imagine", prompt="an innocent cat")
        failed = await emu.wait_for_message(art.id, lambda m: "(Failed)" in m.content, timeout=10)
        assert "refused this prompt" in failed.content


async def test_useapi_imagine_grid_and_upscale(make_sandbox: Callable[..., Sandbox]) -> None:
    fake = FakeUseApi(step_seconds=0.02)
    channel = next(iter(fake.accounts))
    async with Running(make_sandbox(extra=[useapi_backend(fake, channel)], with_proxy=False)) as box:
        grid, upscale = await _imagine_then(box, "U1")
        assert _flat(grid) == GRID
        assert "Image #1" in upscale.content
        assert box.emulator.violations == []


def _two_account_useapi(busy_limit: int) -> tuple[FakeUseApi, list[str]]:
    accounts = [
        FakeAccount(
            channel=f"11000000000000000{i}", discord=f"discord-token-{i}", server=f"12000000000000000{i}"
        )
        for i in (1, 2)
    ]
    for account in accounts:
        account.max_jobs = busy_limit
    return FakeUseApi(step_seconds=0.3, accounts=accounts), [a.channel for a in accounts]


async def test_useapi_busy_account_answers_429_and_the_job_waits(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    # The useapi account is busy with someone else's jobs: its next two answers are 429.
    fake, channels = _two_account_useapi(busy_limit=3)
    fake.faults.fail_next_submit(429)
    fake.faults.fail_next_submit(429)
    async with Running(make_sandbox(extra=[useapi_backend(fake, channels[0])], with_proxy=False)) as box:
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        await emu.slash(bob.id, art.id, "imagine", prompt="patience")
        waiting = await emu.wait_for_message(art.id, lambda m: "the bot will retry" in m.content, timeout=10)
        grid = await emu.wait_for_message(art.id, is_result, timeout=30)
        assert grid.id == waiting.id
        assert len([r for r in fake.requests if r.path == "/v2/jobs/imagine"]) == 3
        assert emu.violations == []


async def test_useapi_moderation_hold_takes_the_account_out_of_rotation(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    fake, channels = _two_account_useapi(busy_limit=3)
    fake.hold_for_moderation(channels[0])
    extra = [useapi_backend(fake, c, name=f"useapi-{c[-1]}", max_jobs=1) for c in channels]
    async with Running(make_sandbox(extra=extra, with_proxy=False)) as box:
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        await emu.slash(bob.id, art.id, "imagine", prompt="first")
        await emu.slash(bob.id, art.id, "imagine", prompt="second")
        await emu.wait_for(lambda: len([m for m in emu.messages(art.id) if is_result(m)]) == 2 or None, 30)
        assert box.bot is not None
        held = [a for a in await box.bot.store.list_accounts() if a.quarantine_reason]
        assert [a.name for a in held] == [f"useapi-{channels[0][-1]}"]
        assert "moderation" in (held[0].quarantine_reason or "")


async def test_a_duplicated_reply_posts_the_result_once(make_sandbox: Callable[..., Sandbox]) -> None:
    fake = FakeUseApi(step_seconds=0.02)
    fake.faults.duplicate_hooks = True
    channel = next(iter(fake.accounts))
    async with Running(make_sandbox(extra=[useapi_backend(fake, channel)], with_proxy=False)) as box:
        emu = box.emulator
        art = emu.channel("art")
        await emu.slash(emu.world.member.id, art.id, "imagine", prompt="twice told")
        grid = await emu.wait_for_message(art.id, is_result, timeout=10)
        await emu.wait_for(lambda: len(fake.hook_deliveries) >= 2 * 3 or None, 10)
        uploads = [c for c in emu.calls if c.files and c.path.endswith(f"/messages/{grid.id}")]
        assert len(uploads) == 1
        assert len([m for m in emu.messages(art.id) if is_result(m)]) == 1


async def _open_panel(box: Sandbox) -> Message:
    emu = box.emulator
    art, bob = emu.channel("art"), emu.world.member
    inter = await emu.slash(bob.id, art.id, "settings")
    await emu.wait_for(lambda: next((m for m in inter.ephemeral if m.components), None), 15)
    return next(m for m in inter.ephemeral if m.components)


def _green(message: Message) -> set[str]:
    return {
        c["label"]
        for row in message.components
        for c in row["components"]
        if c.get("type") == 2 and c.get("style") == 3
    }


async def test_settings_on_mj_proxy_become_prompt_flags(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    bob, art = emu.world.member, emu.channel("art")
    panel = await _open_panel(sandbox)
    assert "Current suffix: none" in panel.content
    await emu.click(bob.id, panel.id, custom_id(panel, "High quality (2x cost)"))
    await emu.wait_for(lambda: "--q 2" in emu.message(panel.id).content or None)
    await emu.select(bob.id, panel.id, "mjb:sv", ["MJ version 6.1"])
    await emu.wait_for(lambda: "--v 6.1 --q 2" in emu.message(panel.id).content or None)
    assert _green(emu.message(panel.id)) == {"High quality (2x cost)"}

    await emu.slash(bob.id, art.id, "imagine", prompt="a red fox --q 1")
    await emu.wait_for_message(art.id, is_result, timeout=10)
    [submit] = [r.json for r in sandbox.proxy.requests if r.path == "/mj/submit/imagine"]
    assert submit["prompt"] == "a red fox --q 1 --v 6.1"  # the prompt's own --q wins
    assert emu.violations == []


async def test_settings_on_nextleg_show_and_change_the_services_state(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    fake = FakeNextLeg(step_seconds=0.02)
    async with Running(make_sandbox(extra=[nextleg_backend(fake)], with_proxy=False)) as box:
        emu = box.emulator
        bob = emu.world.member
        panel = await _open_panel(box)
        assert "belong to the server's image service account" in panel.content
        assert "Style med" in _green(panel)
        await emu.click(bob.id, panel.id, custom_id(panel, "Style very high"))
        await emu.wait_for(lambda: "Style very high" in _green(emu.message(panel.id)) or None, 15)
        assert fake.settings.style == "Style very high"
        toggles = [r.json["settingsToggle"] for r in fake.requests if r.path == "/v2/settings" and r.json]
        assert toggles == ["Style very high"]
        assert emu.violations == []


async def test_fast_and_relax_shortcuts(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    art, bob = emu.channel("art"), emu.world.member
    inter = await emu.slash(bob.id, art.id, "relax")
    text = await emu.wait_for(
        lambda: next((m.content for m in inter.ephemeral if "Relax" in m.content), None)
    )
    assert "--relax" in text
    await emu.slash(bob.id, art.id, "imagine", prompt="slow and steady")
    await emu.wait_for_message(art.id, is_result, timeout=10)
    [submit] = [r.json for r in sandbox.proxy.requests if r.path == "/mj/submit/imagine"]
    assert str(submit["prompt"]).endswith("--relax")


async def test_blend_in_a_channel_kept_to_useapi_runs_there_by_url(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    fake = FakeUseApi(step_seconds=0.02)
    async with Running(make_sandbox(extra=[useapi_backend(fake, next(iter(fake.accounts)))])) as box:
        emu = box.emulator
        art, alice, bob = emu.channel("art"), emu.world.admin, emu.world.member
        setup = await emu.slash(
            alice.id, art.id, "setup", subcommand="channel", enabled=True, backend="useapi"
        )
        await emu.wait_for(lambda: next((m for m in setup.ephemeral if "useapi" in m.content), None))
        images = {f"image{n}": (f"{n}.png", png_bytes(), "image/png") for n in (1, 2)}
        await emu.slash(bob.id, art.id, "blend", **images)
        await emu.wait_for_message(art.id, is_result, timeout=10)
        assert fake.count("/v2/jobs/blend") == 1
        assert box.proxy.count("/mj/submit/") == 0  # the server's midjourney-proxy is not for this channel
