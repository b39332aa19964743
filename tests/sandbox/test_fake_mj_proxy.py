"""The fake midjourney-proxy's own contract: raw HTTP shapes, task life cycle, MODAL flow, faults."""

from __future__ import annotations

import asyncio
import base64
import io
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from PIL import Image

from bot.backends.mj_proxy import Flavour
from sandbox import images
from sandbox.fake_mj_proxy import FakeMjProxy
from tests.backends.hook_receiver import HookReceiver

SECRET = "fake-secret"
TASK_KEYS = {
    "id", "action", "status", "prompt", "promptEn", "description", "state", "submitTime", "startTime",
    "finishTime", "progress", "imageUrl", "failReason", "properties", "buttons",
}  # fmt: skip


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


PNG_URL = data_url(images.render_grid("reference", "seed"))


@pytest.fixture(params=["java", "csharp"])
async def fake(request: pytest.FixtureRequest) -> AsyncIterator[FakeMjProxy]:
    proxy = FakeMjProxy(flavour=request.param, secret=SECRET, step_seconds=0.01)
    await proxy.start()
    yield proxy
    await proxy.stop()


@pytest.fixture
async def http(fake: FakeMjProxy) -> AsyncIterator[httpx.AsyncClient]:
    header = "mj-api-secret" if fake.flavour == "java" else "Authorization"
    # Plain http on loopback: verify=False only skips loading the CA bundle (50 ms per client).
    async with httpx.AsyncClient(
        base_url=fake.base_url, headers={header: SECRET}, timeout=5, verify=False
    ) as client:
        yield client


@pytest.fixture
async def receiver() -> AsyncIterator[HookReceiver]:
    hooks = HookReceiver()
    await hooks.start()
    yield hooks
    await hooks.stop()


