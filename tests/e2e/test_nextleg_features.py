"""TheNextLeg beyond /imagine, end to end: /describe and /blend by the attachments' Discord URLs
(refused once those expire), Custom Zoom, /seed, and the account's status in /info."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest

from sandbox.discord import Interaction, Message
from sandbox.fake_nextleg import FakeNextLeg, seed_of
from sandbox.runner import Sandbox
from tests.e2e.conftest import (
    Running,
    attachment_urls,
    buttons,
    custom_id,
    is_answer,
    is_result,
    nextleg_backend,
    png_bytes,
)

#: On SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_stores


def _labels(message: Message) -> list[str]:
    return [label for row in buttons(message) for label in row]


async def _said(box: Sandbox, inter: Interaction, text: str) -> Message:
    return await box.emulator.wait_for(
        lambda: next((m for m in inter.ephemeral if text in m.content), None), 15
    )


async def test_describe_sends_the_attachments_discord_url_and_its_prompts_can_be_picked(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    fake = FakeNextLeg(step_seconds=0.02)
    async with Running(make_sandbox(extra=[nextleg_backend(fake)], with_proxy=False)) as box:
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        inter = await emu.slash(
            bob.id, art.id, "describe", image=("photo.png", png_bytes("teal"), "image/png")
        )
        described = await emu.wait_for_message(art.id, is_answer, 15)
        [url] = attachment_urls(inter)
        assert {"ex", "is", "hm"} <= set(parse_qs(urlsplit(url).query))  # signed, as Discord's are
        assert [r.json for r in fake.requests if r.path == "/v2/describe"] == [
            {"url": url, "ref": f"mjbot:{1}", **_webhook(fake)}
        ]
        assert _labels(described)[:4] == ["1️⃣", "2️⃣", "3️⃣", "4️⃣"]
        await emu.click(bob.id, described.id, custom_id(described, "2️⃣"))
        await emu.wait_for_message(art.id, is_result, 15)
        [imagine] = [r.json for r in fake.requests if r.path == "/v2/imagine"]
        assert imagine["msg"] == "flat colour field, colour study, bauhaus --ar 1:1"
        assert emu.violations == []


def _webhook(fake: FakeNextLeg) -> dict[str, str]:
    """The webhookOverride the bot sends, if any (read back from the fake's first submit)."""
    first = next(r.json for r in fake.requests if r.json and "ref" in r.json)
    return {"webhookOverride": first["webhookOverride"]} if "webhookOverride" in first else {}


async def test_blend_sends_the_attachments_discord_urls(make_sandbox: Callable[..., Sandbox]) -> None:
    fake = FakeNextLeg(step_seconds=0.02)
    async with Running(make_sandbox(extra=[nextleg_backend(fake)], with_proxy=False)) as box:
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        inter = await emu.slash(
            bob.id,
            art.id,
            "blend",
            image1=("a.png", png_bytes("red"), "image/png"),
            image2=("b.png", png_bytes("blue"), "image/png"),
        )
        grid = await emu.wait_for_message(art.id, is_result, 15)
        assert grid.content.startswith("**/blend** - ")
        assert [r.json["urls"] for r in fake.requests if r.path == "/v2/blend"] == [attachment_urls(inter)]
        # TheNextLeg's blend has no shape: another one fails, saying so, without calling the service.
        await emu.slash(
            bob.id,
            art.id,
            "blend",
            image1=("a.png", png_bytes("red"), "image/png"),
            image2=("b.png", png_bytes("blue"), "image/png"),
            dimensions="PORTRAIT",
        )
        failed = await emu.wait_for_message(art.id, lambda m: "(Failed)" in m.content, 15)
        assert "square images only" in failed.content
        assert len([r for r in fake.requests if r.path == "/v2/blend"]) == 1
        assert emu.violations == []


async def test_a_describe_that_waits_past_its_links_expiry_is_refused_with_upload_again(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    fake = FakeNextLeg(step_seconds=0.02)
    fake.faults.stick_next_job()
    async with Running(make_sandbox(extra=[nextleg_backend(fake, max_jobs=1)], with_proxy=False)) as box:
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        await emu.slash(bob.id, art.id, "imagine", prompt="takes forever")
        await emu.wait_for(lambda: [r for r in fake.requests if r.path == "/v2/imagine"] or None)
        assert box.bot is not None
        [stuck] = await box.bot.store.member_jobs(emu.world.guild.id, bob.id, limit=5)
        emu.limits.attachment_url_seconds = 2.0
        inter = await emu.slash(bob.id, art.id, "describe", image=("photo.png", png_bytes(), "image/png"))
        [url] = attachment_urls(inter)
        expiry = int(parse_qs(urlsplit(url).query)["ex"][0], 16)
        await asyncio.sleep(max(0.0, expiry - time.time()) + 0.2)  # the describe waits for the one slot
        await emu.slash(bob.id, art.id, "cancel", job=stuck.id)
        failed = await emu.wait_for_message(
            art.id, lambda m: "/describe" in m.content and "(Failed)" in m.content, 15
        )
        assert "links to your images expired while the job waited" in failed.content
        assert "Upload the images with /describe again." in failed.content
        assert [r for r in fake.requests if r.path == "/v2/describe"] == []
        assert emu.violations == []


async def _upscale(box: Sandbox, prompt: str) -> Message:
    emu = box.emulator
    art, bob = emu.channel("art"), emu.world.member
    await emu.slash(bob.id, art.id, "imagine", prompt=prompt)
    grid = await emu.wait_for_message(art.id, is_result, 15)
    await emu.click(bob.id, grid.id, custom_id(grid, "U1"))
    return await emu.wait_for_message(art.id, lambda m: m.id != grid.id and is_result(m), 15)


async def test_custom_zoom_sends_prompt_zoom_and_aspect_ratio(make_sandbox: Callable[..., Sandbox]) -> None:
    fake = FakeNextLeg(step_seconds=0.02)
    async with Running(make_sandbox(extra=[nextleg_backend(fake)], with_proxy=False)) as box:
        emu = box.emulator
        bob = emu.world.member
        upscale = await _upscale(box, "a castle")
        assert "Custom Zoom" in _labels(upscale)
        assert "Vary (Region)" not in _labels(upscale)  # the service takes no mask with a button
        click = await emu.click(bob.id, upscale.id, custom_id(upscale, "Custom Zoom"))
        await emu.wait_for_response(click)
        assert click.modal is not None and click.modal["title"] == "Zoom Out"
        seen = {m.id for m in emu.messages(upscale.channel_id)}
        await emu.submit_modal(
            click, click.modal["custom_id"], {"Prompt": "a castle at night --ar 16:9", "Zoom (1 to 2)": "1.8"}
        )
        zoomed = await emu.wait_for_message(
            upscale.channel_id, lambda m: m.id not in seen and is_result(m), 15
        )
        [body] = [
            r.json for r in fake.requests if r.path == "/v2/button" and r.json["button"] == "Custom Zoom"
        ]
        assert (body["prompt"], body["zoom"], body["ar"]) == ("a castle at night", 1.8, "16:9")
        assert "Zoom Out" in zoomed.content
        assert emu.violations == []


async def _toggle_remix(box: Sandbox, panel: Message) -> None:
    """Press "Remix mode" on the /settings panel; back once the bot showed the service's answer."""
    emu = box.emulator
    before = emu.message(panel.id).edited_at
    await emu.click(emu.world.member.id, panel.id, custom_id(panel, "Remix mode"))
    await emu.wait_for(lambda: emu.message(panel.id).edited_at != before or None, 15)


async def test_remix_on_nextleg_opens_no_editor_and_refuses_the_press(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    fake = FakeNextLeg(step_seconds=0.02)
    async with Running(make_sandbox(extra=[nextleg_backend(fake)], with_proxy=False)) as box:
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        await emu.slash(bob.id, art.id, "imagine", prompt="a meadow")
        grid = await emu.wait_for_message(art.id, is_result, 15)
        panel_inter = await emu.slash(bob.id, art.id, "settings")
        panel = await emu.wait_for(lambda: next((m for m in panel_inter.ephemeral if m.components), None), 15)
        await _toggle_remix(box, panel)
        assert fake.settings.remix
        click = await emu.click(bob.id, grid.id, custom_id(grid, "V2"))
        await _said(
            box, click, "TheNextLeg can't remix prompts from the bot yet. Turn Remix off in /settings"
        )
        assert click.modal is None
        assert [r for r in fake.requests if r.path == "/v2/button"] == []
        # Remix off again: the same button works.
        await _toggle_remix(box, panel)
        await emu.click(bob.id, grid.id, custom_id(grid, "V2"))
        await emu.wait_for_message(art.id, lambda m: m.id != grid.id and is_result(m), 15)
        assert [r.json["button"] for r in fake.requests if r.path == "/v2/button"] == ["V2"]
        assert emu.violations == []


async def test_seed_of_a_finished_job(make_sandbox: Callable[..., Sandbox]) -> None:
    fake = FakeNextLeg(step_seconds=0.02)
    async with Running(make_sandbox(extra=[nextleg_backend(fake)], with_proxy=False)) as box:
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        await emu.slash(bob.id, art.id, "imagine", prompt="a lighthouse")
        await emu.wait_for_message(art.id, is_result, 15)
        assert box.bot is not None
        [job] = await box.bot.store.member_jobs(emu.world.guild.id, bob.id, limit=5)
        inter = await emu.slash(bob.id, art.id, "seed", job=job.id)
        said = await _said(box, inter, "seed is")
        assert f"**{seed_of(job.backend_task_id or '')}**" in said.content
        assert [r.json for r in fake.requests if r.path == "/v2/seed"] == [{"messageId": job.backend_task_id}]
        assert emu.violations == []


async def test_seed_where_the_service_cannot_tell_it(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    art, bob = emu.channel("art"), emu.world.member
    await emu.slash(bob.id, art.id, "imagine", prompt="a lighthouse")
    await emu.wait_for_message(art.id, is_result, 15)
    assert sandbox.bot is not None
    [job] = await sandbox.bot.store.member_jobs(emu.world.guild.id, bob.id, limit=5)
    inter = await emu.slash(bob.id, art.id, "seed", job=job.id)
    await _said(sandbox, inter, "midjourney-proxy (plus) can't tell a job's seed from the bot yet.")
    assert emu.violations == []


def _account_field(message: Message) -> dict[str, str] | None:
    fields = message.embeds[0]["fields"] if message.embeds else []
    return next(
        ({"name": f["name"], "value": f["value"]} for f in fields if f["name"].startswith("Account")), None
    )


async def test_info_shows_the_account_status_asked_once_a_minute_at_most(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    fake = FakeNextLeg(step_seconds=0.02)
    async with Running(make_sandbox(extra=[nextleg_backend(fake)], with_proxy=False)) as box:
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        infos = []
        for _ in range(2):
            inter = await emu.slash(bob.id, art.id, "info")
            infos.append(
                await emu.wait_for(lambda i=inter: next((m for m in i.ephemeral if m.embeds), None), 15)
            )
        for info in infos:
            account = _account_field(info)
            assert account is not None and account["name"] == "Account (TheNextLeg)"
            assert account["value"].splitlines() == [
                f"{key}: {fake.info()[key]}"
                for key in (
                    "Fast Time Remaining",
                    "Job Mode",
                    "Queued Jobs (fast)",
                    "Queued Jobs (relax)",
                    "Subscription",
                    "Visibility Mode",
                )
            ]
        assert len([r for r in fake.requests if r.path == "/v2/info"]) == 1  # the second is the cached answer
        assert emu.violations == []


async def test_info_has_no_account_field_where_the_service_has_no_status(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    inter = await emu.slash(emu.world.member.id, emu.channel("art").id, "info")
    info = await emu.wait_for(lambda: next((m for m in inter.ephemeral if m.embeds), None))
    assert _account_field(info) is None


async def test_info_still_answers_when_the_account_status_cannot_be_read(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    fake = FakeNextLeg(step_seconds=0.02)
    fake.faults.fail_next_submit(500)
    async with Running(make_sandbox(extra=[nextleg_backend(fake)], with_proxy=False)) as box:
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        inter = await emu.slash(bob.id, art.id, "info")
        info = await emu.wait_for(lambda: next((m for m in inter.ephemeral if m.embeds), None), 15)
        account = _account_field(info)
        assert account is not None and account["name"] == "Account"
        assert account["value"].startswith(
            "The image service is unreachable right now. Try again in a few minutes."
        )
        assert "tnl-token" not in account["value"]
        # A failure is not kept: the next /info asks again.
        inter = await emu.slash(bob.id, art.id, "info")
        info = await emu.wait_for(lambda: next((m for m in inter.ephemeral if m.embeds), None), 15)
        account = _account_field(info)
        assert account is not None and account["name"] == "Account (TheNextLeg)"
        assert len([r for r in fake.requests if r.path == "/v2/info"]) == 2
        assert emu.violations == []


async def test_info_shows_no_account_of_a_service_the_channel_is_not_kept_to(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    fake = FakeNextLeg(step_seconds=0.02)
    async with Running(make_sandbox(extra=[nextleg_backend(fake)])) as box:
        emu = box.emulator
        art, alice, bob = emu.channel("art"), emu.world.admin, emu.world.member
        setup = await emu.slash(
            alice.id, art.id, "setup", subcommand="channel", enabled=True, backend="mj_proxy"
        )
        await emu.wait_for(lambda: setup.ephemeral or None)
        inter = await emu.slash(bob.id, art.id, "info")
        info = await emu.wait_for(lambda: next((m for m in inter.ephemeral if m.embeds), None), 15)
        assert _account_field(info) is None
        assert [r for r in fake.requests if r.path == "/v2/info"] == []
