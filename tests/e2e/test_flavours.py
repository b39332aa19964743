"""midjourney-proxy's three flavours, and Remix, end to end through the real bot."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sandbox.discord import Message
from sandbox.fake_mj_proxy import FakeMjProxy
from sandbox.runner import Sandbox
from tests.e2e.conftest import Running, buttons, custom_id, done_without_image, is_result

GRID = [["U1", "U2", "U3", "U4", "🔄"], ["V1", "V2", "V3", "V4"]]


@pytest.mark.parametrize("flavour", ["java", "csharp", "oss"])
async def test_each_flavour_runs_the_grid_buttons(make_sandbox: Callable[..., Sandbox], flavour: str) -> None:
    proxy = FakeMjProxy(flavour=flavour, secret="s3cret", step_seconds=0.02)  # type: ignore[arg-type]
    async with Running(make_sandbox(proxy=proxy)) as box:
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        await emu.slash(bob.id, art.id, "imagine", prompt=f"a {flavour} lighthouse")
        grid = await emu.wait_for_message(art.id, is_result, timeout=10)
        # C# also tells seeds (✉️), a button of the bot's own.
        assert buttons(grid) == (GRID if flavour != "csharp" else [*GRID, ["Seed"]])
        for label in ("U1", "V2", "🔄"):
            seen = {m.id for m in emu.messages(art.id)}
            await emu.click(bob.id, grid.id, custom_id(grid, label))
            # (An upscale on the open-source proxy comes without buttons: it offers none.)
            await emu.wait_for_message(
                art.id, lambda m, s=seen: m.id not in s and bool(m.attachments), timeout=10
            )
        used = "/mj/submit/change" if flavour == "oss" else "/mj/submit/action"
        assert proxy.count(used) == 3
        assert emu.violations == []


async def test_an_upscale_on_the_open_source_proxy_offers_no_buttons(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    # (What the flavour cannot do is refused before a job: tests/e2e/test_account_capabilities.py.)
    proxy = FakeMjProxy(flavour="oss", step_seconds=0.02)
    async with Running(make_sandbox(proxy=proxy)) as box:
        _, upscale = await _grid_and_its_u1(box, "a plain grid")
        assert "Image #1" in upscale.content
        assert upscale.components == []


async def test_the_same_upscale_twice_on_the_open_source_proxy_ends_the_second_clearly(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    proxy = FakeMjProxy(flavour="oss", step_seconds=0.02)
    async with Running(make_sandbox(proxy=proxy)) as box:
        emu = box.emulator
        grid, _ = await _grid_and_its_u1(box, "a grid upscaled twice")
        # The proxy answers the second U1 with the first one's task ("already exists"): the
        # second job has no task of its own to follow, and says so instead of waiting forever.
        again = await emu.click(emu.world.member.id, grid.id, custom_id(grid, "U1"))
        done = await emu.wait_for(lambda: done_without_image(again.original))
        assert "made no new image" in done.content
        assert not done.components
        assert proxy.count("/mj/submit/change") == 2
        assert emu.violations == []


async def _grid_and_its_u1(box: Sandbox, prompt: str) -> tuple[Message, Message]:
    """An /imagine grid, and the upscale its U1 made."""
    emu = box.emulator
    art, bob = emu.channel("art"), emu.world.member
    await emu.slash(bob.id, art.id, "imagine", prompt=prompt)
    grid = await emu.wait_for_message(art.id, is_result, timeout=10)
    seen = {m.id for m in emu.messages(art.id)}
    await emu.click(bob.id, grid.id, custom_id(grid, "U1"))
    upscale = await emu.wait_for_message(
        art.id, lambda m: m.id not in seen and bool(m.attachments), timeout=10
    )
    return grid, upscale


@pytest.mark.parametrize("flavour", ["csharp", "java"])
async def test_remix_opens_a_prompt_editor_and_sends_the_new_prompt(
    make_sandbox: Callable[..., Sandbox], flavour: str
) -> None:
    proxy = FakeMjProxy(flavour=flavour, step_seconds=0.02)  # type: ignore[arg-type]
    proxy.account_remix = flavour == "java"  # plus remixes only when the account has Remix on
    async with Running(make_sandbox(proxy=proxy)) as box:
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        toggled = await emu.slash(bob.id, art.id, "prefer", subcommand="remix")
        await emu.wait_for(
            lambda: next((m for m in toggled.ephemeral if "Remix mode is on" in m.content), None)
        )
        await emu.slash(bob.id, art.id, "imagine", prompt="a cat on a wall")
        grid = await emu.wait_for_message(art.id, is_result, timeout=10)

        click = await emu.click(bob.id, grid.id, custom_id(grid, "V2"))
        await emu.wait_for_response(click)
        assert click.response_type == 9
        assert click.modal is not None
        assert click.modal["title"] == "Remix Prompt"
        seen = {m.id for m in emu.messages(art.id)}
        await emu.submit_modal(click, click.modal["custom_id"], {"Prompt": "a dog on a wall"})
        remixed = await emu.wait_for_message(art.id, lambda m: m.id not in seen and is_result(m), timeout=10)
        assert "a dog on a wall" in remixed.content
        assert "not used" not in remixed.content
        [modal] = [r.json for r in proxy.requests if r.path == "/mj/submit/modal"]
        assert modal["prompt"] == "a dog on a wall"
        # Upscales are not remixable: U1 runs at once, no editor.
        click = await emu.click(bob.id, grid.id, custom_id(grid, "U1"))
        await emu.wait_for_response(click)
        assert click.response_type != 9
        assert emu.violations == []


async def test_a_remix_the_account_ignores_shows_the_prompt_used_and_says_so(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    # Plus, whose Discord account has Remix off: the variation starts at once, from the original
    # prompt, and the edited one is dropped without a word.
    proxy = FakeMjProxy(flavour="java", step_seconds=0.02, account_remix=False)
    async with Running(make_sandbox(proxy=proxy)) as box:
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        toggled = await emu.slash(bob.id, art.id, "prefer", subcommand="remix")
        await emu.wait_for(
            lambda: next((m for m in toggled.ephemeral if "Remix mode is on" in m.content), None)
        )
        await emu.slash(bob.id, art.id, "imagine", prompt="a cat on a wall")
        grid = await emu.wait_for_message(art.id, is_result, timeout=10)
        click = await emu.click(bob.id, grid.id, custom_id(grid, "V2"))
        await emu.wait_for_response(click)
        assert click.modal is not None
        seen = {m.id for m in emu.messages(art.id)}
        await emu.submit_modal(click, click.modal["custom_id"], {"Prompt": "a dog on a wall"})
        remixed = await emu.wait_for_message(art.id, lambda m: m.id not in seen and is_result(m), timeout=10)
        [task_id] = [t for t in proxy.task_ids if proxy.task_json(t)["action"] == "VARIATION"]
        assert proxy.task_json(task_id)["prompt"] == "a cat on a wall"
        assert proxy.count("/mj/submit/modal") == 0
        assert "a cat on a wall" in remixed.content
        assert "a dog on a wall" not in remixed.content
        said = "Remix is off on this service's account, so your edited prompt was not used."
        assert said in remixed.content
        assert emu.violations == []