async def submit(http: httpx.AsyncClient, endpoint: str, **body: Any) -> dict[str, Any]:
    response = await http.post(f"/mj/submit/{endpoint}", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def done(fake: FakeMjProxy, task_id: str) -> dict[str, Any]:
    async with asyncio.timeout(5):
        return await fake.wait_for(task_id, "SUCCESS", "FAILURE", "CANCEL")


async def finished_task(
    fake: FakeMjProxy, http: httpx.AsyncClient, endpoint: str, **body: Any
) -> dict[str, Any]:
    vo = await submit(http, endpoint, **body)
    assert vo["code"] == 1, vo
    return await done(fake, vo["result"])


def button(task: dict[str, Any], fragment: str) -> str:
    return next(str(b["customId"]) for b in task["buttons"] if fragment in b["customId"])


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return image.size


# --------------------------------------------------------------------------------------------
# Shapes and life cycle
# --------------------------------------------------------------------------------------------


async def test_imagine_vo_and_task_shapes(fake: FakeMjProxy, http: httpx.AsyncClient) -> None:
    vo = await submit(http, "imagine", prompt="a red fox", state="s1", base64Array=[PNG_URL])
    assert vo["code"] == 1
    assert vo["description"]
    assert isinstance(vo["result"], str)
    assert re.fullmatch(r"\d{16}", vo["result"])
    assert vo["properties"]["discordInstanceId"]

    first = (await http.get(f"/mj/task/{vo['result']}/fetch")).json()
    assert first.keys() >= TASK_KEYS
    # The SUBMITTED "0%" state itself is checked through the hooks (test_progress_is_pushed...).
    assert first["status"] in ("SUBMITTED", "IN_PROGRESS")
    assert first["buttons"] == []

    task = await done(fake, vo["result"])
    assert task.keys() >= TASK_KEYS
    assert (task["action"], task["status"], task["progress"], task["state"]) == (
        "IMAGINE",
        "SUCCESS",
        "100%",
        "s1",
    )
    assert task["description"] == "/imagine a red fox"
    assert task["properties"]["finalPrompt"] == "a red fox --v 6.1"
    hash_ = task["properties"]["messageHash"]
    assert [b["customId"] for b in task["buttons"]] == [
        *(f"MJ::JOB::upsample::{i}::{hash_}" for i in range(1, 5)),
        f"MJ::JOB::reroll::0::{hash_}::SOLO",
        *(f"MJ::JOB::variation::{i}::{hash_}" for i in range(1, 5)),
    ]
    assert all({"customId", "emoji", "label", "type", "style"} == b.keys() for b in task["buttons"])
    assert task["submitTime"] <= task["startTime"] <= task["finishTime"]
    assert png_size((await http.get(task["imageUrl"])).content) == (512, 512)
    if fake.flavour == "csharp":
        assert task["botType"] == "MID_JOURNEY"


async def test_progress_is_pushed_to_notify_hook(
    fake: FakeMjProxy, http: httpx.AsyncClient, receiver: HookReceiver
) -> None:
    vo = await submit(http, "imagine", prompt="a cat", notifyHook=receiver.url)
    async with asyncio.timeout(5):
        bodies = await receiver.wait_until(lambda got: any(b["status"] == "SUCCESS" for b in got))
    assert [(b["status"], b["progress"]) for b in bodies] == [
        ("SUBMITTED", "0%"),
        ("IN_PROGRESS", "25%"),
        ("IN_PROGRESS", "50%"),
        ("IN_PROGRESS", "75%"),
        ("SUCCESS", "100%"),
    ]
    assert all(b["id"] == vo["result"] and b.keys() >= TASK_KEYS for b in bodies)
    assert all(b["buttons"] == [] for b in bodies[:-1])
    preview = bodies[1]["imageUrl"]
    assert "progress=25" in preview
    assert png_size((await http.get(preview)).content) == (512, 512)
    assert fake.hook_deliveries[-1].delivered


async def test_upscale_buttons_and_image(fake: FakeMjProxy, http: httpx.AsyncClient) -> None:
    grid = await finished_task(fake, http, "imagine", prompt="a cat")
    vo = await submit(http, "action", taskId=grid["id"], customId=button(grid, "upsample::2"))
    upscale = await done(fake, vo["result"])
    assert (upscale["action"], upscale["description"]) == ("UPSCALE", f"/up {grid['id']} U2")
    hash_ = upscale["properties"]["messageHash"]
    assert [b["customId"] for b in upscale["buttons"]] == [
        f"MJ::JOB::upsample_v6_2x_subtle::1::{hash_}::SOLO",
        f"MJ::JOB::upsample_v6_2x_creative::1::{hash_}::SOLO",
        f"MJ::JOB::low_variation::1::{hash_}::SOLO",
        f"MJ::JOB::high_variation::1::{hash_}::SOLO",
        f"MJ::Inpaint::1::{hash_}::SOLO",
        f"MJ::Outpaint::50::1::{hash_}::SOLO",
        f"MJ::Outpaint::75::1::{hash_}::SOLO",
        f"MJ::CustomZoom::{hash_}",
        *(f"MJ::JOB::pan_{d}::1::{hash_}::SOLO" for d in ("left", "right", "up", "down")),
        f"MJ::BOOKMARK::{hash_}",
    ]
    tile = (await http.get(upscale["imageUrl"])).content
    assert png_size(tile) == (256, 256)
    grid_png = (await http.get(grid["imageUrl"])).content
    assert tile == images.crop_tile(grid_png, 2)

    enlarged = await submit(http, "action", taskId=upscale["id"], customId=button(upscale, "2x_subtle"))
    assert png_size((await http.get((await done(fake, enlarged["result"]))["imageUrl"])).content) == (
        512,
        512,
    )


async def test_action_errors_and_bookmark(fake: FakeMjProxy, http: httpx.AsyncClient) -> None:
    missing = await http.post("/mj/submit/action", json={"taskId": "1000000000000000", "customId": "x"})
    assert missing.status_code == (404 if fake.flavour == "csharp" else 200)
    assert missing.json()["code"] == 3

    fake.faults.stick_next_task()
    running = (await submit(http, "imagine", prompt="slow"))["result"]
    assert (await submit(http, "action", taskId=running, customId="MJ::JOB::upsample::1::x"))["code"] == 4

    grid = await finished_task(fake, http, "imagine", prompt="a cat")
    assert (await submit(http, "action", taskId=grid["id"], customId="MJ::JOB::upsample::9::nope"))[
        "code"
    ] == 4

    upscale = await done(
        fake,
        (await submit(http, "action", taskId=grid["id"], customId=button(grid, "upsample::1")))["result"],
    )
    before = len(fake.task_ids)
    bookmark = await submit(http, "action", taskId=upscale["id"], customId=button(upscale, "BOOKMARK"))
    assert (bookmark["code"], bookmark["result"]) == (1, upscale["id"])
    assert len(fake.task_ids) == before


async def test_unknown_task_fetch_list_and_cancel(fake: FakeMjProxy, http: httpx.AsyncClient) -> None:
    unknown = await http.get("/mj/task/1000000000000000/fetch")
    assert (unknown.status_code, unknown.content) == (204 if fake.flavour == "csharp" else 200, b"")

    known = (await submit(http, "imagine", prompt="cat"))["result"]
    listed = (await http.post("/mj/task/list-by-condition", json={"ids": [known, "1000000000000000"]})).json()
    assert [t["id"] for t in listed] == [known]
    assert (await http.post("/mj/task/list-by-condition", json={"ids": None})).json() == []

    cancel = await http.post(f"/mj/task/{known}/cancel")
    if fake.flavour == "java":
        assert cancel.status_code == 404
        return
    assert cancel.status_code == 200
    task = fake.task_json(known)
    assert (task["status"], task["failReason"]) == ("FAILURE", "取消任务")


async def test_auth(fake: FakeMjProxy) -> None:
    async with httpx.AsyncClient(base_url=fake.base_url, verify=False) as anonymous:
        refused = await anonymous.post("/mj/submit/imagine", json={"prompt": "cat"})
        if fake.flavour == "java":
            assert (refused.status_code, refused.content) == (401, b"")
        else:
            assert (refused.status_code, refused.text) == (403, "未登录")
            # C# also takes the token from mj-api-secret.
            other = await anonymous.post(
                "/mj/submit/imagine", json={"prompt": "cat"}, headers={"Mj-Api-Secret": SECRET}
            )
            assert other.json()["code"] == 1
        # Images are public, like Discord's CDN.
        assert (await anonymous.get("/images/1.png")).status_code == 404
    assert fake.count("/mj/submit/imagine") == (1 if fake.flavour == "java" else 2)


async def test_requests_are_recorded(fake: FakeMjProxy, http: httpx.AsyncClient) -> None:
    task_id = (await submit(http, "imagine", prompt="cat"))["result"]
    await http.get(f"/mj/task/{task_id}/fetch")
    await http.get(f"/mj/task/{task_id}/fetch")
    assert fake.requests[0].json == {"prompt": "cat"}
    assert (fake.count("/mj/submit/"), fake.count("/mj/task/", method="GET")) == (1, 2)


async def test_validation_codes(fake: FakeMjProxy, http: httpx.AsyncClient) -> None:
    assert (await submit(http, "imagine", prompt="  "))["code"] == 4
    assert (await submit(http, "imagine", prompt="cat", base64Array=["not a data url"]))["code"] == 4
    assert (await submit(http, "blend", base64Array=[PNG_URL]))["code"] == 4
    assert (await submit(http, "blend", base64Array=[PNG_URL] * 6))["code"] == 4
    assert (await submit(http, "blend", base64Array=[PNG_URL] * 2, dimensions="ROUND"))["code"] == 4
    assert (await submit(http, "describe", base64="data:image/png;base64,AAAA"))["code"] == 4
    assert (await submit(http, "shorten", prompt=""))["code"] == 4


async def test_queue_position_when_account_is_busy(http: httpx.AsyncClient) -> None:
    proxy = FakeMjProxy(core_size=1, step_seconds=0.01)
    await proxy.start()
    try:
        async with httpx.AsyncClient(base_url=proxy.base_url, verify=False) as client:
            proxy.faults.stick_next_task()
            assert (await submit(client, "imagine", prompt="one"))["code"] == 1
            queued = await submit(client, "imagine", prompt="two")
            third = await submit(client, "imagine", prompt="three")
        assert (queued["code"], queued["properties"]["numberOfQueues"]) == (22, 0)
        assert (third["code"], third["properties"]["numberOfQueues"]) == (22, 1)
        assert queued["description"] == "排队中，前面还有0个任务"
    finally:
        await proxy.stop()


# --------------------------------------------------------------------------------------------
# MODAL flow, blend, describe, shorten
# --------------------------------------------------------------------------------------------


async def upscaled(fake: FakeMjProxy, http: httpx.AsyncClient) -> dict[str, Any]:
    grid = await finished_task(fake, http, "imagine", prompt="a lighthouse")
    vo = await submit(http, "action", taskId=grid["id"], customId=button(grid, "upsample::1"))
    return await done(fake, vo["result"])


async def test_custom_zoom_modal_flow(fake: FakeMjProxy, http: httpx.AsyncClient) -> None:
    upscale = await upscaled(fake, http)
    vo = await submit(http, "action", taskId=upscale["id"], customId=button(upscale, "CustomZoom"))
    assert (vo["code"], vo["description"]) == (21, "Waiting for window confirm")
    assert vo["properties"]["remix"] is True
    assert "--zoom" in vo["properties"]["finalPrompt"]
    modal_id = vo["result"]
    assert fake.task_json(modal_id)["status"] == "MODAL"

    assert (await submit(http, "modal", taskId=modal_id, prompt="a lighthouse --ar 1:1"))["code"] == 4
    confirmed = await submit(http, "modal", taskId=modal_id, prompt="a lighthouse --ar 1:1 --zoom 1.5")
    assert (confirmed["code"], confirmed["result"]) == (1, modal_id)
    task = await done(fake, modal_id)
    assert (task["action"], task["status"], task["prompt"]) == (
        "ZOOM",
        "SUCCESS",
        "a lighthouse --ar 1:1 --zoom 1.5",
    )
    assert len(task["buttons"]) == 9
    assert (await submit(http, "modal", taskId=modal_id, prompt="again --zoom 2"))["code"] == 4


async def test_vary_region_needs_a_mask(fake: FakeMjProxy, http: httpx.AsyncClient) -> None:
    upscale = await upscaled(fake, http)
    vo = await submit(http, "action", taskId=upscale["id"], customId=button(upscale, "Inpaint"))
    assert vo["code"] == 21
    assert vo["properties"]["finalPrompt"] == ""
    assert (await submit(http, "modal", taskId=vo["result"], prompt="a red door"))["code"] == 4
    mask = await submit(http, "modal", taskId=vo["result"], prompt="a red door", maskBase64=PNG_URL)
    assert mask["code"] == 1
    assert (await done(fake, vo["result"]))["action"] == "VARIATION"


async def test_blend(fake: FakeMjProxy, http: httpx.AsyncClient) -> None:
    task = await finished_task(fake, http, "blend", base64Array=[PNG_URL] * 3, dimensions="PORTRAIT")
    assert task["action"] == "BLEND"
    assert task["description"] == f"/blend {task['id']} 3"
    assert task["properties"]["finalPrompt"].endswith("--ar 2:3")
    assert len(task["buttons"]) == 9


async def test_describe_then_pick(fake: FakeMjProxy, http: httpx.AsyncClient) -> None:
    task = await finished_task(fake, http, "describe", base64=PNG_URL)
    assert task["action"] == "DESCRIBE"
    prompts = task["properties"]["finalPrompt"].split("\n\n")
    assert [p[:3] for p in prompts] == ["1️⃣", "2️⃣", "3️⃣", "4️⃣"]
    assert [b["customId"] for b in task["buttons"]] == [
        *(f"MJ::Job::PicReader::{i}" for i in range(1, 5)),
        "MJ::Picread::Retry",
    ]
    assert (await http.get(task["imageUrl"])).content == base64.b64decode(PNG_URL.split(",")[1])

    pick = await submit(http, "action", taskId=task["id"], customId="MJ::Job::PicReader::2")
    assert pick["code"] == 21
    assert pick["properties"]["finalPrompt"] == prompts[1].removeprefix("2️⃣ ")
    assert (await submit(http, "modal", taskId=pick["result"]))["code"] == 1
    imagined = await done(fake, pick["result"])
    assert (imagined["action"], imagined["prompt"]) == ("IMAGINE", pick["properties"]["finalPrompt"])


async def test_shorten(fake: FakeMjProxy, http: httpx.AsyncClient) -> None:
    prompt = "a very detailed oil painting of a lighthouse at dusk"
    task = await finished_task(fake, http, "shorten", prompt=prompt)
    assert task["action"] == "SHORTEN"
    assert task["imageUrl"] is None
    assert "Shortened prompts" in task["properties"]["finalPrompt"]
    assert [b["customId"] for b in task["buttons"]] == [f"MJ::Job::PromptAnalyzer::{i}" for i in range(1, 6)]
    pick = await submit(http, "action", taskId=task["id"], customId="MJ::Job::PromptAnalyzer::5")
    assert pick["code"] == 21
    assert prompt.startswith(pick["properties"]["finalPrompt"])


# --------------------------------------------------------------------------------------------
# Faults
# --------------------------------------------------------------------------------------------


async def test_http_500(fake: FakeMjProxy, http: httpx.AsyncClient) -> None:
    fake.faults.fail_next_submit(status=500)
    failed = await http.post("/mj/submit/imagine", json={"prompt": "cat"})
    assert failed.status_code == 500
    if fake.flavour == "java":
        assert failed.json()["error"] == "Internal Server Error"
    else:
        assert failed.json() | {"timestamp": None} == {
            "success": False, "code": -1, "message": "操作失败", "timestamp": None
        }  # fmt: skip
    assert (await submit(http, "imagine", prompt="cat"))["code"] == 1


@pytest.mark.parametrize("code", [3, 4, 9, 23, 24])
async def test_injected_codes(fake: FakeMjProxy, http: httpx.AsyncClient, code: int) -> None:
    fake.faults.fail_next_submit(code=code)
    vo = await submit(http, "imagine", prompt="cat")
    assert vo["code"] == code
    assert vo["description"]
    assert vo["result"] is None


async def test_queue_full_and_envelope(fake: FakeMjProxy, http: httpx.AsyncClient) -> None:
    fake.faults.fail_next_submit(code=fake.queue_full_code)
    assert "队列已满" in (await submit(http, "imagine", prompt="cat"))["description"]
    fake.faults.fail_next_submit(code=-1, description="队列数已达上限")
    envelope = await submit(http, "action", taskId="1", customId="x")
    assert (envelope["success"], envelope["message"]) == (False, "队列数已达上限")


async def test_banned_words(fake: FakeMjProxy, http: httpx.AsyncClient) -> None:
    fake.faults.banned_words = {"gore"}
    vo = await submit(http, "imagine", prompt="some Gore here")
    if fake.flavour == "java":
        assert (vo["code"], vo["properties"]["bannedWord"]) == (24, "gore")
        return
    task = await done(fake, vo["result"])
    assert (task["status"], task["failReason"], task["progress"]) == ("FAILURE", "可能包含敏感词", "")


async def test_task_fails_and_stuck(fake: FakeMjProxy, http: httpx.AsyncClient) -> None:
    fake.faults.task_fails("[Invalid parameter] bad --ar")
    failing = (await submit(http, "imagine", prompt="one"))["result"]
    assert (await done(fake, failing))["failReason"] == "[Invalid parameter] bad --ar"

    fake.faults.stick_next_task()
    stuck = (await submit(http, "imagine", prompt="two"))["result"]
    async with asyncio.timeout(5):
        await fake.wait_for(stuck, "IN_PROGRESS")
    later = await finished_task(fake, http, "imagine", prompt="three")
    assert later["status"] == "SUCCESS"
    assert fake.task_json(stuck)["status"] == "IN_PROGRESS"


async def test_drop_duplicate_reorder_hooks(
    fake: FakeMjProxy, http: httpx.AsyncClient, receiver: HookReceiver
) -> None:
    async def pushed(prompt: str, count: int) -> list[dict[str, Any]]:
        task_id = (await submit(http, "imagine", prompt=prompt, notifyHook=receiver.url))["result"]
        async with asyncio.timeout(5):
            await receiver.wait_until(lambda got: sum(b["id"] == task_id for b in got) >= count)
        return [b for b in receiver.bodies if b["id"] == task_id]

    fake.faults.duplicate_hooks = True
    statuses = [b["status"] for b in await pushed("twice", 10)]
    assert statuses == ["SUBMITTED"] * 2 + ["IN_PROGRESS"] * 6 + ["SUCCESS"] * 2

    fake.faults.duplicate_hooks, fake.faults.reorder_hooks = False, True
    progress = [b["progress"] for b in await pushed("late", 5)]
    assert progress == ["100%", "75%", "50%", "25%", "0%"]

    fake.faults.reorder_hooks, fake.faults.drop_hooks = False, True
    lost = await finished_task(fake, http, "imagine", prompt="lost", notifyHook=receiver.url)
    # The drop is decided before any POST starts, so once the task is done none can be in flight.
    assert all(d.body["id"] != lost["id"] for d in fake.hook_deliveries)
    assert all(b["id"] != lost["id"] for b in receiver.bodies)


async def test_unreachable_hook_is_ignored(fake: FakeMjProxy, http: httpx.AsyncClient) -> None:
    task = await finished_task(fake, http, "imagine", prompt="cat", notifyHook="http://127.0.0.1:9/nowhere")
    assert task["status"] == "SUCCESS"
    assert fake.hook_deliveries
    assert not any(d.delivered for d in fake.hook_deliveries)


async def test_delayed_responses(fake: FakeMjProxy, http: httpx.AsyncClient) -> None:
    fake.faults.delay_responses(0.1)
    with pytest.raises(httpx.TimeoutException):
        await http.post("/mj/submit/imagine", json={"prompt": "cat"}, timeout=0.02)


def test_fault_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        FakeMjProxy().faults.fail_next_submit()


# --------------------------------------------------------------------------------------------
# Open-source flavour: /submit/change and /submit/simple-change only
# --------------------------------------------------------------------------------------------


@pytest.fixture
async def oss() -> AsyncIterator[tuple[FakeMjProxy, httpx.AsyncClient]]:
    proxy = FakeMjProxy(flavour="oss", secret=SECRET, step_seconds=0.01)
    await proxy.start()
    try:
        async with httpx.AsyncClient(
            base_url=proxy.base_url, headers={"mj-api-secret": SECRET}, timeout=5, verify=False
        ) as client:
            yield proxy, client
    finally:
        await proxy.stop()


async def test_oss_task_has_no_buttons_and_plus_routes_are_missing(
    oss: tuple[FakeMjProxy, httpx.AsyncClient],
) -> None:
    fake, http = oss
    grid = await finished_task(fake, http, "imagine", prompt="a cat")
    assert "buttons" not in grid
    assert grid.keys() >= TASK_KEYS - {"buttons"}
    for path in (
        "/mj/submit/action",
        "/mj/submit/modal",
        "/mj/submit/shorten",
        f"/mj/task/{grid['id']}/cancel",
    ):
        missing = await http.post(path, json={"taskId": grid["id"], "customId": "x", "prompt": "cat"})
        assert missing.status_code == 404
        assert missing.json() | {"timestamp": None} == {
            "timestamp": None, "status": 404, "error": "Not Found", "path": path
        }  # fmt: skip
    async with httpx.AsyncClient(base_url=fake.base_url, verify=False) as anonymous:
        refused = await anonymous.post("/mj/submit/change", json={"taskId": grid["id"], "action": "REROLL"})
        assert (refused.status_code, refused.content) == (401, b"")


async def test_oss_change_upscale_variation_reroll(oss: tuple[FakeMjProxy, httpx.AsyncClient]) -> None:
    fake, http = oss
    grid = await finished_task(fake, http, "imagine", prompt="a cat", state="s")
    upscale = await finished_task(
        fake, http, "change", taskId=grid["id"], action="UPSCALE", index=2, state="u"
    )
    assert (upscale["action"], upscale["description"], upscale["state"]) == (
        "UPSCALE",
        f"/up {grid['id']} U2",
        "u",
    )
    grid_png = (await http.get(grid["imageUrl"])).content
    assert (await http.get(upscale["imageUrl"])).content == images.crop_tile(grid_png, 2)

    variation = await finished_task(fake, http, "change", taskId=grid["id"], action="VARIATION", index=3)
    assert (variation["action"], variation["description"]) == ("VARIATION", f"/up {grid['id']} V3")
    # Re-roll ignores the index (C# would default it to 1); a variation result can be re-rolled.
    reroll = await finished_task(fake, http, "change", taskId=variation["id"], action="REROLL", index=1)
    assert (reroll["action"], reroll["description"]) == ("REROLL", f"/up {variation['id']} R")
    assert reroll["prompt"] == "a cat"


@pytest.mark.parametrize(
    ("content", "action", "label"),
    [("{id} U1", "UPSCALE", "U1"), ("{id} v4", "VARIATION", "V4"), ("{id} r", "REROLL", "R")],
)
async def test_oss_simple_change(
    oss: tuple[FakeMjProxy, httpx.AsyncClient], content: str, action: str, label: str
) -> None:
    fake, http = oss
    grid = await finished_task(fake, http, "imagine", prompt="a cat")
    task = await finished_task(fake, http, "simple-change", content=content.format(id=grid["id"]))
    assert (task["action"], task["description"]) == (action, f"/up {grid['id']} {label}")


async def test_oss_change_errors(oss: tuple[FakeMjProxy, httpx.AsyncClient]) -> None:
    fake, http = oss
    grid = await finished_task(fake, http, "imagine", prompt="a cat")
    upscale = await finished_task(fake, http, "change", taskId=grid["id"], action="UPSCALE", index=1)

    async def change(**body: Any) -> tuple[int, str]:
        vo = await submit(http, "change", **body)
        return vo["code"], vo["description"]

    assert await change(taskId="1000000000000000", action="UPSCALE", index=1) == (3, "关联任务不存在或已失效")
    assert await change(taskId=upscale["id"], action="VARIATION", index=1) == (4, "关联任务不允许执行变化")
    assert await change(taskId=grid["id"], action="ZOOM", index=1) == (4, "action参数错误")
    assert await change(action="UPSCALE", index=1) == (4, "taskId不能为空")
    assert (await change(taskId=grid["id"], action="UPSCALE", index=5))[0] == 4
    fake.faults.stick_next_task()
    running = (await submit(http, "imagine", prompt="slow"))["result"]
    assert await change(taskId=running, action="UPSCALE", index=1) == (4, "关联任务状态错误")
    for content in ("", grid["id"], f"{grid['id']} U5", f"{grid['id']} X1"):
        assert (await submit(http, "simple-change", content=content))["code"] == 4


async def test_change_exists_on_java_not_on_csharp(fake: FakeMjProxy, http: httpx.AsyncClient) -> None:
    grid = await finished_task(fake, http, "imagine", prompt="a cat")
    response = await http.post(
        "/mj/submit/change", json={"taskId": grid["id"], "action": "UPSCALE", "index": 1}
    )
    if fake.flavour == "csharp":
        # trueai v10 removed /submit/change: ASP.NET's empty 404.
        assert (response.status_code, response.content) == (404, b"")
        return
    assert response.json()["code"] == 1
    assert (await done(fake, response.json()["result"]))["action"] == "UPSCALE"


def test_unknown_flavour_is_refused() -> None:
    with pytest.raises(ValueError, match="flavour"):
        FakeMjProxy(flavour="rust")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Remix: enableRemix (C#) and an account with Remix mode on (plus and C#)
# --------------------------------------------------------------------------------------------


async def test_enable_remix_opens_a_modal_on_csharp_only(fake: FakeMjProxy, http: httpx.AsyncClient) -> None:
    grid = await finished_task(fake, http, "imagine", prompt="a cat")
    vo = await submit(
        http, "action", taskId=grid["id"], customId=button(grid, "variation::1"), enableRemix=True
    )
    if fake.flavour == "java":
        # Plus has no enableRemix: with Remix off on the account the variation just starts.
        assert vo["code"] == 1
        assert (await done(fake, vo["result"]))["prompt"] == "a cat"
        return
    assert (vo["code"], vo["description"]) == (21, "Waiting for window confirm")
    assert vo["properties"]["remix"] is True
    assert vo["properties"]["finalPrompt"] == grid["properties"]["finalPrompt"]
    assert fake.task_json(vo["result"])["status"] == "MODAL"

    confirmed = await submit(http, "modal", taskId=vo["result"], prompt="a dog --v 6.1")
    assert (confirmed["code"], confirmed["result"]) == (1, vo["result"])
    task = await done(fake, vo["result"])
    assert (task["action"], task["status"]) == ("VARIATION", "SUCCESS")
    assert (task["prompt"], task["promptEn"]) == ("a dog --v 6.1", "a dog --v 6.1")
    assert len(task["buttons"]) == 9


async def test_enable_remix_is_ignored_for_buttons_without_remix(
    fake: FakeMjProxy, http: httpx.AsyncClient
) -> None:
    grid = await finished_task(fake, http, "imagine", prompt="a cat")
    vo = await submit(
        http, "action", taskId=grid["id"], customId=button(grid, "upsample::1"), enableRemix=True
    )
    assert vo["code"] == 1


@pytest.mark.parametrize("flavour", ["java", "csharp"])
async def test_account_remix_makes_remixable_buttons_modal(flavour: Flavour) -> None:
    proxy = FakeMjProxy(flavour=flavour, step_seconds=0.01, account_remix=True)
    await proxy.start()
    try:
        async with httpx.AsyncClient(base_url=proxy.base_url, timeout=5, verify=False) as http:
            grid = await finished_task(proxy, http, "imagine", prompt="a cat")
            reroll = await submit(http, "action", taskId=grid["id"], customId=button(grid, "reroll"))
            assert reroll["code"] == 21
            upscale_vo = await submit(http, "action", taskId=grid["id"], customId=button(grid, "upsample::1"))
            assert upscale_vo["code"] == 1
            upscale = await done(proxy, upscale_vo["result"])
            pan = await submit(http, "action", taskId=upscale["id"], customId=button(upscale, "pan_left"))
            assert pan["code"] == 21
            assert (await submit(http, "modal", taskId=reroll["result"], prompt="a cow"))["code"] == 1
            assert (await done(proxy, reroll["result"]))["prompt"] == "a cow"
    finally:
        await proxy.stop()
