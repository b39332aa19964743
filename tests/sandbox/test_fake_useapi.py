"""The fake useapi.net's own contract: raw HTTP shapes (docs/backends/useapi.md), accounts, faults."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from PIL import Image

from sandbox import images
from sandbox.fake_useapi import FakeAccount, FakeUseApi
from tests.backends.hook_receiver import HookReceiver

SECRET = "fake-useapi"
CHANNEL = "1100000000000000001"
JOB_KEYS = {
    "jobid", "verb", "status", "created", "updated", "prompt", "discord", "server", "channel", "maxJobs",
    "messageId", "content", "buttons", "children", "attachments", "embeds", "code",
}  # fmt: skip
ATTACHMENT_KEYS = {"id", "filename", "content_type", "url", "proxy_url", "size", "width", "height"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeUseApi]:
    server = FakeUseApi(secret=SECRET, step_seconds=0.01)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def http(fake: FakeUseApi) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {SECRET}"}
    async with httpx.AsyncClient(base_url=fake.base_url, headers=headers, timeout=5, verify=False) as client:
        yield client


async def post(http: httpx.AsyncClient, path: str, status: int = 200, **body: Any) -> dict[str, Any]:
    response = await http.post(path, json=body)
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


async def completed(fake: FakeUseApi, jobid: str) -> dict[str, Any]:
    async with asyncio.timeout(5):
        return await fake.wait_for(jobid, "completed", "failed")


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return image.size


async def test_imagine_shapes(fake: FakeUseApi, http: httpx.AsyncClient) -> None:
    started = await post(http, "/v2/jobs/imagine", prompt="Steampunk cat", replyRef="r1")
    assert started.keys() >= JOB_KEYS
    assert (started["verb"], started["status"], started["replyRef"]) == ("imagine", "started", "r1")
    assert started["discord"] == "dis…secured…n-a"  # never the whole token
    assert started["content"].endswith("(Waiting to start)")
    job = await completed(fake, started["jobid"])
    assert job["buttons"] == ["U1", "U2", "U3", "U4", "🔄", "V1", "V2", "V3", "V4"]
    assert job["content"].startswith("**Steampunk cat** - <@")
    (attachment,) = job["attachments"]
    assert attachment.keys() == ATTACHMENT_KEYS
    png = (await http.get(attachment["url"])).content
    assert png_size(png) == (attachment["width"], attachment["height"]) == (512, 512)
    fetched = await http.get("/v2/jobs/", params={"jobid": job["jobid"]})
    assert fetched.json() == job
    assert (await http.get("/v2/jobs/", params={"jobid": "nope"})).status_code == 404
    assert (await http.get("/v2/jobs/")).status_code == 400


async def test_replies_follow_progress(fake: FakeUseApi, http: httpx.AsyncClient) -> None:
    receiver = HookReceiver()
    await receiver.start()
    try:
        started = await post(http, "/v2/jobs/imagine", prompt="a cat", replyUrl=receiver.url, replyRef="r2")
        async with asyncio.timeout(5):
            bodies = await receiver.wait_until(lambda got: any(b["status"] == "completed" for b in got))
    finally:
        await receiver.stop()
    assert [b["status"] for b in bodies] == ["started", "progress", "progress", "progress", "completed"]
    assert all(b["jobid"] == started["jobid"] and b["replyRef"] == "r2" for b in bodies)
    assert "(25%)" in bodies[1]["content"]
    assert "progress=25" in bodies[1]["attachments"][0]["url"]
    assert all(b["buttons"] == [] for b in bodies[:-1])


async def test_buttons_and_children(fake: FakeUseApi, http: httpx.AsyncClient) -> None:
    grid = await completed(fake, (await post(http, "/v2/jobs/imagine", prompt="a cat"))["jobid"])
    child = await post(http, "/v2/jobs/button", jobid=grid["jobid"], button="U2")
    assert (child["verb"], child["button"], child["parentJobId"]) == ("button", "U2", grid["jobid"])
    upscale = await completed(fake, child["jobid"])
    assert "Custom Zoom" in upscale["buttons"]
    grid_png = (await http.get(grid["attachments"][0]["url"])).content
    assert (await http.get(upscale["attachments"][0]["url"])).content == images.crop_tile(grid_png, 2)
    assert fake.job_json(grid["jobid"])["children"] == [
        {"button": "U2", "jobid": child["jobid"], "messageId": child["messageId"]}
    ]

    again = await post(http, "/v2/jobs/button", 409, jobid=grid["jobid"], button="U2")
    assert (again["button"], again["jobid"], again["code"]) == ("U2", child["jobid"], 409)
    assert (await post(http, "/v2/jobs/button", 400, jobid=grid["jobid"], button="Zoom Out 2x"))[
        "code"
    ] == 400
    assert (await post(http, "/v2/jobs/button", 400, jobid=upscale["jobid"], button="Custom Zoom"))[
        "code"
    ] == 400
    zoom = await post(
        http, "/v2/jobs/button", jobid=upscale["jobid"], button="Custom Zoom", prompt="cat --zoom 2"
    )
    assert zoom["status"] == "started"
    assert (await post(http, "/v2/jobs/button", 404, jobid="nope", button="U1"))["error"]
    fake.faults.stick_next_job()
    running = (await post(http, "/v2/jobs/imagine", prompt="slow"))["jobid"]
    assert (await post(http, "/v2/jobs/button", 400, jobid=running, button="U1"))["code"] == 400


async def test_blend_describe_and_validation(fake: FakeUseApi, http: httpx.AsyncClient) -> None:
    blend = await post(
        http, "/v2/jobs/blend", blendUrls=["https://x/1", "https://x/2"], blendDimensions="Landscape"
    )
    assert (await completed(fake, blend["jobid"]))["prompt"].endswith("--ar 3:2")
    described = await completed(
        fake, (await post(http, "/v2/jobs/describe", describeUrl="https://x/1"))["jobid"]
    )
    assert (described["attachments"], described["content"].count("️⃣")) == ([], 4)
    await post(http, "/v2/jobs/blend", 400, blendUrls=["https://x/1"])
    await post(http, "/v2/jobs/blend", 400, blendUrls=["https://x/1"] * 2, blendDimensions="Round")
    await post(http, "/v2/jobs/describe", 400, describeUrl="not a url")
    await post(http, "/v2/jobs/imagine", 400, prompt="")
    await post(http, "/v2/jobs/imagine", 400, prompt="x" * 2049)
    await post(http, "/v2/jobs/imagine", 400, prompt="cat", maxJobs=16)
    await post(http, "/v2/jobs/imagine", 400, prompt="cat", channel="unknown")


async def test_max_jobs_429_and_moderation_596(fake: FakeUseApi, http: httpx.AsyncClient) -> None:
    fake.faults.stick_next_job()
    stuck = (await post(http, "/v2/jobs/imagine", prompt="one", maxJobs=1))["jobid"]
    busy = await post(http, "/v2/jobs/imagine", 429, prompt="two", maxJobs=1)
    assert (busy["executingJobs"], busy["code"]) == ([stuck], 429)
    assert fake.executing(CHANNEL) == [stuck]

    fake.hold_for_moderation(CHANNEL, "Pending mod message")
    held = await post(http, "/v2/jobs/imagine", 596, prompt="three")
    assert (held["code"], held["pendingModMessage"]) == (596, "Pending mod message")
    listed = (await http.get("/v2/account/midjourney")).json()
    assert listed[CHANNEL]["pendingModMessage"] == "Pending mod message"
    assert (await http.post(f"/v2/account/midjourney/{CHANNEL}/reset")).status_code == 204
    assert "pendingModMessage" not in (await http.get("/v2/account/midjourney")).json()[CHANNEL]


async def test_moderated_prompt_is_422(fake: FakeUseApi, http: httpx.AsyncClient) -> None:
    refused = await post(http, "/v2/jobs/imagine", 422, prompt="a forbidden cat")
    assert (refused["status"], refused["code"]) == ("moderated", 422)
    assert fake.job_json(refused["jobid"])["status"] == "moderated"


async def test_accounts_per_seed_003(http: httpx.AsyncClient) -> None:
    empty = FakeUseApi(secret=SECRET, accounts=[])
    await empty.start()
    try:
        async with httpx.AsyncClient(
            base_url=empty.base_url, headers={"Authorization": f"Bearer {SECRET}"}, verify=False
        ) as client:
            missing = await client.get("/v2/account/midjourney")
            assert (missing.status_code, missing.json()["code"]) == (404, 404)
            body = {"discord": "Discord token A", "server": "Discord server A", "channel": "A", "maxJobs": 2}
            assert (await client.post("/v2/account/midjourney/A", json=body)).status_code == 204
            assert (await client.get("/v2/account/midjourney")).json() == {"A": body}
            assert (
                await client.post("/v2/account/midjourney/B", json=body)
            ).status_code == 400  # channel ≠ path
            same_token = body | {"channel": "B"}
            assert (await client.post("/v2/account/midjourney/B", json=same_token)).status_code == 400
            assert (
                await client.post("/v2/account/midjourney/A", json=body | {"maxJobs": 16})
            ).status_code == 400
    finally:
        await empty.stop()


async def test_random_choice_among_free_accounts() -> None:
    accounts = [FakeAccount(channel=c, discord=f"token-{c}", server="s", max_jobs=1) for c in ("c1", "c2")]
    server = FakeUseApi(secret=SECRET, accounts=accounts, step_seconds=0.01)
    await server.start()
    try:
        async with httpx.AsyncClient(
            base_url=server.base_url, headers={"Authorization": f"Bearer {SECRET}"}, verify=False
        ) as client:
            server.faults.stick_next_job()
            server.faults.stick_next_job()
            channels = {(await post(client, "/v2/jobs/imagine", prompt=p))["channel"] for p in ("one", "two")}
            assert channels == {"c1", "c2"}
            busy = await post(client, "/v2/jobs/imagine", 429, prompt="three")
            assert len(busy["executingJobs"]) == 2
    finally:
        await server.stop()


async def test_auth_faults_and_recording(fake: FakeUseApi, http: httpx.AsyncClient) -> None:
    async with httpx.AsyncClient(base_url=fake.base_url, verify=False) as anonymous:
        refused = await anonymous.get("/v2/account/midjourney")
        assert (refused.status_code, refused.json()) == (401, {"error": "Unauthorized", "code": 401})
    fake.faults.fail_next_submit(429)
    throttled = await post(http, "/v2/jobs/imagine", 429, prompt="cat")
    assert "executingJobs" not in throttled  # Discord's rate limit, not full slots
    fake.faults.fail_next_submit(504, {"error": "Query overflow", "code": 504})
    assert (await post(http, "/v2/jobs/imagine", 504, prompt="cat"))["error"] == "Query overflow"
    fake.faults.job_fails("Job timed out")
    failed = await completed(fake, (await post(http, "/v2/jobs/imagine", prompt="cat"))["jobid"])
    assert (failed["status"], failed["error"]) == ("failed", "Job timed out")
    assert fake.requests[1].json == {"prompt": "cat"}
    assert fake.count("/v2/jobs/imagine") == 3
