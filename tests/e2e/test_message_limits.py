"""A job's final always reaches its message, whatever the backend gave: content within Discord's
2000 characters, at most 5 rows of 5 buttons, and when Discord still refuses the final, a short
one saying the result could not be shown, with its link. A body Discord refuses never costs the
interaction's token."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from bot.domain import Job
from sandbox.discord import Message
from sandbox.fake_mj_proxy import FakeMjProxy
from sandbox.runner import Sandbox
from tests.e2e.conftest import Running, buttons, custom_id, is_result

#: On SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_stores

#: A prompt at the bot's limit (4000 characters), in words the fake proxy lets through.
LONG_PROMPT = ("a very long prompt about a lighthouse on a cliff " * 100)[:4000].strip()


async def _posted(box: Sandbox, message: Message) -> Job:
    """The job ``message`` shows, once the bot has recorded its final as posted."""
    assert box.bot is not None
    emu = box.emulator
    async with asyncio.timeout(5):
        while True:
            jobs = await box.bot.store.member_jobs(emu.world.guild.id, emu.world.member.id, limit=50)
            [job] = [j for j in jobs if j.message_id == message.id]
            if job.result_posted:
                return job
            await asyncio.sleep(0.05)


async def test_a_4000_character_prompt_with_an_expired_image_link_gets_its_final(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    proxy = FakeMjProxy(step_seconds=0.05)
    proxy.faults.expired_images = True
    async with Running(make_sandbox(proxy=proxy)) as box:
        emu = box.emulator
        art = emu.channel("art")
        await emu.slash(emu.world.member.id, art.id, "imagine", prompt=LONG_PROMPT)
        final = await emu.wait_for_message(art.id, lambda m: "/images/expired/" in m.content, timeout=10)
        job = await _posted(box, final)
        assert job.image_url
        assert len(final.content) <= 2000
        assert final.content.endswith(f"\n{job.image_url}")  # the link whole, the prompt shortened
        assert "…" in final.content
        assert "U1" in str(buttons(final))
        assert emu.violations == []


async def test_an_upscale_with_more_buttons_than_discord_shows_keeps_5_rows_and_its_link(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    proxy = FakeMjProxy(step_seconds=0.05)
    proxy.faults.extra_buttons = 12  # an upscale's 13 buttons become 25, and the link a 26th
    async with Running(make_sandbox(proxy=proxy)) as box:
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        await emu.slash(bob.id, art.id, "imagine", prompt="a lighthouse")
        grid = await emu.wait_for_message(art.id, is_result, timeout=10)
        assert len(grid.components) == 5
        await emu.click(bob.id, grid.id, custom_id(grid, "U1"))
        upscale = await emu.wait_for_message(art.id, lambda m: m.id != grid.id and is_result(m), timeout=10)
        rows = buttons(upscale)
        assert len(rows) == 5 and all(len(row) <= 5 for row in rows)
        assert rows[-1][-1] == "Web"  # the link stays; the last backend button made room
        assert "Extra 12" not in str(rows) and "Upscale (Subtle)" in str(rows)
        assert emu.violations == []


async def test_a_final_discord_refuses_becomes_a_short_final_and_keeps_the_token(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    async with Running(make_sandbox(proxy=FakeMjProxy(step_seconds=0.4))) as box:
        await _short_final(box)


async def _short_final(box: Sandbox) -> None:
    emu = box.emulator
    art = emu.channel("art")
    await emu.slash(emu.world.member.id, art.id, "imagine", prompt="a refused final")
    running = await emu.wait_for_message(art.id, lambda m: "%)" in m.content, timeout=10)
    # The final goes through the interaction's webhook; Discord refuses its body once.
    emu.inject_fault("PATCH /webhooks/*", 400, code=50035, message="Invalid Form Body")

    def short_final() -> Message | None:
        message = emu.message(running.id)
        return message if "could not be shown" in message.content else None

    final = await emu.wait_for(short_final, 10)
    job = await _posted(box, final)
    assert job.reply is not None  # a body error is not a dead token
    assert job.image_url and job.image_url in final.content
    assert final.components == []  # no Cancel left on a finished job
