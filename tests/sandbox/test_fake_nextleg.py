"""The fake TheNextLeg's own contract: raw HTTP shapes (docs/backends/thenextleg.md), settings, faults."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from PIL import Image

from sandbox import images
from sandbox.fake_nextleg import GRID_BUTTONS, SETTINGS_LABELS, UPSCALE_BUTTONS, FakeNextLeg
from tests.backends.hook_receiver import HookReceiver

SECRET = "fake-tnl"
PAYLOAD_KEYS = {
    "createdAt", "responseAt", "buttons", "imageUrl", "imageUrls", "buttonMessageId", "originatingMessageId",
    "content", "ref", "type", "accountId",
}  # fmt: skip


@pytest.fixture
async def fake() -> AsyncIterator[FakeNextLeg]:
    server = FakeNextLeg(secret=SECRET, step_seconds=0.01)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def http(fake: FakeNextLeg) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {SECRET}"}
    async with httpx.AsyncClient(base_url=fake.base_url, headers=headers, timeout=5, verify=False) as client:
        yield client


@pytest.fixture
async def receiver() -> AsyncIterator[HookReceiver]:
    hooks = HookReceiver()
    await hooks.start()
    yield hooks
    await hooks.stop()


async def submit(http: httpx.AsyncClient, path: str, **body: Any) -> str:
    response = await http.post(path, json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer.keys() == {"success", "messageId", "createdAt"}
    assert answer["success"] is True
    return str(answer["messageId"])


async def done(fake: FakeNextLeg, message_id: str) -> dict[str, Any]:
    async with asyncio.timeout(5):
        return await fake.wait_done(message_id)


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return image.size


async def test_imagine_progress_and_payload(fake: FakeNextLeg, http: httpx.AsyncClient) -> None:
    fake.faults.stick_next_job()
    stuck = await submit(http, "/v2/imagine", msg="slow")
    async with asyncio.timeout(5):
        await fake.wait_until(lambda: fake.progress(stuck) > 0)
    running = (await http.get(f"/v2/message/{stuck}")).json()
    assert running == {"progress": 25, "progressImageUrl": running["progressImageUrl"]}
    assert "progress=25" in running["progressImageUrl"]
    assert png_size((await http.get(running["progressImageUrl"])).content) == (512, 512)

    message_id = await submit(http, "/v2/imagine", msg="a red fox", ref="r1")
    payload = await done(fake, message_id)
    assert payload.keys() == PAYLOAD_KEYS
    assert (payload["originatingMessageId"], payload["content"], payload["ref"]) == (
        message_id,
        "a red fox",
        "r1",
    )
    assert payload["buttons"] == GRID_BUTTONS == ["U1", "U2", "U3", "U4", "🔄", "V1", "V2", "V3", "V4"]
    assert payload["buttonMessageId"] != message_id
    assert png_size((await http.get(payload["imageUrl"])).content) == (512, 512)
    grid = (await http.get(payload["imageUrl"])).content
    assert len(payload["imageUrls"]) == 4
    assert (await http.get(payload["imageUrls"][1])).content == images.crop_tile(grid, 2)

    assert (await http.get(f"/v2/message/{message_id}")).json() == {"progress": 100, "response": payload}
    fake.faults.flat_results = True
    assert (await http.get(f"/v2/message/{message_id}")).json() == {"progress": 100, **payload}


async def test_unknown_message_and_incomplete(fake: FakeNextLeg, http: httpx.AsyncClient) -> None:
    unknown = await http.get("/v2/message/nope")
    assert (unknown.status_code, unknown.json()["success"]) == (404, False)
    fake.faults.stick_next_job()
    stuck = await submit(http, "/v2/imagine", msg="slow")
    fake.minute_seconds = 0.0
    assert (await http.get(f"/v2/message/{stuck}", params={"expireMins": "0"})).json() == {
        "progress": "incomplete"
    }


async def test_buttons(fake: FakeNextLeg, http: httpx.AsyncClient) -> None:
    grid = await done(fake, await submit(http, "/v2/imagine", msg="a cat"))
    upscale_id = await submit(http, "/v2/button", button="U2", buttonMessageId=grid["buttonMessageId"])
    upscale = await done(fake, upscale_id)
    assert upscale["buttons"] == UPSCALE_BUTTONS
    assert upscale["imageUrls"] == []
    grid_png = (await http.get(grid["imageUrl"])).content
    assert (await http.get(upscale["imageUrl"])).content == images.crop_tile(grid_png, 2)

    # Mistakes are only known once "Midjourney" answers: HTTP 200, then the text in content.
    twice = await done(
        fake, await submit(http, "/v2/button", button="U2", buttonMessageId=grid["buttonMessageId"])
    )
    assert (twice["content"], twice["buttons"]) == ("ALREADY_REQUESTED_UPSCALE", [])
    assert "imageUrl" not in twice
    missing = await submit(http, "/v2/button", button="U9", buttonMessageId=grid["buttonMessageId"])
    assert (await done(fake, missing))["content"] == "BUTTON_NOT_FOUND"
    # The messageId is not a buttonMessageId.
    wrong_id = await submit(http, "/v2/button", button="V1", buttonMessageId=grid["originatingMessageId"])
    assert (await done(fake, wrong_id))["content"] == "BUTTON_NOT_FOUND"
    assert (await http.post("/v2/button", json={"button": "U1"})).status_code == 400


async def test_prefilter(fake: FakeNextLeg, http: httpx.AsyncClient) -> None:
    refused = await http.post("/v2/imagine", json={"msg": "a Forbidden cat"})
    assert (refused.status_code, refused.json()) == (
        400,
        {"success": False, "msg": "Invalid phrase: 'forbidden'"},
    )
    banned = await submit(http, "/v2/imagine", msg="a forbidden cat", ignorePrefilter=True)
    assert (await done(fake, banned))["content"] == "BANNED_PROMPT"
    assert (await http.post("/v2/imagine", json={"msg": " "})).status_code == 400


async def test_settings_panel(fake: FakeNextLeg, http: httpx.AsyncClient) -> None:
    first = await done(fake, (await http.get("/v2/settings")).json()["messageId"])
    assert (first["buttons"], first["content"]) == (SETTINGS_LABELS, "Adjust your settings here.")
    toggled = await done(fake, await submit(http, "/v2/settings", settingsToggle="MJ version 5", ref=""))
    # TheNextLeg's exact text (docs/backends/thenextleg.md).
    assert toggled["content"] == "Adjust your settings here. Current suffix: ` --v 5` "
    await done(fake, await submit(http, "/v2/settings", settingsToggle="High quality (2x cost)"))
    await done(fake, await submit(http, "/v2/settings", settingsToggle="Remix mode"))
    assert fake.settings.suffix == "--v 5 --q 2"
    assert fake.settings.remix
    bad = await done(fake, await submit(http, "/v2/settings", settingsToggle="Turbo"))
    assert bad["content"] == "BUTTON_NOT_FOUND"
    await done(fake, await submit(http, "/v2/settings", settingsToggle="Reset Settings"))
    assert fake.settings.suffix == ""


async def test_webhook_gets_the_final_payload_once(
    fake: FakeNextLeg, http: httpx.AsyncClient, receiver: HookReceiver
) -> None:
    message_id = await submit(http, "/v2/imagine", msg="a cat", webhookOverride=receiver.url)
    async with asyncio.timeout(5):
        (body,) = await receiver.wait_until(lambda got: len(got) == 1)
    assert body == await done(fake, message_id)
    fake.webhook_url = receiver.url  # the dashboard default
    fake.faults.duplicate_hooks = True
    await submit(http, "/v2/imagine", msg="twice")
    async with asyncio.timeout(5):
        bodies = await receiver.wait_until(lambda got: len(got) == 3)
    assert bodies[1] == bodies[2]
    fake.faults.drop_hooks = True
    lost = await done(fake, await submit(http, "/v2/imagine", msg="lost"))
    assert all(d.body["originatingMessageId"] != lost["originatingMessageId"] for d in fake.hook_deliveries)


async def test_auth(fake: FakeNextLeg) -> None:
    async with httpx.AsyncClient(base_url=fake.base_url, verify=False) as anonymous:
        refused = await anonymous.post("/v2/imagine", json={"msg": "cat"})
        assert (refused.status_code, refused.json()["success"]) == (401, False)
        by_query = await anonymous.get("/v2/settings", params={"authToken": SECRET})
        assert by_query.status_code == 200
        assert (
            await anonymous.post("/v2/imagine", json={"msg": "cat"}, params={"authToken": SECRET})
        ).status_code == 401


async def test_pace_limit(fake: FakeNextLeg, http: httpx.AsyncClient) -> None:
    fake.faults.min_interval = 60.0
    assert (await http.get("/v2/message/x")).status_code == 404
    too_soon = await http.get("/v2/message/x")
    assert (too_soon.status_code, too_soon.json()["success"]) == (429, False)


async def test_faults_and_recording(fake: FakeNextLeg, http: httpx.AsyncClient) -> None:
    fake.faults.fail_next_submit(503)
    assert (await http.post("/v2/imagine", json={"msg": "cat"})).status_code == 503
    fake.faults.fail_next_submit(200, {"success": False, "msg": "QUEUE_FULL"})
    assert (await http.post("/v2/imagine", json={"msg": "cat"})).json() == {
        "success": False,
        "msg": "QUEUE_FULL",
    }
    fake.faults.job_fails("QUEUE_FULL")
    assert (await done(fake, await submit(http, "/v2/imagine", msg="cat")))["content"] == "QUEUE_FULL"
    assert fake.requests[0].json == {"msg": "cat"}
    assert fake.count("/v2/imagine") == 3
    fake.faults.response_delay = 0.1
    with pytest.raises(httpx.TimeoutException):
        await http.get("/v2/settings", timeout=0.02)
