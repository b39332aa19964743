"""/imagine end to end: the real discord.py bot, the Discord emulator and the fake midjourney-proxy."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from bot.config import JobSettings
from bot.domain import Job
from sandbox.discord import Interaction
from sandbox.fake_mj_proxy import FakeMjProxy
from sandbox.runner import Sandbox
from tests.e2e.conftest import Running, buttons, custom_id, is_result, png_bytes

#: On SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_stores

GRID_ROWS = [["U1", "U2", "U3", "U4", "🔄"], ["V1", "V2", "V3", "V4"]]


async def _ephemeral_text(box: Sandbox, interaction: Interaction, needle: str) -> str:
    def found() -> str | None:
        return next((m.content for m in interaction.ephemeral if needle in m.content), None)

    return await box.emulator.wait_for(found, timeout=10)


async def test_imagine_shows_progress_then_grid_then_u2_upscales(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    # Steps slower than the 0.5 s progress pacing, so progress edits show.
    async with Running(make_sandbox(proxy=FakeMjProxy(step_seconds=0.4, progress_steps=3))) as box:
        await _imagine_then_upscale(box)


async def _imagine_then_upscale(sandbox: Sandbox) -> None:
    emu, proxy = sandbox.emulator, sandbox.proxy
    art, bob = emu.channel("art"), emu.world.member
    feed = emu.subscribe()

    inter = await emu.slash(bob.id, art.id, "imagine", prompt="a lighthouse at dusk")
    grid = await emu.wait_for_message(art.id, is_result, timeout=10)
    # The job's message is the command's own (public) response, filled in through its webhook.
    assert inter.original is not None and grid.id == inter.original.id
    assert not grid.loading and not grid.ephemeral

    assert grid.content.startswith("**a lighthouse at dusk** - <@")
    assert buttons(grid) == GRID_ROWS
    assert grid.attachments[0].data.startswith(b"\x89PNG")
    # The same message went through "Waiting to start" and a progress percentage first.
    seen = []
    while not feed.empty():
        event = feed.get_nowait()
        if event.kind.startswith("message_") and event.data["message"]["id"] == str(grid.id):
            seen.append(event.data["message"])
    assert any("Waiting to start" in m["content"] for m in seen)
    progress = [m for m in seen if m["content"].endswith("%)")]
    assert progress, seen
    # Progress edits leave the Cancel button the first write put there: they do not resend it.
    assert all("Cancel" in str(m["components"]) for m in progress)
    edits = [
        c
        for c in emu.calls
        if c.method == "PATCH" and c.route == "/channels/{channel_id}/messages/{message_id}"
    ]
    assert edits and all("components" not in c.body for c in edits)

    await emu.click(bob.id, grid.id, custom_id(grid, "U2"))
    upscale = await emu.wait_for_message(art.id, lambda m: m.id != grid.id and is_result(m), timeout=10)
    assert "Image #2" in upscale.content
    labels = [label for row in buttons(upscale) for label in row]
    assert {"Vary (Strong)", "Vary (Subtle)", "Zoom Out 2x", "Custom Zoom", "⬅️", "➡️"} <= set(labels)
    actions = [r.json for r in proxy.requests if r.path == "/mj/submit/action"]
    assert len(actions) == 1 and actions[0]["customId"].startswith("MJ::JOB::upsample::2::")
    # The pressed button is now highlighted on the grid.
    pressed = [
        c for row in emu.message(grid.id).components for c in row["components"] if c.get("label") == "U2"
    ]
    assert pressed[0]["style"] == 1
    assert emu.violations == []


async def test_buttons_still_work_after_a_restart(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    art, bob = emu.channel("art"), emu.world.member
    await emu.slash(bob.id, art.id, "imagine", prompt="a red fox")
    grid = await emu.wait_for_message(art.id, is_result, timeout=10)

    await sandbox.restart_bot()

    await emu.click(bob.id, grid.id, custom_id(grid, "V3"))
    variation = await emu.wait_for_message(art.id, lambda m: m.id != grid.id and is_result(m), timeout=10)
    assert buttons(variation) == GRID_ROWS
    assert "Variations #3" in variation.content
    assert emu.violations == []


async def test_a_job_running_during_a_restart_finishes_once(make_sandbox: Callable[..., Sandbox]) -> None:
    box = make_sandbox(proxy=FakeMjProxy(step_seconds=0.3, progress_steps=3))
    async with Running(box):
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        await emu.slash(bob.id, art.id, "imagine", prompt="a slow castle")
        # Stop the bot once the task is running on the backend.
        await emu.wait_for_message(art.id, lambda m: m.content.endswith("%)"), timeout=10)
        await box.stop_bot()
        # The task finishes while the bot is down: its push is lost, the restart must fetch it.
        async with asyncio.timeout(10):
            await box.proxy.wait_for(box.proxy.task_ids[0], "SUCCESS")
        await box.start_bot()
        grid = await emu.wait_for_message(art.id, is_result, timeout=10)
        await asyncio.sleep(0.5)  # room for a wrong second post to show up
        results = [m for m in emu.messages(art.id) if is_result(m)]
        assert [m.id for m in results] == [grid.id]
        assert emu.violations == []


async def test_lost_pushes_are_covered_by_polling(sandbox: Sandbox) -> None:
    emu, proxy = sandbox.emulator, sandbox.proxy
    proxy.faults.drop_hooks = True
    art, bob = emu.channel("art"), emu.world.member
    await emu.slash(bob.id, art.id, "imagine", prompt="a quiet harbor")
    grid = await emu.wait_for_message(art.id, is_result, timeout=10)
    assert buttons(grid) == GRID_ROWS
    # Polled: one by one (GET …/fetch) or in batches (POST …/list-by-condition).
    assert proxy.count("/mj/task/", method="GET") + proxy.count("/mj/task/list-by-condition") >= 1
    assert not any(d.delivered for d in proxy.hook_deliveries)


async def test_a_push_before_the_submit_answer_is_applied_and_spares_polling(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    # The task's first push reaches the bot while its submit call still waits for the answer.
    # Pushes come every 0.75 s; the bot polls a pushing job only after 4 poll intervals (1.2 s)
    # of silence, and a job not known to push after 1 interval (0.3 s): so a fetch here means
    # that first push was dropped and the job polled as if its backend never pushed.
    proxy = FakeMjProxy(step_seconds=0.75, progress_steps=1)
    proxy.faults.late_submit_answer = 0.1
    async with Running(make_sandbox(proxy=proxy)) as box:
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        await emu.slash(bob.id, art.id, "imagine", prompt="an early bird")
        await emu.wait_for_message(art.id, is_result, timeout=10)
        first = proxy.hook_deliveries[0]
        assert first.delivered and first.body["status"] == "SUBMITTED"
        assert proxy.count("/mj/task/", method="GET") + proxy.count("/mj/task/list-by-condition") == 0


async def test_banned_prompt_ends_with_a_clear_message(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    art, bob = emu.channel("art"), emu.world.member
    await emu.slash(bob.id, art.id, "imagine", prompt="something forbidden here")
    failed = await emu.wait_for_message(art.id, lambda m: "(Failed)" in m.content, timeout=10)
    assert "refused this prompt" in failed.content and "Rephrase" in failed.content
    assert failed.components == []


async def test_queue_full_waits_with_a_clear_message_then_retries(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    sandbox.proxy.faults.fail_next_submit(code=23)
    art, bob = emu.channel("art"), emu.world.member
    await emu.slash(bob.id, art.id, "imagine", prompt="a busy day")
    waiting = await emu.wait_for_message(art.id, lambda m: "the bot will retry" in m.content, timeout=10)
    assert "the image service is busy" in waiting.content
    grid = await emu.wait_for_message(art.id, is_result, timeout=15)
    assert grid.id == waiting.id
    assert sandbox.proxy.count("/mj/submit/imagine") == 2


async def test_queue_full_until_the_deadline_fails_clearly(make_sandbox: Callable[..., Sandbox]) -> None:
    # Rests of 0.6–1.0 s: the third submit comes after the 1 s deadline, whatever the jitter.
    jobs = JobSettings(
        timeout_seconds=1.0,
        poll_interval_seconds=0.2,
        progress_edit_seconds=0.0,
        queue_full_retry_seconds=0.8,
    )
    async with Running(make_sandbox(jobs=jobs)) as box:
        for _ in range(3):
            box.proxy.faults.fail_next_submit(code=23)
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        await emu.slash(bob.id, art.id, "imagine", prompt="a busy day")
        failed = await emu.wait_for_message(art.id, lambda m: "(Failed)" in m.content, timeout=15)
        assert "busy right now" in failed.content


async def test_backend_down_ends_with_a_clear_message(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    sandbox.proxy.faults.fail_next_submit(status=500)
    art, bob = emu.channel("art"), emu.world.member
    await emu.slash(bob.id, art.id, "imagine", prompt="a dark server room")
    failed = await emu.wait_for_message(art.id, lambda m: "(Failed)" in m.content, timeout=10)
    assert "unreachable" in failed.content


async def test_stuck_job_times_out(make_sandbox: Callable[..., Sandbox]) -> None:
    jobs = JobSettings(timeout_seconds=1.0, poll_interval_seconds=0.2, progress_edit_seconds=0.0)
    box = make_sandbox(jobs=jobs)
    async with Running(box):
        box.proxy.faults.stick_next_task()
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        await emu.slash(bob.id, art.id, "imagine", prompt="an endless stair")
        failed = await emu.wait_for_message(art.id, lambda m: "(Failed)" in m.content, timeout=10)
        assert "took too long" in failed.content


async def test_only_the_owner_can_use_the_buttons(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    art, alice, bob = emu.channel("art"), emu.world.admin, emu.world.member
    await emu.slash(alice.id, art.id, "imagine", prompt="alice's garden")
    grid = await emu.wait_for_message(art.id, is_result, timeout=10)

    click = await emu.click(bob.id, grid.id, custom_id(grid, "U1"))
    assert f"Only <@{alice.id}> can use these buttons." in await _ephemeral_text(sandbox, click, "Only")
    assert sandbox.proxy.count("/mj/submit/action") == 0


async def test_image_prompts_are_sent_as_base64(sandbox: Sandbox) -> None:
    emu, proxy = sandbox.emulator, sandbox.proxy
    art, bob = emu.channel("art"), emu.world.member
    await emu.slash(
        bob.id, art.id, "imagine", prompt="in this style", image1=("ref.png", png_bytes(), "image/png")
    )
    await emu.wait_for_message(art.id, is_result, timeout=10)
    [submit] = [r.json for r in proxy.requests if r.path == "/mj/submit/imagine"]
    assert len(submit["base64Array"]) == 1 and submit["base64Array"][0].startswith("data:image/png;base64,")


async def test_a_non_image_attachment_is_refused_before_any_backend_call(sandbox: Sandbox) -> None:
    emu, proxy = sandbox.emulator, sandbox.proxy
    art, bob = emu.channel("art"), emu.world.member
    inter = await emu.slash(
        bob.id, art.id, "imagine", prompt="x", image1=("notes.png", b"not an image at all", "image/png")
    )
    text = await _ephemeral_text(sandbox, inter, "notes.png")
    assert "is not a PNG, JPEG, WebP or GIF image" in text
    assert proxy.count("/mj/submit/") == 0


async def test_a_post_whose_id_was_lost_is_not_posted_twice(
    make_sandbox: Callable[..., Sandbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    # "Imagine all" starts four jobs from one click: the click's response shows the first, the
    # other three are posted in the channel. One post's id never reaches the store (as when the
    # bot is killed right after it): the next write posts again with the same nonce and Discord
    # hands back the first message instead of making a second.
    async with Running(make_sandbox(proxy=FakeMjProxy(step_seconds=0.4, progress_steps=2))) as box:
        assert box.bot is not None
        store = box.bot.store
        real = store.update_job
        lost: list[int] = []

        async def lose_first(job_id: int, **fields: Any) -> Job:
            if fields.get("message_id") is not None and not lost:
                lost.append(fields["message_id"])
                raise RuntimeError("killed before the id was stored")
            return await real(job_id, **fields)

        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        await emu.slash(bob.id, art.id, "describe", image=("photo.png", png_bytes(), "image/png"))
        described = await emu.wait_for_message(art.id, lambda m: "Imagine all" in str(buttons(m)), 10)
        monkeypatch.setattr(store, "update_job", lose_first)
        await emu.click(bob.id, described.id, custom_id(described, "Imagine all"))
        await emu.wait_for(lambda: len([m for m in emu.messages(art.id) if is_result(m)]) == 4 or None, 15)
        assert lost and lost[0] in {m.id for m in emu.messages(art.id) if is_result(m)}
        grids = [m for m in emu.messages(art.id) if m.id != described.id and m.author_id == emu.world.bot.id]
        assert len(grids) == 4, [g.content for g in grids]
        # The re-post's job had states made before its id was recorded: each was written within
        # the budget it needed (an edit queued as a post spent a post's slot: a 429).
        assert emu.rate_limited == []


async def test_a_change_nobody_sees_does_not_hold_back_the_first_progress_edit(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    # queued → submitted shows the same "Waiting to start". Were it written anyway (as a no-op),
    # it would start the job's 1 s progress pacing when it went, and the first progress, pushed
    # 1.2 s after the submit, would wait until 2 s after the message was filled in.
    pacing = JobSettings(timeout_seconds=20, poll_interval_seconds=0.3, progress_edit_seconds=1.0)
    box = make_sandbox(jobs=pacing, proxy=FakeMjProxy(step_seconds=1.2, progress_steps=1))
    async with Running(box):
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        inter = await emu.slash(bob.id, art.id, "imagine", prompt="a quiet harbour")
        await emu.wait_for_message(art.id, lambda m: m.content.endswith("%)"), timeout=10)
        assert inter.original is not None

        def wrote(needle: str) -> float:
            return next(c.at for c in emu.calls if c.method == "PATCH" and needle in str(c.body))

        filled, progress = wrote("Waiting to start"), wrote("%)")
        # 1.2 s when the pacing is left alone; 2 s when a no-op write restarted it.
        assert progress - filled < 1.6, progress - filled
        assert emu.violations == []
