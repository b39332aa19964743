"""TheNextLeg beyond /imagine, end to end: /describe and /blend by the attachments' Discord URLs
(refused once those expire), Custom Zoom, /seed, and the account's status in /info."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from bot.domain import BackendKind
from bot.sandbox.discord import Interaction, Message
from bot.sandbox.fake_nextleg import FakeNextLeg
from bot.sandbox.runner import ExtraBackend, Sandbox
from tests.e2e.conftest import Running, buttons, custom_id, is_result, png_bytes


def _nextleg(fake: FakeNextLeg, max_jobs: int = 3) -> ExtraBackend:
    return ExtraBackend(
        fake, BackendKind.NEXTLEG, "tnl", secret=fake.secret, max_jobs=max_jobs, options={"min_interval": "0"}
    )


def _labels(message: Message) -> list[str]:
    return [label for row in buttons(message) for label in row]


async def _said(box: Sandbox, inter: Interaction, text: str) -> Message:
    return await box.emulator.wait_for(
        lambda: next((m for m in inter.ephemeral if text in m.content), None), 15
    )


def _attachment_urls(box: Sandbox, inter: Interaction) -> list[str]:
    """The URLs Discord gave the bot for the command's attachments, in option order."""
    resolved = inter.data["resolved"]["attachments"]
    return [
        resolved[option["value"]]["url"] for option in inter.data["options"] if option["value"] in resolved
    ]


async def test_describe_sends_the_attachments_discord_url_and_its_prompts_can_be_picked(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    fake = FakeNextLeg(step_seconds=0.02)
    async with Running(make_sandbox(extra=[_nextleg(fake)], with_proxy=False)) as box:
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        inter = await emu.slash(
            bob.id, art.id, "describe", image=("photo.png", png_bytes("teal"), "image/png")
        )
        described = await emu.wait_for_message(art.id, lambda m: bool(m.embeds) and bool(m.components), 15)
        [url] = _attachment_urls(box, inter)
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
    async with Running(make_sandbox(extra=[_nextleg(fake)], with_proxy=False)) as box:
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
        assert [r.json["urls"] for r in fake.requests if r.path == "/v2/blend"] == [
            _attachment_urls(box, inter)
        ]
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
    async with Running(make_sandbox(extra=[_nextleg(fake, max_jobs=1)], with_proxy=False)) as box:
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        await emu.slash(bob.id, art.id, "imagine", prompt="takes forever")
        await emu.wait_for(lambda: [r for r in fake.requests if r.path == "/v2/imagine"] or None)
        assert box.bot is not None
        [stuck] = await box.bot.engine.member_jobs(emu.world.guild.id, bob.id, limit=5)
        emu.limits.attachment_url_seconds = 2.0
        inter = await emu.slash(bob.id, art.id, "describe", image=("photo.png", png_bytes(), "image/png"))
        [url] = _attachment_urls(box, inter)
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
