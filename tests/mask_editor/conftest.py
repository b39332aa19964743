"""A sandbox whose bot serves the mask editor, and the way to a Vary (Region) link."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.config import Settings, WebSettings
from sandbox.discord import Interaction, Message
from sandbox.fake_mj_proxy import FakeMjProxy
from sandbox.runner import Sandbox
from tests.e2e.conftest import FAST_JOBS, Running, custom_id, is_result


@pytest.fixture
async def editor_sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    box = Sandbox(
        Settings(jobs=FAST_JOBS, web=WebSettings(mask_editor=True)),
        store_path=tmp_path / "mjbot.sqlite3",
        proxy=FakeMjProxy(step_seconds=0.05),
    )
    async with Running(box):
        yield box


@dataclass
class EditorLink:
    url: str
    upscale: Message
    click: Interaction


def results(box: Sandbox) -> set[int]:
    art = box.emulator.channel("art")
    return {m.id for m in box.emulator.messages(art.id) if is_result(m)}


async def new_result(box: Sandbox, before: set[int]) -> Message:
    art = box.emulator.channel("art")
    return await box.emulator.wait_for_message(
        art.id, lambda m: m.id not in before and is_result(m), timeout=10
    )


async def editor_link(box: Sandbox, prompt: str = "a cat on a sofa", *, admin: bool = False) -> EditorLink:
    """A member's (or the admin's) upscale, and the editor link a click on its Vary (Region) answers
    privately."""
    emu = box.emulator
    bob, art = (emu.world.admin if admin else emu.world.member), emu.channel("art")
    before = results(box)
    await emu.slash(bob.id, art.id, "imagine", prompt=prompt)
    grid = await new_result(box, before)
    before = results(box)
    await emu.click(bob.id, grid.id, custom_id(grid, "U3"))
    upscale = await new_result(box, before)
    click = await emu.click(bob.id, upscale.id, custom_id(upscale, "Vary (Region)"))
    await emu.wait_for_response(click)
    [answer] = click.ephemeral
    [button] = [c for row in answer.components for c in row["components"]]
    assert button["style"] == 5  # a link button
    return EditorLink(str(button["url"]), upscale, click)
