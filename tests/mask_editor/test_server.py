"""The editor's routes over HTTP: what a link opens, what it refuses, and the job it starts."""

from __future__ import annotations

import base64
import io
import time

import httpx
from PIL import Image

from sandbox.runner import Sandbox
from tests.e2e.conftest import custom_id
from tests.mask_editor.conftest import editor_link, new_result, results

RIGHT_HALF = {"kind": "rect", "x0": 0.5, "y0": 0.0, "x1": 1.0, "y1": 1.0}


def _mask_sent(box: Sandbox) -> Image.Image:
    [modal] = [r.json for r in box.proxy.requests if r.path == "/mj/submit/modal"]
    header, data = str(modal["maskBase64"]).split(",", 1)
    assert header == "data:image/png;base64"
    return Image.open(io.BytesIO(base64.b64decode(data)))


async def test_vary_region_answers_privately_with_an_editor_link(editor_sandbox: Sandbox) -> None:
    link = await editor_link(editor_sandbox)
    assert editor_sandbox.bot is not None
    assert link.url.startswith(f"{editor_sandbox.bot.web.public_url}/edit/")
    assert link.click.modal is None  # no region modal when the editor is on
    async with httpx.AsyncClient() as http:
        page = await http.get(link.url)
        assert page.status_code == 200
        assert "Vary (Region)" in page.text
        assert page.headers["Referrer-Policy"] == "no-referrer"
        job = (await http.get(f"{link.url}/job")).json()
        assert job == {"prompt": "a cat on a sofa"}
        image = await http.get(f"{link.url}/image")
        assert image.headers["content-type"] == "image/png"
        assert (
            Image.open(io.BytesIO(image.content)).size
            == Image.open(io.BytesIO(link.upscale.attachments[0].data)).size
        )
    assert editor_sandbox.emulator.violations == []


async def test_a_submitted_drawing_starts_the_job_with_its_mask_and_prompt(editor_sandbox: Sandbox) -> None:
    box = editor_sandbox
    link = await editor_link(box)
    before = results(box)
    async with httpx.AsyncClient() as http:
        sent = await http.post(link.url, json={"prompt": "a dog on a sofa", "shapes": [RIGHT_HALF]})
    assert sent.status_code == 200, sent.text
    assert sent.json()["text"].startswith("Sent.")
    result = await new_result(box, before)
    assert "a dog on a sofa" in result.content
    [modal] = [r.json for r in box.proxy.requests if r.path == "/mj/submit/modal"]
    assert modal["prompt"] == "a dog on a sofa"
    mask = _mask_sent(box)
    parent = Image.open(io.BytesIO(link.upscale.attachments[0].data))
    assert mask.size == parent.size
    width, height = mask.size
    assert mask.getpixel((3 * width // 4, height // 2)) == 255
    assert mask.getpixel((width // 4, height // 2)) == 0
    assert box.emulator.violations == []


async def test_a_link_works_once(editor_sandbox: Sandbox) -> None:
    link = await editor_link(editor_sandbox)
    async with httpx.AsyncClient() as http:
        first = await http.post(link.url, json={"shapes": [RIGHT_HALF]})
        again = await http.post(link.url, json={"shapes": [RIGHT_HALF]})
        page = await http.get(link.url)
    assert first.status_code == 200
    assert again.status_code == 410
    assert "already used" in again.json()["error"]
    assert page.status_code == 410
    assert "already used" in page.text
    assert len([r for r in editor_sandbox.proxy.requests if r.path == "/mj/submit/modal"]) <= 1


async def test_forged_and_expired_links_are_refused(editor_sandbox: Sandbox) -> None:
    box = editor_sandbox
    link = await editor_link(box)
    assert box.bot is not None and box.bot.mask_editor is not None
    token = link.url.rsplit("/", 1)[1]
    body, signature = token.split(".")
    art = box.emulator.channel("art").id
    other_job = box.bot.mask_editor.signer.issue(link.upscale.id, 0, box.emulator.world.member.id, art)
    expired = box.bot.mask_editor.signer.issue(1, 0, 1, art, now=time.time() - 3600)
    base = link.url.rsplit("/", 1)[0]
    async with httpx.AsyncClient() as http:
        forged = await http.get(f"{base}/{body}.{signature[::-1]}")
        assert forged.status_code == 403
        assert "not valid" in forged.text
        late = await http.post(f"{base}/{expired}", json={"shapes": [RIGHT_HALF]})
        assert late.status_code == 410
        assert "expired" in late.json()["error"]
        # A validly signed link naming something that is not a Vary (Region) button shows nothing.
        unknown = await http.get(f"{base}/{other_job}/image")
        assert unknown.status_code == 410
    assert not [r for r in box.proxy.requests if r.path == "/mj/submit/modal"]


async def test_bad_drawings_are_refused_with_a_sentence_and_the_link_still_works(
    editor_sandbox: Sandbox,
) -> None:
    link = await editor_link(editor_sandbox)
    async with httpx.AsyncClient() as http:
        for body in (
            {"shapes": []},
            {"shapes": [{"kind": "rect", "x0": 2, "y0": 0, "x1": 1, "y1": 1}]},
            {"shapes": [RIGHT_HALF], "prompt": "x" * 4001},
            {"shapes": [{"kind": "brush", "size": 0.1, "points": [[0.5, 0.5]] * 2000}] * 3},
        ):
            refused = await http.post(link.url, json=body)
            assert refused.status_code in (400, 413), refused.text
            assert refused.json()["error"].endswith(".")
        huge = await http.post(link.url, content=b"[" * 300_000, headers={"Content-Type": "application/json"})
        assert huge.status_code == 413
        ok = await http.post(link.url, json={"shapes": [RIGHT_HALF]})
    assert ok.status_code == 200


async def test_another_member_gets_no_link_for_someone_elses_job(editor_sandbox: Sandbox) -> None:
    box = editor_sandbox
    link = await editor_link(box, admin=True)
    emu = box.emulator
    click = await emu.click(emu.world.member.id, link.upscale.id, custom_id(link.upscale, "Vary (Region)"))
    await emu.wait_for_response(click)
    assert all("/edit/" not in str(m.components) for m in click.ephemeral)
    assert any("Only" in m.content for m in click.ephemeral)
