"""The playground in a real headless Chromium: what a visitor clicks is what the bot gets.

Run only where Chromium is installed (`apt-get install chromium`) and the playwright package is
present; Playwright drives the system Chromium, it never downloads a browser.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, require_chromium
from tests.sandbox.playground.conftest import Running

require_chromium()
from playwright.async_api import Page, async_playwright, expect  # noqa: E402

pytestmark = pytest.mark.browser


@pytest.fixture
async def page(running: Running) -> AsyncIterator[Page]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            tab = await browser.new_page(viewport={"width": 1400, "height": 900})
            errors: list[str] = []
            tab.on("pageerror", lambda error: errors.append(str(error)))
            await tab.goto(f"{running.playground.url}/?user=bob&channel=art")
            await expect(tab.locator("#status")).to_have_text("live")
            yield tab
            assert errors == [], f"the page raised: {errors}"
        finally:
            await browser.close()


async def test_imagine_then_u1_in_the_browser(running: Running, page: Page) -> None:
    composer = page.locator("#composer-input")
    await composer.click()
    await composer.press_sequentially("/imag")
    await expect(page.locator("#command-list")).to_contain_text("Create four images from a text prompt.")
    await composer.press_sequentially("ine a lighthouse")
    await expect(page.locator("#command-pill")).to_have_text("/imagine")
    await composer.press("Enter")

    # The command's own response is the job's message, labelled with who used the command.
    await expect(page.get_by_text("used /imagine").first).to_be_visible()
    grid = page.locator("article.message").filter(has=page.get_by_role("button", name="U1", exact=True))
    await expect(grid).to_be_visible(timeout=20_000)
    image = grid.locator(".attachments img")
    await expect(image).to_have_js_property("complete", True)
    assert await image.evaluate("img => img.naturalWidth") > 0
    await expect(grid.locator(".content strong")).to_have_text("a lighthouse")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTIFACTS / "playground-grid.png")

    await grid.get_by_role("button", name="U1", exact=True).click()
    upscale = page.locator("article.message").filter(has_text="Image #1").filter(has=page.locator("img"))
    await expect(upscale).to_be_visible(timeout=20_000)
    await expect(upscale.get_by_role("button").first).to_be_visible()
    assert running.emu.violations == []


async def test_the_bots_custom_zoom_modal_opens_as_a_dialog_and_submits(running: Running, page: Page) -> None:
    composer = page.locator("#composer-input")
    await composer.click()
    await composer.press_sequentially("/imagine a castle")
    await composer.press("Enter")
    grid = page.locator("article.message").filter(has=page.get_by_role("button", name="U1", exact=True))
    await expect(grid).to_be_visible(timeout=20_000)
    await grid.get_by_role("button", name="U2", exact=True).click()
    upscale = page.locator("article.message").filter(has=page.get_by_role("button", name="Custom Zoom"))
    await expect(upscale).to_be_visible(timeout=20_000)

    await upscale.get_by_role("button", name="Custom Zoom").click()
    dialog = page.locator("dialog#modal")
    await expect(dialog).to_be_visible()
    await expect(dialog.get_by_role("heading")).to_have_text("Zoom Out")
    await dialog.get_by_label("Zoom (1 to 2)").fill("1.8")
    await dialog.get_by_role("button", name="Submit").click()

    zoomed = page.locator("article.message").filter(has_text="Zoom Out by").filter(has=page.locator("img"))
    await expect(zoomed).to_be_visible(timeout=20_000)
    modal_calls = [r.json for r in running.sandbox.proxy.requests if r.path == "/mj/submit/modal"]
    assert modal_calls[0]["prompt"].endswith("--zoom 1.8")
    assert running.emu.violations == []


async def test_vary_region_opens_the_mask_editor_from_the_playground(running: Running, page: Page) -> None:
    composer = page.locator("#composer-input")
    await composer.click()
    await composer.press_sequentially("/imagine a harbour")
    await expect(page.locator("#command-pill")).to_have_text("/imagine")
    await composer.press("Enter")
    grid = page.locator("article.message").filter(has=page.get_by_role("button", name="U2", exact=True))
    await grid.get_by_role("button", name="U2", exact=True).click(timeout=20_000)
    upscale = page.locator("article.message").filter(has=page.get_by_role("button", name="Vary (Region)"))
    await upscale.get_by_role("button", name="Vary (Region)").click(timeout=20_000)

    link = page.get_by_role("link", name="Open the editor")
    async with page.context.expect_page() as opened:
        await link.click()
    editor = await opened.value
    await expect(editor.locator("body")).to_have_attribute("data-ready", "true")
    await expect(editor.locator("#prompt")).to_have_value("a harbour")
    assert running.emu.violations == []


async def test_a_member_switched_to_chinese_reads_the_command_and_the_refusal_in_chinese(
    running: Running, page: Page
) -> None:
    await page.locator("#locale-select").select_option("zh-CN")
    composer = page.locator("#composer-input")
    await composer.click()
    await composer.press_sequentially("/imag")
    await expect(page.locator("#command-list")).to_contain_text("根据文字提示词生成四张图片。")
    await composer.press("Enter")
    await expect(composer).to_have_attribute(
        "placeholder", "提示词: 要画什么，可带 Midjourney 参数（例如 a lighthouse at dusk --ar 16:9）。"
    )
    # A zero-width space only: the bot refuses it, in the member's language.
    await composer.fill("\u200b")
    await composer.press("Enter")
    await expect(page.get_by_text("提示词只包含不可见字符。请输入一些文字。")).to_be_visible(timeout=10_000)
    assert running.emu.world.member.locale == "zh-CN"
    assert running.emu.violations == []
