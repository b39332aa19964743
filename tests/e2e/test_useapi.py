"""useapi.net end to end: buttons that take a prompt or a mask, Remix, cancelling at the service,
/blend and /describe by the attachments' URLs, and its prompt limit."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image

from bot.config import Settings, WebSettings
from bot.domain import BackendKind
from sandbox.discord import Message
from sandbox.fake_useapi import FakeAccount, FakeUseApi
from sandbox.runner import ExtraBackend, Sandbox
from tests.e2e.conftest import FAST_JOBS, Running, custom_id, is_answer, is_result, png_bytes
from tests.e2e.test_setup import _reply

#: On SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_stores

CHANNEL = "1100000000000000001"


def _box(
    make_sandbox: Callable[..., Sandbox], fake: FakeUseApi, max_jobs: int = 3, *, pinned: bool = True
) -> Sandbox:
    account = ExtraBackend(
        fake,
        BackendKind.USEAPI,
        "useapi",
        secret=fake.secret,
        max_jobs=max_jobs,
        options={"channel": CHANNEL} if pinned else {},
    )
    return make_sandbox(extra=[account], with_proxy=False)


def _results(box: Sandbox) -> set[int]:
    return {m.id for m in box.emulator.messages(box.emulator.channel("art").id) if is_result(m)}


async def _new_result(box: Sandbox, before: set[int]) -> Message:
    art = box.emulator.channel("art")
    return await box.emulator.wait_for_message(
        art.id, lambda m: m.id not in before and is_result(m), timeout=10
    )


async def _upscale(box: Sandbox, prompt: str) -> Message:
    emu = box.emulator
    bob, art = emu.world.member, emu.channel("art")
    before = _results(box)
    await emu.slash(bob.id, art.id, "imagine", prompt=prompt)
    grid = await _new_result(box, before)
    before = _results(box)
    await emu.click(bob.id, grid.id, custom_id(grid, "U1"))
    return await _new_result(box, before)


def _button_calls(fake: FakeUseApi, label: str) -> list[dict[str, object]]:
    return [
        r.json for r in fake.requests if r.path == "/v2/jobs/button" and r.json and r.json["button"] == label
    ]


async def test_custom_zoom_sends_its_prompt_with_the_button(make_sandbox: Callable[..., Sandbox]) -> None:
    fake = FakeUseApi(step_seconds=0.02)
    async with Running(_box(make_sandbox, fake)) as box:
        emu = box.emulator
        upscale = await _upscale(box, "a lighthouse")
        click = await emu.click(emu.world.member.id, upscale.id, custom_id(upscale, "Custom Zoom"))
        await emu.wait_for_response(click)
        assert click.modal is not None and click.modal["title"] == "Zoom Out"
        before = _results(box)
        await emu.submit_modal(
            click, click.modal["custom_id"], {"Prompt": "a lighthouse at dusk", "Zoom (1 to 2)": "1.8"}
        )
        zoomed = await _new_result(box, before)
        assert "a lighthouse at dusk" in zoomed.content
        [call] = _button_calls(fake, "Custom Zoom")
        assert call["prompt"] == "a lighthouse at dusk --ar 1:1 --zoom 1.8"
        assert emu.violations == []


async def test_a_button_prompt_too_long_for_useapi_is_refused_before_sending(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    fake = FakeUseApi(step_seconds=0.02)
    async with Running(_box(make_sandbox, fake)) as box:
        emu = box.emulator
        upscale = await _upscale(box, "a lighthouse")
        click = await emu.click(emu.world.member.id, upscale.id, custom_id(upscale, "Custom Zoom"))
        await emu.wait_for_response(click)
        assert click.modal is not None
        # 2040 characters typed; with the zoom's own flags it is more than useapi.net takes.
        submit = await emu.submit_modal(
            click, click.modal["custom_id"], {"Prompt": "a" * 2040, "Zoom (1 to 2)": "1.8"}
        )
        said = await emu.wait_for(lambda: next((m for m in submit.ephemeral if "2048" in m.content), None))
        assert said.content.startswith("Your prompt has 20")
        assert said.content.endswith("useapi.net, the image service here, takes at most 2048. Shorten it.")
        assert _button_calls(fake, "Custom Zoom") == []
        assert emu.violations == []


def _mask_of(call: dict[str, object]) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(str(call["mask"]))))


async def test_vary_region_sends_the_chosen_region_as_its_mask(make_sandbox: Callable[..., Sandbox]) -> None:
    fake = FakeUseApi(step_seconds=0.02)
    async with Running(_box(make_sandbox, fake)) as box:
        emu = box.emulator
        upscale = await _upscale(box, "a cat on a sofa")
        click = await emu.click(emu.world.member.id, upscale.id, custom_id(upscale, "Vary (Region)"))
        await emu.wait_for_response(click)
        assert click.modal is not None
        before = _results(box)
        await emu.submit_modal(
            click, click.modal["custom_id"], {"Prompt": "a dog on a sofa", "Region to repaint": ["left"]}
        )
        varied = await _new_result(box, before)
        assert "a dog on a sofa" in varied.content
        [call] = _button_calls(fake, "Vary (Region)")
        mask = _mask_of(call)
        assert mask.size == Image.open(io.BytesIO(upscale.attachments[0].data)).size
        width, height = mask.size
        assert mask.getpixel((width // 4, height // 2)) == 255  # left: repaint
        assert mask.getpixel((3 * width // 4, height // 2)) == 0  # right: keep
        assert emu.violations == []


async def test_vary_region_through_the_mask_editor(make_sandbox: Callable[..., Sandbox]) -> None:
    fake = FakeUseApi(step_seconds=0.02)
    account = ExtraBackend(
        fake, BackendKind.USEAPI, "useapi", secret=fake.secret, options={"channel": CHANNEL}
    )
    box = make_sandbox(
        settings=Settings(jobs=FAST_JOBS, web=WebSettings(mask_editor=True)),
        extra=[account],
        with_proxy=False,
    )
    async with Running(box):
        emu = box.emulator
        upscale = await _upscale(box, "a cat on a sofa")
        click = await emu.click(emu.world.member.id, upscale.id, custom_id(upscale, "Vary (Region)"))
        await emu.wait_for_response(click)
        [answer] = click.ephemeral
        [link] = [c["url"] for row in answer.components for c in row["components"]]
        before = _results(box)
        right_half = {"kind": "rect", "x0": 0.5, "y0": 0.0, "x1": 1.0, "y1": 1.0}
        async with httpx.AsyncClient() as http:
            sent = await http.post(str(link), json={"prompt": "a dog on a sofa", "shapes": [right_half]})
        assert sent.status_code == 200, sent.text
        await _new_result(box, before)
        [call] = _button_calls(fake, "Vary (Region)")
        mask = _mask_of(call)
        width, height = mask.size
        assert (mask.getpixel((3 * width // 4, height // 2)), mask.getpixel((width // 4, height // 2))) == (
            255,
            0,
        )
        assert emu.violations == []


async def test_remix_sends_the_edited_prompt_with_the_button(make_sandbox: Callable[..., Sandbox]) -> None:
    fake = FakeUseApi(step_seconds=0.02)
    async with Running(_box(make_sandbox, fake)) as box:
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
        assert click.modal is not None and click.modal["title"] == "Remix Prompt"
        before = _results(box)
        await emu.submit_modal(click, click.modal["custom_id"], {"Prompt": "a dog on a wall"})
        remixed = await _new_result(box, before)
        assert "a dog on a wall" in remixed.content
        assert "not used" not in remixed.content
        [call] = _button_calls(fake, "V2")
        assert call["prompt"] == "a dog on a wall"
        assert emu.violations == []


@pytest.mark.parametrize("reply_first", [False, True], ids=["answer-first", "reply-first"])
async def test_cancel_stops_the_job_at_the_service_and_frees_its_slot(
    make_sandbox: Callable[..., Sandbox], reply_first: bool
) -> None:
    fake = FakeUseApi(step_seconds=0.02)
    fake.reply_before_cancel_answer = reply_first  # its push must not wait for the cancel's answer
    fake.faults.stick_next_job()
    async with Running(_box(make_sandbox, fake, max_jobs=1)) as box:
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        await emu.slash(bob.id, art.id, "imagine", prompt="never ends")
        await emu.wait_for(lambda: fake.executing(CHANNEL) or None, 10)
        [stuck] = fake.executing(CHANNEL)
        cancel = await emu.slash(bob.id, art.id, "cancel")
        # At once: not after the service's push timed out waiting for the job (5 s in the fake).
        await emu.wait_for(
            lambda: next((m for m in cancel.ephemeral if "is cancelled" in m.content), None), 3
        )
        assert fake.job_json(stuck)["status"] == "cancelled"
        assert fake.executing(CHANNEL) == []
        # The one slot at useapi.net is free: the next job runs at once.
        await emu.slash(bob.id, art.id, "imagine", prompt="runs now")
        await emu.wait_for_message(art.id, is_result, timeout=10)
        assert emu.violations == []


async def test_blend_and_describe_send_the_attachments_urls(make_sandbox: Callable[..., Sandbox]) -> None:
    fake = FakeUseApi(step_seconds=0.02)
    async with Running(_box(make_sandbox, fake)) as box:
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        await emu.slash(
            bob.id,
            art.id,
            "blend",
            dimensions="PORTRAIT",
            image1=("a.png", png_bytes("red"), "image/png"),
            image2=("b.png", png_bytes("blue"), "image/png"),
        )
        grid = await emu.wait_for_message(art.id, is_result, timeout=10)
        assert grid.content.startswith("**/blend** - ")
        [blend] = [r.json for r in fake.requests if r.path == "/v2/jobs/blend"]
        urls = [str(u) for u in blend["blendUrls"]]
        assert [urlsplit(u).path.rsplit("/", 1)[1] for u in urls] == ["a.png", "b.png"]
        assert blend["blendDimensions"] == "Portrait"
        async with httpx.AsyncClient() as http:  # the emulator's CDN serves what bob attached
            assert (await http.get(urls[0])).content == png_bytes("red")
        await emu.slash(bob.id, art.id, "describe", image=("c.png", png_bytes(), "image/png"))
        await emu.wait_for_message(art.id, is_answer, timeout=10)
        [describe] = [r.json for r in fake.requests if r.path == "/v2/jobs/describe"]
        assert urlsplit(str(describe["describeUrl"])).path.endswith("/c.png")
        assert emu.violations == []


async def test_a_prompt_over_2048_characters_is_refused_with_the_limit(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    fake = FakeUseApi(step_seconds=0.02)
    async with Running(_box(make_sandbox, fake)) as box:
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        inter = await emu.slash(bob.id, art.id, "imagine", prompt="a" * 2049)
        said = await emu.wait_for(lambda: next((m for m in inter.ephemeral if "2048" in m.content), None))
        assert said.content == (
            "Your prompt has 2049 characters; useapi.net, the image service here, takes at most 2048. "
            "Shorten it."
        )
        await emu.slash(bob.id, art.id, "imagine", prompt="a" * 2048)
        await emu.wait_for_message(art.id, is_result, timeout=10)
        assert [
            len(str(r.json["prompt"])) for r in fake.requests if r.path == "/v2/jobs/imagine" and r.json
        ] == [2048]
        assert emu.violations == []


async def test_setup_shows_a_moderation_hold_and_reset_releases_it_at_the_service(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    fake = FakeUseApi(step_seconds=0.02)
    fake.hold_for_moderation(CHANNEL, "Please verify you are **human**")
    async with Running(_box(make_sandbox, fake)) as box:
        emu = box.emulator
        alice, art = emu.world.admin, emu.channel("art")

        async def setup(subcommand: str, **options: str) -> str:
            return await _reply(
                box, await emu.slash(alice.id, art.id, "setup", subcommand=subcommand, **options)
            )

        held = f"Midjourney holds account {CHANNEL} for moderation or a CAPTCHA"
        listing = await setup("account list")
        assert held in listing
        assert "Please verify you are" in listing and "**human**" not in listing  # text, not markdown
        assert (await setup("account test", name="useapi")).startswith(f"❌ useapi: {held}")
        assert f"Midjourney holds {CHANNEL}" in await setup("show")
        alice.locale = "ja"
        held_ja = f"Midjourney がアカウント {CHANNEL} を審査または CAPTCHA のため保留しています"
        assert held_ja in await setup("account list")
        assert (await setup("account test", name="useapi")).startswith(f"❌ useapi：{held_ja}")
        alice.locale = "en-US"
        reset = await setup("account reset", name="useapi")
        assert reset == (
            f"**useapi** is back in rotation. The service was asked to put {CHANNEL} back into rotation too."
        )
        assert fake.accounts[CHANNEL].pending_mod_message is None
        assert fake.count(f"/v2/account/midjourney/{CHANNEL}/reset", method="POST") == 1
        assert "in rotation, max 3 jobs" in await setup("account list")
        assert (await setup("account test", name="useapi")).startswith("✅ useapi")
        assert emu.violations == []


async def test_reset_of_an_unpinned_account_releases_every_held_one(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    channels = [CHANNEL, "1100000000000000002", "1100000000000000003"]
    fake = FakeUseApi(
        step_seconds=0.02,
        accounts=[
            FakeAccount(channel=c, discord=f"token-{c}", server="1200000000000000001") for c in channels
        ],
    )
    fake.hold_for_moderation(channels[0])
    fake.hold_for_moderation(channels[2])
    async with Running(_box(make_sandbox, fake, pinned=False)) as box:
        emu = box.emulator
        alice, art = emu.world.admin, emu.channel("art")
        listing = await _reply(box, await emu.slash(alice.id, art.id, "setup", subcommand="account list"))
        assert f"Midjourney account {channels[1]}: in rotation" in listing
        reset = await _reply(
            box, await emu.slash(alice.id, art.id, "setup", subcommand="account reset", name="useapi")
        )
        assert f"asked to put {channels[0]}, {channels[2]} back into rotation" in reset
        assert [a.pending_mod_message for a in fake.accounts.values()] == [None, None, None]
        assert fake.count("/v2/account/midjourney/", method="POST") == 2
        assert emu.violations == []


async def test_seed_and_info_ask_useapi(make_sandbox: Callable[..., Sandbox]) -> None:
    fake = FakeUseApi(step_seconds=0.02)
    async with Running(_box(make_sandbox, fake)) as box:
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        await emu.slash(bob.id, art.id, "imagine", prompt="a seeded fox")
        await emu.wait_for_message(art.id, is_result, timeout=10)
        assert box.bot is not None
        [job] = await box.bot.store.member_jobs(emu.world.guild.id, bob.id, limit=1)
        said = await _reply(box, await emu.slash(bob.id, art.id, "seed", job=job.id))
        [seed_job] = [r.json for r in fake.requests if r.path == "/v2/jobs/seed_async"]
        assert seed_job is not None and seed_job["jobid"] == job.backend_task_id
        [seeded] = fake.jobs_of("seed_async")
        assert said.startswith(f"Job #{job.id}'s seed is **{seeded['seed']['value']}**.")
        info = await _reply(box, await emu.slash(bob.id, art.id, "info"))
        assert "Account (useapi.net)" in info
        assert "Subscription: Pro (Active monthly)" in info
        assert "Queued Jobs (fast): 0" in info
        assert fake.count("/v2/jobs/info") == 1
        assert emu.violations == []
