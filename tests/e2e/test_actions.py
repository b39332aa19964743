"""Every Midjourney action end to end: grid and upscale buttons, modals, blend, describe, shorten,
cancel. The real bot, the Discord emulator and the fake midjourney-proxy over loopback."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable

import pytest
from PIL import Image

from bot.jobs.masks import MAX_PARENT_BYTES
from bot.jobs.rules import MemberRate
from sandbox import images
from sandbox.discord import Message
from sandbox.fake_mj_proxy import FakeMjProxy
from sandbox.runner import Sandbox
from tests.e2e.conftest import Running, buttons, custom_id, is_answer, is_result, png_bytes

#: On SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_stores

GRID_LABELS = ["U1", "U2", "U3", "U4", "🔄", "V1", "V2", "V3", "V4"]
UPSCALE_LABELS = [
    "Upscale (Subtle)",
    "Upscale (Creative)",
    "Vary (Subtle)",
    "Vary (Strong)",
    "Zoom Out 2x",
    "Zoom Out 1.5x",
    "⬅️",
    "➡️",
    "⬆️",
    "⬇️",
    "❤️",
]


async def _grid(box: Sandbox, prompt: str = "a lighthouse") -> Message:
    emu = box.emulator
    art = emu.channel("art")
    await emu.slash(emu.world.member.id, art.id, "imagine", prompt=prompt)
    return await emu.wait_for_message(art.id, is_result, timeout=10)


async def _new_result(box: Sandbox, after: set[int]) -> Message:
    art = box.emulator.channel("art")
    return await box.emulator.wait_for_message(
        art.id, lambda m: m.id not in after and is_result(m), timeout=10
    )


def _seen(box: Sandbox) -> set[int]:
    return {m.id for m in box.emulator.messages(box.emulator.channel("art").id)}


def _last_action(box: Sandbox) -> dict[str, object]:
    return [r.json for r in box.proxy.requests if r.path == "/mj/submit/action"][-1]


@pytest.mark.parametrize("label", GRID_LABELS)
async def test_every_grid_button_starts_its_job(sandbox: Sandbox, label: str) -> None:
    grid = await _grid(sandbox)
    before = _seen(sandbox)
    await sandbox.emulator.click(sandbox.emulator.world.member.id, grid.id, custom_id(grid, label))
    result = await _new_result(sandbox, before)
    expected = "MJ::JOB::reroll::0::" if label == "🔄" else f"::{label[1]}::"
    assert expected in str(_last_action(sandbox)["customId"])
    is_upscale = label.startswith("U")
    assert ("Upscale (Subtle)" in str(buttons(result))) is is_upscale
    assert sandbox.emulator.violations == []


async def test_every_upscale_button_starts_its_job(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    bob = emu.world.member
    assert sandbox.bot is not None
    sandbox.bot.engine.member_rate = MemberRate(burst=20)  # 13 jobs in a few seconds on purpose
    grid = await _grid(sandbox)
    before = _seen(sandbox)
    await emu.click(bob.id, grid.id, custom_id(grid, "U1"))
    upscale = await _new_result(sandbox, before)
    rows = buttons(upscale)
    assert len(rows) <= 5
    assert all(len(r) <= 5 for r in rows)
    assert "Web" in [label for row in rows for label in row]  # link to the full-size image
    for label in UPSCALE_LABELS:
        before = _seen(sandbox)
        click = await emu.click(bob.id, upscale.id, custom_id(upscale, label))
        if label == "❤️":
            # The bookmark makes no new image: only the member is told, after the proxy's answer.
            await emu.wait_for(
                lambda c=click: next((m for m in c.ephemeral if "Bookmarked" in m.content), None)
            )
            assert click.original is None or click.original.ephemeral  # nothing public
            assert _seen(sandbox) == before
            assert str(_last_action(sandbox)["customId"]).startswith("MJ::BOOKMARK::")
            continue
        await _new_result(sandbox, before)
    assert emu.violations == []


async def test_custom_zoom_opens_a_modal_first_and_sends_the_zoom(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    bob = emu.world.member
    grid = await _grid(sandbox, "a castle on a hill")
    before = _seen(sandbox)
    await emu.click(bob.id, grid.id, custom_id(grid, "U2"))
    upscale = await _new_result(sandbox, before)

    click = await emu.click(bob.id, upscale.id, custom_id(upscale, "Custom Zoom"))
    await emu.wait_for_response(click)
    assert click.response_type == 9  # the modal is the first and only response
    assert click.modal is not None
    assert click.modal["title"] == "Zoom Out"

    bad = await emu.submit_modal(
        click, click.modal["custom_id"], {"Prompt": "a castle", "Zoom (1 to 2)": "3"}
    )
    await emu.wait_for(lambda: next((m for m in bad.ephemeral if "from 1 to 2" in m.content), None))

    click = await emu.click(bob.id, upscale.id, custom_id(upscale, "Custom Zoom"))
    await emu.wait_for_response(click)
    assert click.modal is not None
    before = _seen(sandbox)
    await emu.submit_modal(
        click, click.modal["custom_id"], {"Prompt": "a castle at night --zoom 1.2", "Zoom (1 to 2)": "1.8"}
    )
    zoomed = await _new_result(sandbox, before)
    [modal] = [r.json for r in sandbox.proxy.requests if r.path == "/mj/submit/modal"]
    assert modal["prompt"] == "a castle at night --ar 1:1 --zoom 1.8"
    assert "a castle at night" in zoomed.content
    assert emu.violations == []


async def test_vary_region_sends_a_mask_of_the_chosen_region(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    bob = emu.world.member
    grid = await _grid(sandbox, "a cat on a sofa")
    before = _seen(sandbox)
    await emu.click(bob.id, grid.id, custom_id(grid, "U3"))
    upscale = await _new_result(sandbox, before)

    click = await emu.click(bob.id, upscale.id, custom_id(upscale, "Vary (Region)"))
    await emu.wait_for_response(click)
    assert click.modal is not None
    before = _seen(sandbox)
    await emu.submit_modal(
        click, click.modal["custom_id"], {"Prompt": "a dog on a sofa", "Region to repaint": ["left"]}
    )
    await _new_result(sandbox, before)
    [modal] = [r.json for r in sandbox.proxy.requests if r.path == "/mj/submit/modal"]
    assert modal["prompt"] == "a dog on a sofa"
    header, data = str(modal["maskBase64"]).split(",", 1)
    assert header == "data:image/png;base64"
    mask = Image.open(io.BytesIO(base64.b64decode(data)))
    parent = Image.open(io.BytesIO(upscale.attachments[0].data))
    assert mask.size == parent.size
    width, height = mask.size
    assert mask.getpixel((width // 4, height // 2)) == 255  # left: repaint
    assert mask.getpixel((3 * width // 4, height // 2)) == 0  # right: keep
    assert emu.violations == []


_TOO_LARGE = "too large to mask"
_UNREADABLE = "could not be read"


@pytest.mark.parametrize(
    ("body", "content_type", "repeat", "refusal"),
    [
        (b"<!doctype html><title>502 Bad Gateway</title>", "text/html", 1, _UNREADABLE),
        (images.png_bomb(20_000, 20_000), "image/png", 1, _UNREADABLE),  # past Pillow's bomb limit
        (images.png_bomb(12_000, 12_000), "image/png", 1, _TOO_LARGE),  # a 144 MB mask
        (b"\x89PNG\r\n\x1a\n" + bytes(1024 * 1024), "image/png", 120, _TOO_LARGE),  # 120 MB
    ],
    ids=["html", "bomb", "huge-header", "huge-body"],
)
async def test_vary_region_on_a_parent_that_is_no_usable_image_says_so(
    sandbox: Sandbox, body: bytes, content_type: str, repeat: int, refusal: str
) -> None:
    emu = sandbox.emulator
    bob = emu.world.member
    grid = await _grid(sandbox, "a cat on a sofa")
    before = _seen(sandbox)
    await emu.click(bob.id, grid.id, custom_id(grid, "U3"))
    upscale = await _new_result(sandbox, before)
    # The service's image host now answers with something that is not a usable image.
    sandbox.proxy.faults.serve_images(body, content_type, repeat=repeat)

    click = await emu.click(bob.id, upscale.id, custom_id(upscale, "Vary (Region)"))
    await emu.wait_for_response(click)
    assert click.modal is not None
    submitted = await emu.submit_modal(
        click, click.modal["custom_id"], {"Prompt": "a dog on a sofa", "Region to repaint": ["left"]}
    )
    said = await emu.wait_for(lambda: next((m for m in submitted.ephemeral if refusal in m.content), None))
    assert "another image" in said.content
    assert submitted.original is not None and submitted.original.deleted  # no "thinking…" left
    # The download stopped at the cap (what socket buffers took aside), not at the body's end.
    assert sandbox.proxy.image_bytes_sent < max(len(body) * repeat // 2, MAX_PARENT_BYTES)
    assert sandbox.proxy.count("/mj/submit/modal") == 0
    assert emu.violations == []


@pytest.mark.parametrize("count", [2, 5])
async def test_blend_makes_a_grid(sandbox: Sandbox, count: int) -> None:
    emu = sandbox.emulator
    art = emu.channel("art")
    colours = ["red", "green", "blue", "yellow", "purple"][:count]
    images = {f"image{i + 1}": (f"{c}.png", png_bytes(c), "image/png") for i, c in enumerate(colours)}
    await emu.slash(emu.world.member.id, art.id, "blend", dimensions="LANDSCAPE", **images)
    grid = await emu.wait_for_message(art.id, is_result, timeout=10)
    assert grid.content.startswith("**/blend** - ")
    assert [label for row in buttons(grid) for label in row] == GRID_LABELS
    [blend] = [r.json for r in sandbox.proxy.requests if r.path == "/mj/submit/blend"]
    assert len(blend["base64Array"]) == count
    assert blend["dimensions"] == "LANDSCAPE"


async def test_blend_refuses_a_file_that_is_not_an_image(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    art = emu.channel("art")
    inter = await emu.slash(
        emu.world.member.id,
        art.id,
        "blend",
        image1=("a.png", png_bytes(), "image/png"),
        image2=("b.txt", b"hello", "text/plain"),
    )
    await emu.wait_for(lambda: next((m for m in inter.ephemeral if "b.txt is not a PNG" in m.content), None))
    assert sandbox.proxy.count("/mj/submit/") == 0


async def test_describe_then_pick_3_imagines_that_prompt(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    art, bob = emu.channel("art"), emu.world.member
    await emu.slash(
        bob.id, art.id, "describe", image=("photo.png", png_bytes("teal", (300, 200)), "image/png")
    )
    described = await emu.wait_for_message(art.id, is_answer, timeout=10)
    assert "1️⃣" in described.embeds[0]["description"]
    labels = [label for row in buttons(described) for label in row]
    assert labels[:4] == ["1️⃣", "2️⃣", "3️⃣", "4️⃣"]
    assert "Imagine all" in labels

    before = _seen(sandbox)
    await emu.click(bob.id, described.id, custom_id(described, "3️⃣"))
    grid = await _new_result(sandbox, before)
    [imagine] = [r.json for r in sandbox.proxy.requests if r.path == "/mj/submit/imagine"]
    third = described.embeds[0]["description"].split("3️⃣")[1].split("4️⃣")[0].strip()
    assert imagine["prompt"] == third
    assert [label for row in buttons(grid) for label in row] == GRID_LABELS


async def test_describe_imagine_all_starts_four_jobs(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    art, bob = emu.channel("art"), emu.world.member
    await emu.slash(bob.id, art.id, "describe", image=("photo.png", png_bytes(), "image/png"))
    described = await emu.wait_for_message(art.id, is_answer, timeout=10)
    await emu.click(bob.id, described.id, custom_id(described, "Imagine all"))
    await emu.wait_for(lambda: sandbox.proxy.count("/mj/submit/imagine") == 4 or None, timeout=10)


async def test_shorten_then_imagine_an_option(sandbox: Sandbox) -> None:
    emu = sandbox.emulator
    art, bob = emu.channel("art"), emu.world.member
    prompt = "a very detailed painting of an old lighthouse on a cliff at dusk with seagulls"
    await emu.slash(bob.id, art.id, "shorten", prompt=prompt)
    shortened = await emu.wait_for_message(art.id, is_answer, timeout=10)
    text = shortened.embeds[0]["description"]
    assert "Important tokens" in text
    assert "Shortened prompts" in text
    before = _seen(sandbox)
    await emu.click(bob.id, shortened.id, custom_id(shortened, "5️⃣"))
    await _new_result(sandbox, before)
    [imagine] = [r.json for r in sandbox.proxy.requests if r.path == "/mj/submit/imagine"]
    assert imagine["prompt"] == text.split("5️⃣")[1].strip()
    assert len(str(imagine["prompt"])) < len(prompt)


async def test_cancel_stops_a_running_job(make_sandbox: Callable[..., Sandbox]) -> None:
    async with Running(make_sandbox(proxy=FakeMjProxy(flavour="csharp", step_seconds=0.5))) as box:
        emu = box.emulator
        art, alice, bob = emu.channel("art"), emu.world.admin, emu.world.member
        await emu.slash(alice.id, art.id, "imagine", prompt="a long job")
        # Running at the backend (progress shown), so the proxy holds a task to cancel; a Cancel
        # pressed while the job still waits is ours alone to stop.
        running = await emu.wait_for_message(
            art.id, lambda m: "Cancel" in str(buttons(m)) and "%" in m.content, timeout=10
        )

        refused = await emu.click(bob.id, running.id, custom_id(running, "Cancel"))
        await emu.wait_for(lambda: next((m for m in refused.ephemeral if "Only" in m.content), None))

        await emu.click(alice.id, running.id, custom_id(running, "Cancel"))
        cancelled = await emu.wait_for_message(art.id, lambda m: "(Cancelled)" in m.content, timeout=10)
        assert cancelled.components == []
        cancels = [r for r in box.proxy.requests if r.path.endswith("/cancel")]
        assert len(cancels) == 1  # the C# proxy was asked to cancel too
        assert emu.violations == []
