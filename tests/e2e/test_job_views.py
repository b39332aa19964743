"""A job message's buttons are answered by the DynamicItems registered once (cogs/buttons.py), not
by a view discord.py keeps per message (bot/discord_side/render.py builds only their layout)."""

from __future__ import annotations

import pytest

from sandbox.runner import Sandbox
from tests.e2e.conftest import custom_id, is_result

#: On SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_stores


def _kept_for(box: Sandbox, message_id: int) -> bool:
    assert box.bot is not None
    store = box.bot._connection._view_store
    return message_id in store._views or message_id in store._synced_message_views


async def test_job_messages_keep_no_view_and_their_buttons_work(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    art, bob = emu.channel("art"), emu.world.member
    await emu.slash(bob.id, art.id, "imagine", prompt="a lighthouse at dusk")
    running = await emu.wait_for_message(art.id, lambda m: "Cancel" in str(m.components), timeout=10)
    grid = await emu.wait_for_message(art.id, is_result, timeout=10)
    assert not _kept_for(sandbox, running.id) and not _kept_for(sandbox, grid.id)

    await emu.click(bob.id, grid.id, custom_id(grid, "U1"))
    upscale = await emu.wait_for_message(art.id, lambda m: m.id != grid.id and is_result(m), timeout=10)
    assert "Image #1" in upscale.content
    assert not _kept_for(sandbox, upscale.id)
    assert emu.violations == []
