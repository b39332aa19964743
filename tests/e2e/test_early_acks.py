"""Job commands are acknowledged from the gateway event (bot/discord_side/early_acks.py), end to end."""

from __future__ import annotations

import asyncio
from typing import Any

import discord
import pytest

from sandbox.discord import Interaction, Message
from sandbox.runner import Sandbox
from tests.e2e.conftest import is_result

#: On SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_stores


def _callbacks(sandbox: Sandbox, interaction: Interaction) -> list[tuple[float, int]]:
    """(arrival, status) of every callback request about ``interaction``, in order."""
    return [
        (c.at, c.status)
        for c in sandbox.emulator.calls
        if (c.route or "").endswith("/callback") and c.path.split("/")[2] == str(interaction.id)
    ]


def _tree_checks(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """When (the emulator's clock) discord.py's command tree gets each interaction, from now on."""
    emu, bot = sandbox.emulator, sandbox.bot
    assert bot is not None
    seen: list[float] = []
    check = bot.tree.interaction_check

    async def recording(interaction: discord.Interaction[Any], /) -> bool:
        seen.append(emu.clock.now())
        return await check(interaction)

    monkeypatch.setattr(bot.tree, "interaction_check", recording)
    return seen


async def test_imagine_is_acknowledged_before_the_command_tree_sees_it(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = sandbox.emulator
    seen = _tree_checks(sandbox, monkeypatch)
    art, bob = emu.channel("art"), emu.world.member
    inter = await emu.slash(bob.id, art.id, "imagine", prompt="a lighthouse at dusk")
    grid = await emu.wait_for_message(art.id, is_result, timeout=10)

    # The acknowledgement (the public "thinking…" that becomes the job's message) reached Discord
    # before discord.py's command tree got the interaction; a command's own defer() comes after.
    callbacks = _callbacks(sandbox, inter)
    assert [status for _, status in callbacks] == [200]
    assert seen and callbacks[0][0] < seen[0]
    assert inter.response_type == 5 and inter.original is not None and grid.id == inter.original.id
    assert emu.violations == []


async def test_no_command_of_a_burst_runs_while_one_of_its_acknowledgements_is_on_its_way(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = sandbox.emulator
    checked = _tree_checks(sandbox, monkeypatch)
    art, bob = emu.channel("art"), emu.world.member
    slow = await emu.slash(bob.id, art.id, "imagine", prompt="a slow network")
    # Its acknowledgement reaches Discord 0.6 s after it left the bot (the bot has not read the
    # event yet: this runs before the emulator's loop gives it a turn).
    emu.delay_in_transit(f"POST /interactions/{slow.id}/*/callback", 0.6)
    quick = await emu.slash(bob.id, art.id, "imagine", prompt="a quick one")
    await emu.wait_for(lambda: len(checked) == 2 and slow.acked, timeout=5)

    [(slow_ack, _)] = _callbacks(sandbox, slow)
    [(quick_ack, _)] = _callbacks(sandbox, quick)
    assert slow_ack - slow.created_at >= 0.55 and quick_ack < slow_ack
    # Neither command (not even the one acknowledged at once) ran before the last acknowledgement
    # was in: the burst's acknowledgements go first (a hold of 0.25 s would have let both run).
    assert min(checked) >= slow_ack


async def test_a_failed_early_acknowledgement_is_made_by_the_command(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    emu = sandbox.emulator
    emu.inject_fault("POST /interactions/*/*/callback", 500, times=1)
    art, bob = emu.channel("art"), emu.world.member
    inter = await emu.slash(bob.id, art.id, "imagine", prompt="a red fox")
    grid = await emu.wait_for_message(art.id, is_result, timeout=10)

    # The early one failed (Discord's 500); the command's own defer() acknowledged it, and the job
    # went on in that response as usual.
    assert [status for _, status in _callbacks(sandbox, inter)] == [500, 200]
    assert any(
        r.name == "bot.discord_side.early_acks" and str(inter.id) in r.getMessage() for r in caplog.records
    )
    assert inter.original is not None and grid.id == inter.original.id
    assert emu.violations == []


async def test_commands_that_may_answer_otherwise_are_not_acknowledged_early(sandbox: Sandbox) -> None:
    # /fast answers with a private sentence: a public "thinking…" sent early would make that
    # impossible, so it is acknowledged by the command (a private defer: a service that keeps
    # settings itself takes seconds), through discord.py, as before.
    emu = sandbox.emulator
    art, bob = emu.channel("art"), emu.world.member
    inter = await emu.wait_for_response(await emu.slash(bob.id, art.id, "fast"), timeout=10)
    assert inter.response_type == 5 and inter.original is not None and inter.original.ephemeral
    assert [status for _, status in _callbacks(sandbox, inter)] == [200]


@pytest.mark.parametrize(("status", "times"), [(502, 1), (503, 1), (504, 1), (502, 2), (504, 2)])
async def test_an_edge_error_page_on_the_early_acknowledgement_still_ends_in_a_result(
    sandbox: Sandbox, status: int, times: int
) -> None:
    # Discord's edge (Cloudflare) answers with an HTML page, not JSON: the early acknowledgement
    # fails and the command's own defer() acknowledges within the 3 s (discord.py retries a
    # 502/504 once more after a second).
    emu = sandbox.emulator
    emu.inject_fault("POST /interactions/*/*/callback", status, times=times, html=True)
    art, bob = emu.channel("art"), emu.world.member
    inter = await emu.slash(bob.id, art.id, "imagine", prompt="a lighthouse behind a bad gateway")
    grid = await emu.wait_for_message(art.id, is_result, timeout=10)

    assert [s for _, s in _callbacks(sandbox, inter)] == [status] * times + [200]
    assert inter.original is not None and grid.id == inter.original.id
    assert emu.violations == []


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 504, "html": True, "delay": 5.0},  # the edge holds the request, then gives up
        {"status": 502, "reset": True},  # the connection closes with no answer
    ],
    ids=["no-answer-in-time", "connection-reset"],
)
async def test_an_early_acknowledgement_without_an_answer_is_made_by_the_command_within_3_s(
    sandbox: Sandbox, fault: dict[str, Any]
) -> None:
    emu = sandbox.emulator
    emu.inject_fault("POST /interactions/*/*/callback", **fault)
    art, bob = emu.channel("art"), emu.world.member
    inter = await emu.slash(bob.id, art.id, "imagine", prompt="a lighthouse in the fog")
    grid = await emu.wait_for_message(art.id, is_result, timeout=10)

    # The command's own defer() reached Discord within the interaction's 3 s.
    (accepted,) = [at for at, status in _callbacks(sandbox, inter) if status == 200]
    assert accepted < emu.ids.timestamp(inter.id) + 3.0
    assert inter.original is not None and grid.id == inter.original.id
    assert emu.violations == []


async def test_an_early_acknowledgement_discord_took_but_never_answered_is_not_made_twice(
    sandbox: Sandbox,
) -> None:
    # Discord acknowledged the interaction, but its answer never came back in time: the command's
    # defer() is refused as a second acknowledgement (40060), and the job takes the message the
    # first one made.
    emu = sandbox.emulator
    emu.inject_fault("POST /interactions/*/*/callback", 504, html=True, delay=5.0, processed=True)
    art, bob = emu.channel("art"), emu.world.member
    inter = await emu.slash(bob.id, art.id, "imagine", prompt="a lighthouse acknowledged once")
    grid = await emu.wait_for_message(art.id, is_result, timeout=10)

    assert inter.original is not None and grid.id == inter.original.id
    assert [m for m in emu.messages(art.id) if m.author_id == emu.world.bot.id] == [grid]


async def test_commands_sent_as_the_bot_starts_are_not_resumed_as_left_over(sandbox: Sandbox) -> None:
    """The restart's resume of commands an earlier process left must not take this process's own
    commands, recorded while it reads: they would run twice (and be acknowledged twice)."""
    emu = sandbox.emulator
    art, bob = emu.channel("art"), emu.world.member
    await sandbox.stop_bot()
    sessions = set(emu.gateway.sessions)
    starting = asyncio.create_task(sandbox.start_bot())
    # Sent as soon as the new gateway session is up: before the bot calls itself ready, which is
    # when it looks for commands an earlier process left.
    await emu.wait_for(lambda: (set(emu.gateway.sessions) - sessions) or None, timeout=10)
    for n in range(8):
        await emu.slash(bob.id, art.id, "imagine", prompt=f"a harbour, take {n}")
    await starting

    def grids() -> list[Message] | None:
        found = [m for m in emu.messages(art.id) if is_result(m) and "a harbour" in m.content]
        return found if len(found) >= 8 else None

    assert len(await emu.wait_for(grids, timeout=20)) == 8
    assert sandbox.bot is not None and sandbox.bot._resuming is not None
    await sandbox.bot._resuming
    assert emu.violations == []
    assert len(await sandbox.bot.store.member_jobs(emu.world.guild.id, bob.id, limit=100)) == 8
