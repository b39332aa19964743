"""midjourney-proxy's Niji bot (``botType``) and seeds (C#'s image-seed), end to end."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sandbox.discord import Message
from sandbox.fake_mj_proxy import FakeMjProxy
from sandbox.runner import Sandbox
from tests.e2e.conftest import Running, buttons, custom_id, is_result, png_bytes
from tests.e2e.test_setup import _reply


def _bodies(proxy: FakeMjProxy, path: str) -> list[dict[str, object]]:
    return [r.json for r in proxy.requests if r.path == path]


async def _choose_niji(box: Sandbox) -> None:
    emu = box.emulator
    bob, art = emu.world.member, emu.channel("art")
    inter = await emu.slash(bob.id, art.id, "settings")
    panel = await emu.wait_for(lambda: next((m for m in inter.ephemeral if m.components), None), 15)
    await emu.select(bob.id, panel.id, "mjb:sv", ["Niji version 6"])
    await emu.wait_for(lambda: "--niji 6" in emu.message(panel.id).content or None)


@pytest.mark.parametrize("flavour", ["java", "csharp"])
async def test_a_niji_prompt_goes_to_the_niji_bot_and_its_buttons_stay_there(
    make_sandbox: Callable[..., Sandbox], flavour: str
) -> None:
    proxy = FakeMjProxy(flavour=flavour, step_seconds=0.02)  # type: ignore[arg-type]
    async with Running(make_sandbox(proxy=proxy)) as box:
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        await emu.slash(bob.id, art.id, "imagine", prompt="a paper crane --niji 6")
        grid = await emu.wait_for_message(art.id, is_result, timeout=10)
        await emu.slash(bob.id, art.id, "imagine", prompt="a plain crane")
        await emu.wait_for_message(art.id, lambda m: is_result(m) and "plain crane" in m.content, timeout=10)
        niji, plain = _bodies(proxy, "/mj/submit/imagine")
        assert niji["botType"] == "NIJI_JOURNEY"
        assert "botType" not in plain  # the proxy's default: the Midjourney bot
        seen = {m.id for m in emu.messages(art.id)}
        await emu.click(bob.id, grid.id, custom_id(grid, "U1"))
        await emu.wait_for_message(art.id, lambda m: m.id not in seen and bool(m.attachments), timeout=10)
        # The upscale runs on its parent's bot without being told.
        first, *_, upscale = (proxy._tasks[i] for i in proxy.task_ids)
        assert first.final_prompt == "a paper crane --niji 6"
        assert upscale.action == "UPSCALE" and upscale.bot_type == "NIJI_JOURNEY"
        assert emu.violations == []


async def test_choosing_niji_in_settings_sends_imagine_blend_describe_and_shorten_to_it(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    proxy = FakeMjProxy(flavour="csharp", step_seconds=0.02)
    async with Running(make_sandbox(proxy=proxy)) as box:
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        await _choose_niji(box)
        await emu.slash(bob.id, art.id, "imagine", prompt="a koi pond")
        await emu.slash(
            bob.id,
            art.id,
            "blend",
            image1=("a.png", png_bytes("red"), "image/png"),
            image2=("b.png", png_bytes("blue"), "image/png"),
        )
        await emu.slash(bob.id, art.id, "describe", image=("c.png", png_bytes("green"), "image/png"))
        await emu.slash(bob.id, art.id, "shorten", prompt="a very long prompt about a koi pond at dawn")
        for path in ("imagine", "blend", "describe", "shorten"):
            await emu.wait_for(lambda p=path: _bodies(proxy, f"/mj/submit/{p}") or None, timeout=10)
            [body] = _bodies(proxy, f"/mj/submit/{path}")
            assert body["botType"] == "NIJI_JOURNEY", path
        [imagine] = _bodies(proxy, "/mj/submit/imagine")
        assert imagine["prompt"] == "a koi pond --niji 6"
        # A prompt's own version flag wins over the /settings choice.
        await emu.slash(bob.id, art.id, "imagine", prompt="a koi pond --v 6.1")
        await emu.wait_for(lambda: len(_bodies(proxy, "/mj/submit/imagine")) == 2 or None, timeout=10)
        assert "botType" not in _bodies(proxy, "/mj/submit/imagine")[1]
        assert emu.violations == []


async def test_the_open_source_proxy_gets_no_bot_type_and_keeps_the_flag(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    proxy = FakeMjProxy(flavour="oss", step_seconds=0.02)
    async with Running(make_sandbox(proxy=proxy)) as box:
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        await emu.slash(bob.id, art.id, "imagine", prompt="a paper crane --niji 6")
        grid = await emu.wait_for_message(art.id, is_result, timeout=10)
        [body] = _bodies(proxy, "/mj/submit/imagine")
        assert "botType" not in body and body["prompt"] == "a paper crane --niji 6"
        assert "Seed" not in str(grid.components)  # no seed on this flavour
        assert emu.violations == []


async def _seed_button_answer(box: Sandbox, grid: Message, words: str) -> Message:
    """The private answer to ✉️ Seed that contains ``words``."""
    emu = box.emulator
    pressed = await emu.click(emu.world.member.id, grid.id, custom_id(grid, "Seed"))
    return await emu.wait_for(lambda: next((m for m in pressed.ephemeral if words in m.content), None), 10)


async def test_the_seed_button_tells_the_member_the_seed(make_sandbox: Callable[..., Sandbox]) -> None:
    proxy = FakeMjProxy(flavour="csharp", step_seconds=0.02)
    async with Running(make_sandbox(proxy=proxy)) as box:
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        await emu.slash(bob.id, art.id, "imagine", prompt="a seeded lighthouse")
        grid = await emu.wait_for_message(art.id, is_result, timeout=10)
        task_id = proxy.task_ids[0]
        seed = proxy._tasks[task_id].seed
        await _seed_button_answer(box, grid, f"`{seed}`")
        assert [r.path for r in proxy.requests][-1] == f"/mj/task/{task_id}/image-seed"
        assert len(proxy.task_ids) == 1  # no new job
        # The service refusing (a task it forgot) is one sentence, privately.
        proxy._tasks.pop(task_id)
        refused = await _seed_button_answer(box, grid, "任务不存在")
        assert "`" not in refused.content
        assert emu.violations == []


async def _tested(box: Sandbox) -> str:
    emu = box.emulator
    inter = await emu.slash(
        emu.world.admin.id,
        emu.channel("general").id,
        "setup",
        subcommand="account test",
        name="sandbox-proxy",
    )
    return await emu.wait_for(
        lambda: next((m.content for m in inter.ephemeral if "✅" in m.content), None), 10
    )


@pytest.mark.parametrize("flavour", ["java", "oss"])
async def test_account_test_counts_the_proxys_own_accounts_and_queue(
    make_sandbox: Callable[..., Sandbox], flavour: str
) -> None:
    proxy = FakeMjProxy(flavour=flavour, step_seconds=0.02, core_size=1)  # type: ignore[arg-type]
    async with Running(make_sandbox(proxy=proxy)) as box:
        emu = box.emulator
        assert (await _tested(box)).endswith(
            "The proxy has 1 of 1 Discord accounts enabled and 0 tasks queued."
        )
        proxy.faults.stick_next_task()
        for prompt in ("a stuck lighthouse", "a waiting lighthouse"):
            await emu.slash(emu.world.member.id, emu.channel("art").id, "imagine", prompt=prompt)
            await emu.wait_for(lambda p=prompt: any(t.prompt == p for t in proxy._tasks.values()) or None)
        await emu.wait_for(lambda: any(t.waiting for t in proxy._tasks.values()) or None)
        tested = await _tested(box)
        assert tested.endswith("1 of 1 Discord accounts enabled and 1 tasks queued.")
        assert "lighthouse" not in tested  # counts only, never what the proxy sent


async def test_setup_show_counts_the_proxys_own_accounts_and_queue(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    proxy = FakeMjProxy(flavour="oss", step_seconds=0.02)
    async with Running(make_sandbox(proxy=proxy)) as box:
        emu = box.emulator
        inter = await emu.slash(emu.world.admin.id, emu.channel("general").id, "setup", subcommand="show")
        shown = await _reply(box, inter)
        assert "The proxy has 1 of 1 Discord accounts enabled and 0 tasks queued." in shown
        assert emu.violations == []


async def test_account_test_on_csharp_says_only_what_it_offers(make_sandbox: Callable[..., Sandbox]) -> None:
    proxy = FakeMjProxy(flavour="csharp", step_seconds=0.02)
    async with Running(make_sandbox(proxy=proxy)) as box:
        tested = await _tested(box)
        assert "The proxy has" not in tested  # C# v10+: accounts behind admin routes, no queue
        assert {r.path for r in proxy.requests} >= {"/mj/task/queue"}


async def test_the_seed_button_keeps_midjourneys_rows_on_an_upscale(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    proxy = FakeMjProxy(flavour="csharp", step_seconds=0.02)
    async with Running(make_sandbox(proxy=proxy)) as box:
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        await emu.slash(bob.id, art.id, "imagine", prompt="a rowed lighthouse")
        grid = await emu.wait_for_message(art.id, is_result, timeout=10)
        seen = {m.id for m in emu.messages(art.id)}
        await emu.click(bob.id, grid.id, custom_id(grid, "U1"))
        upscale = await emu.wait_for_message(
            art.id, lambda m: m.id not in seen and bool(m.attachments), timeout=10
        )
        rows = buttons(upscale)
        assert rows[-1][0] == "Seed" and len(rows) <= 5  # (with the link to the full image)
        assert rows[0][:2] == ["Upscale (Subtle)", "Upscale (Creative)"]
