"""The mask editor in a real headless Chromium: what a member paints is the mask the backend gets."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from sandbox.runner import Sandbox
from tests.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, require_chromium
from tests.mask_editor.conftest import editor_link, new_result, results

require_chromium()
from playwright.async_api import Page, async_playwright, expect  # noqa: E402

pytestmark = pytest.mark.browser

#: The lasso's corners, as fractions of the image: a triangle in the lower left quarter.
TRIANGLE = [(0.1, 0.6), (0.4, 0.6), (0.1, 0.9)]


async def _drag(page: Page, path: list[tuple[float, float]]) -> None:
    """Press at the first point, move through the others, release (fractions of the canvas)."""
    box = await page.locator("#canvas").bounding_box()
    assert box is not None

    def at(point: tuple[float, float]) -> tuple[float, float]:
        return box["x"] + point[0] * box["width"], box["y"] + point[1] * box["height"]

    await page.mouse.move(*at(path[0]))
    await page.mouse.down()
    for point in path[1:]:
        await page.mouse.move(*at(point), steps=8)
    await page.mouse.up()


async def test_painting_a_rectangle_and_a_lasso_sends_that_mask(editor_sandbox: Sandbox) -> None:
    box = editor_sandbox
    link = await editor_link(box)
    errors: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 900, "height": 1000})
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            await page.goto(link.url)
            await expect(page.locator("body")).to_have_attribute("data-ready", "true")
            await expect(page.locator("#prompt")).to_have_value("a cat on a sofa")

            await _drag(page, [(0.5, 0.0), (1.02, 1.02)])  # the right half, past the edge
            await page.get_by_role("button", name="➰ Lasso").click()
            await _drag(page, TRIANGLE)
            await page.get_by_role("button", name="🖌️ Brush").click()
            await _drag(page, [(0.2, 0.2), (0.3, 0.2)])
            await page.get_by_role("button", name="↶ Undo").click()  # the brush stroke goes again
            await page.locator("#prompt").fill("a dog on a sofa")
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=ARTIFACTS / "mask-editor.png")

            before = results(box)
            await page.get_by_role("button", name="Submit").click()
            await expect(page.locator("#status")).to_contain_text("Sent.")
            await expect(page.get_by_role("link", name="Back to Discord")).to_be_visible()
        finally:
            await browser.close()
    assert errors == []

    result = await new_result(box, before)
    assert "a dog on a sofa" in result.content
    [modal] = [r.json for r in box.proxy.requests if r.path == "/mj/submit/modal"]
    assert modal["prompt"] == "a dog on a sofa"
    mask = Image.open(io.BytesIO(base64.b64decode(str(modal["maskBase64"]).split(",", 1)[1])))
    width, height = mask.size
    assert (width, height) == Image.open(io.BytesIO(link.upscale.attachments[0].data)).size

    def px(fx: float, fy: float, dx: int = 0) -> int:
        return int(mask.getpixel((min(width - 1, round(fx * width) + dx), round(fy * height))))  # type: ignore[arg-type]

    # The rectangle's left edge sits at half the width, to within 2 px at the image's resolution.
    assert px(0.5, 0.3, +2) == 255
    assert px(0.5, 0.3, -3) == 0
    assert px(0.99, 0.99) == 255
    # The lasso's triangle is filled; its outside is not, and the undone brush stroke is gone.
    assert px(0.15, 0.7) == 255
    assert px(0.35, 0.85) == 0
    assert px(0.25, 0.2) == 0
    assert box.emulator.violations == []


async def test_a_finger_paints_on_a_phone(editor_sandbox: Sandbox) -> None:
    """Touch input (a phone's viewport, touch events through Chromium's input pipeline) paints too."""
    box = editor_sandbox
    link = await editor_link(box)
    errors: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(
                viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True, device_scale_factor=2
            )
            page = await context.new_page()
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(link.url)
            await expect(page.locator("body")).to_have_attribute("data-ready", "true")
            canvas = await page.locator("#canvas").bounding_box()
            assert canvas is not None
            touch = await context.new_cdp_session(page)

            async def finger(kind: str, fx: float, fy: float) -> None:
                x, y = canvas["x"] + fx * canvas["width"], canvas["y"] + fy * canvas["height"]
                points = [] if kind == "touchEnd" else [{"x": x, "y": y}]
                await touch.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

            await finger("touchStart", 0.0, 0.0)
            for step in range(1, 9):
                await finger("touchMove", step / 16, step / 16)
            await finger("touchEnd", 0.5, 0.5)
            await expect(page.get_by_role("button", name="Submit")).to_be_enabled()
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=ARTIFACTS / "mask-editor-phone.png")
            await page.get_by_role("button", name="Submit").click()
            await expect(page.locator("#status")).to_contain_text("Sent.")
        finally:
            await browser.close()
    assert errors == []
    [modal] = [r.json for r in box.proxy.requests if r.path == "/mj/submit/modal"]
    mask = Image.open(io.BytesIO(base64.b64decode(str(modal["maskBase64"]).split(",", 1)[1])))
    width, height = mask.size
    assert mask.getpixel((width // 4, height // 4)) == 255  # inside the dragged rectangle
    assert mask.getpixel((3 * width // 4, 3 * height // 4)) == 0
