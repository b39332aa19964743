"""/imagine with image prompts on the hosted services (TheNextLeg, useapi.net), end to end: the
attachments' Discord URLs go at the start of the prompt, the service fetches them, and a job that
waited past their expiry, or a prompt too long with them, is refused clearly."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import httpx

from sandbox.fake_nextleg import FakeNextLeg
from sandbox.fake_useapi import FakeUseApi
from sandbox.runner import Sandbox
from tests.e2e.conftest import Running, attachment_urls, is_result, nextleg_backend, png_bytes, useapi_backend

CHANNEL = "1100000000000000001"


def _sent(fake: FakeNextLeg | FakeUseApi, path: str, field: str) -> list[str]:
    return [str(r.json[field]) for r in fake.requests if r.path == path and r.json]


async def test_nextleg_gets_the_attachments_urls_at_the_start_of_the_prompt(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    fake = FakeNextLeg(step_seconds=0.02)
    async with Running(make_sandbox(extra=[nextleg_backend(fake)], with_proxy=False)) as box:
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        inter = await emu.slash(
            bob.id,
            art.id,
            "imagine",
            prompt="a castle in the clouds --ar 3:2",
            image1=("a.png", png_bytes("red"), "image/png"),
            image2=("b.png", png_bytes("blue"), "image/png"),
        )
        grid = await emu.wait_for_message(art.id, is_result, 15)
        first, second = attachment_urls(inter)
        assert _sent(fake, "/v2/imagine", "msg") == [f"{first} {second} a castle in the clouds --ar 3:2"]
        # (The fake, as Midjourney, downloaded both: a link it could not read fails the job.)
        assert "a castle in the clouds" in grid.content
        assert emu.violations == []


async def test_nextleg_image_prompt_whose_link_expired_while_waiting_asks_for_a_new_upload(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    fake = FakeNextLeg(step_seconds=0.02)
    fake.faults.stick_next_job()
    async with Running(make_sandbox(extra=[nextleg_backend(fake, max_jobs=1)], with_proxy=False)) as box:
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        await emu.slash(bob.id, art.id, "imagine", prompt="takes forever")
        await emu.wait_for(lambda: _sent(fake, "/v2/imagine", "msg") or None)
        assert box.bot is not None
        [stuck] = await box.bot.store.member_jobs(emu.world.guild.id, bob.id, limit=5)
        emu.limits.attachment_url_seconds = 2.0
        inter = await emu.slash(
            bob.id, art.id, "imagine", prompt="like this one", image1=("a.png", png_bytes(), "image/png")
        )
        [url] = attachment_urls(inter)
        expiry = int(parse_qs(urlsplit(url).query)["ex"][0], 16)
        await asyncio.sleep(max(0.0, expiry - time.time()) + 0.2)  # it waits for the one slot
        await emu.slash(bob.id, art.id, "cancel", job=stuck.id)
        failed = await emu.wait_for_message(
            art.id, lambda m: "like this one" in m.content and "(Failed)" in m.content, 15
        )
        assert "links to your images expired while the job waited" in failed.content
        assert "Upload the images with /imagine again." in failed.content
        assert _sent(fake, "/v2/imagine", "msg") == ["takes forever"]
        assert emu.violations == []


async def test_useapi_gets_the_attachments_url_at_the_start_of_the_prompt(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    fake = FakeUseApi(step_seconds=0.02)
    async with Running(make_sandbox(extra=[useapi_backend(fake, CHANNEL)], with_proxy=False)) as box:
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        inter = await emu.slash(
            bob.id,
            art.id,
            "imagine",
            prompt="a red fox",
            image1=("fox.png", png_bytes("orange"), "image/png"),
        )
        await emu.wait_for_message(art.id, is_result, 15)
        [url] = attachment_urls(inter)
        assert _sent(fake, "/v2/jobs/imagine", "prompt") == [f"{url} a red fox"]
        async with httpx.AsyncClient() as http:  # what the service fetched is what bob attached
            assert (await http.get(url)).content == png_bytes("orange")
        assert emu.violations == []


async def test_useapi_refuses_a_prompt_too_long_with_its_image_links_before_a_job(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    fake = FakeUseApi(step_seconds=0.02)
    async with Running(make_sandbox(extra=[useapi_backend(fake, CHANNEL)], with_proxy=False)) as box:
        emu = box.emulator
        art, bob = emu.channel("art"), emu.world.member
        image = ("fox.png", png_bytes("orange"), "image/png")
        first = await emu.slash(bob.id, art.id, "imagine", prompt="a fox", image1=image)
        await emu.wait_for_message(art.id, is_result, 15)
        [url] = attachment_urls(first)
        # Short enough alone, too long once the link (of the same length) goes in front of it.
        prompt = "a" * (2048 - len(url))
        inter = await emu.slash(bob.id, art.id, "imagine", prompt=prompt, image1=image)
        said = await emu.wait_for(lambda: next((m for m in inter.ephemeral if "2048" in m.content), None))
        assert said.content == (
            "Your prompt with the links of your images has 2049 characters; useapi.net, the image service "
            "here, takes at most 2048. Shorten it."
        )
        assert len(_sent(fake, "/v2/jobs/imagine", "prompt")) == 1
        assert box.bot is not None
        assert len(await box.bot.store.member_jobs(emu.world.guild.id, bob.id, limit=5)) == 1
        assert emu.violations == []
