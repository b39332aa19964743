"""The fake AIMG server's own contract: AIMG's raw HTTP shapes, item life cycle, sessions, faults."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from sandbox.fake_aimg import MODELS, TEST_SESSION_ID, FakeAimg

#: Every field of AIMG's Model object (wikiURL is optional).
MODEL_KEYS = {
    "modelID", "name", "description", "mediaType", "minTier", "tier0Concurrent", "tier1Concurrent",
    "tier2Concurrent", "positiveTokens", "negativeTokens", "sampleImages", "minSteps", "maxSteps",
    "allowedWidths", "allowedHeights", "maxResolution", "defaultResolution", "allowedSamplers",
    "defaultSampler", "minCfgScale", "maxCfgScale", "supportsVariations", "registrationWall",
    "defaultFaceFix",
}  # fmt: skip


@pytest.fixture
async def fake() -> AsyncIterator[FakeAimg]:
    server = FakeAimg(step_seconds=0.01)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def http(fake: FakeAimg) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"X-Session-ID": TEST_SESSION_ID}
    async with httpx.AsyncClient(base_url=fake.base_url, headers=headers, timeout=5, verify=False) as client:
        yield client


async def payload(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["hasError"] is False, body
    return body["payload"]


async def refused(response: httpx.Response) -> tuple[str, int]:
    """AIMG's error shape: HTTP 200, hasError, a message and a code, payload present but null."""
    assert response.status_code == 200
    body = response.json()
    assert (body["hasError"], body["payload"]) == (True, None)
    return body["errorMessage"], body["errorCode"]


async def generate(http: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    result: dict[str, Any] = await payload(await http.post("/generateImage", json={"prompt": "a cat"} | body))
    return result


async def finished(fake: FakeAimg, item_id: str) -> dict[str, Any]:
    async with asyncio.timeout(5):
        return await fake.wait_for(item_id, "completed", "failed")


async def test_models_carry_every_seed_field(http: httpx.AsyncClient) -> None:
    models = await payload(await http.get("/getModels"))
    assert [m["modelID"] for m in models] == ["f222", "photoreal", "pro-xl", "members", "model3"]
    assert all(m.keys() >= MODEL_KEYS for m in models)
    assert {m["modelID"] for m in models if m["supportsVariations"]} == {"photoreal", "pro-xl"}
    assert [m["modelID"] for m in models if m["minTier"]] == ["pro-xl"]
    assert [m["modelID"] for m in models if m["registrationWall"]] == ["members"]
    only = await payload(await http.get("/getModels", params={"modelIDs": "photoreal,model3"}))
    assert [m["modelID"] for m in only] == ["photoreal", "model3"]


async def test_generation_status_life_cycle(fake: FakeAimg, http: httpx.AsyncClient) -> None:
    fake.step_seconds = 0.03
    running = await generate(http)
    async with asyncio.timeout(5):
        await fake.wait_for(running["imageID"], "processing")
    queued = await generate(http, prompt="a signature dog", modelName="photoreal", width=512, height=768)
    assert queued.keys() == {"imageID", "status", "ignoredWords", "mtype", "queuePosition"}
    assert (queued["status"], queued["queuePosition"], queued["mtype"]) == ("queued", 1, "image")
    assert queued["ignoredWords"] == "signature"
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(5):
        while not seen or seen[-1]["status"] != "completed":
            seen.append(
                await payload(await http.get("/getItemStatus", params={"imageID": queued["imageID"]}))
            )
            await asyncio.sleep(0.005)
    assert seen[0]["status"] == "queued"
    assert "processing" in [s["status"] for s in seen]
    assert all("queuePosition" not in s for s in seen if s["status"] != "queued")
    progress = [s["progress"] for s in seen if s["status"] == "processing"]
    assert progress == sorted(progress)
    assert seen[-1]["url"] == f"{fake.base_url}/getFile?id={queued['imageID']}"
    image = await http.get("/getFile", params={"id": queued["imageID"]}, headers={"X-Session-ID": ""})
    assert image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")


async def test_progress_field_can_be_switched_off(http: httpx.AsyncClient, fake: FakeAimg) -> None:
    fake.report_progress = False
    fake.faults.stick_next_item()
    item = await generate(http)
    async with asyncio.timeout(5):
        await fake.wait_for(item["imageID"], "processing")
    assert "progress" not in fake.status_json(item["imageID"])


async def test_item_details_keep_the_generation_parameters(fake: FakeAimg, http: httpx.AsyncClient) -> None:
    body = {"prompt": "a cat", "modelName": "photoreal", "seed": 42, "subseed": 7, "subseed_strength": 0.5,
            "steps": 25, "cfgscale": 5, "sampler": "DDIM", "width": 640, "height": 512}  # fmt: skip
    item = await generate(http, **body)
    info = await payload(await http.get("/getItemDetails", params={"imageID": item["imageID"]}))
    # ImageInfo's modelName is the human-readable name; the id the request named is modelID.
    sent = {k: v for k, v in body.items() if k != "modelName"}
    assert {k: info[k] for k in sent} == sent
    assert (info["modelID"], info["modelName"], info["generatorVersion"]) == ("photoreal", "Photoreal", "1")


@pytest.mark.parametrize(
    ("body", "fragment", "code"),
    [
        ({"prompt": ""}, "prompt is required", 400),
        ({"prompt": "a forbidden cat"}, "banned words", 400),
        ({"modelName": "nope"}, "Invalid modelName", 400),
        ({"modelName": "model3"}, "cannot generate images", 400),
        ({"modelName": "pro-xl"}, "requires PRO tier 2", 403),
        ({"steps": 51}, "steps must be between 10 and 50", 400),
        ({"cfgscale": 12.5}, "cfgscale must be between 1 and 12", 400),
        ({"width": 640}, "not an allowed size", 400),
        ({"width": 768, "height": 768}, "maximum of 393216 pixels", 400),
        ({"sampler": "DDIM"}, "sampler 'DDIM' is not allowed", 400),
        ({"subseed_strength": 0.3}, "does not support variations", 400),
    ],
)
async def test_generate_image_refusals(
    http: httpx.AsyncClient, body: dict[str, Any], fragment: str, code: int
) -> None:
    message, error_code = await refused(await http.post("/generateImage", json={"prompt": "a cat"} | body))
    assert fragment in message
    assert error_code == code


async def test_sessions(fake: FakeAimg, http: httpx.AsyncClient) -> None:
    assert "valid UUID" in (await refused(await http.get("/getModels", headers={"X-Session-ID": "nope"})))[0]
    unknown = "00000000-0000-4000-8000-000000000000"
    assert (await refused(await http.get("/getModels", headers={"X-Session-ID": unknown})))[1] == 401
    async with httpx.AsyncClient(base_url=fake.base_url, verify=False) as bare:
        fresh = await payload(await bare.get("/getSelfUser"))
    assert (fresh["isAuthenticated"], fresh["tier"]) == (False, 0)
    anonymous = {"X-Session-ID": fresh["sessionID"]}
    wall = await http.post(
        "/generateImage", json={"prompt": "a cat", "modelName": "members"}, headers=anonymous
    )
    assert (await refused(wall))[1] == 401
    await payload(await http.post("/requestOTP", json={"email": "new@sandbox.test"}, headers=anonymous))
    otp = fake.otp_for("new@sandbox.test")
    signed = {"email": "new@sandbox.test", "otp": otp}
    user = await payload(await http.post("/authenticateUser", json=signed, headers=anonymous))
    assert (user["sessionID"], user["isAuthenticated"]) == (fresh["sessionID"], True)
    again = await http.post("/authenticateUser", json=signed, headers=anonymous)
    assert "OTP" in (await refused(again))[0]  # single use


async def test_concurrency_limit_per_tier(fake: FakeAimg, http: httpx.AsyncClient) -> None:
    fake.faults.stick_next_item()
    for _ in range(4):  # tier1Concurrent of f222
        await generate(http)
    message, code = await refused(await http.post("/generateImage", json={"prompt": "one more"}))
    assert code == 429
    assert "limit 4" in message


@pytest.mark.parametrize(
    ("fault", "code"), [("out_of_credits", 402), ("queue_full", 503), ("session_invalid", 401)]
)
async def test_fault_switches(fake: FakeAimg, http: httpx.AsyncClient, fault: str, code: int) -> None:
    setattr(fake.faults, fault, True)
    assert (await refused(await http.post("/generateImage", json={"prompt": "a cat"})))[1] == code
    setattr(fake.faults, fault, False)
    await generate(http)


async def test_failed_item_and_recording(fake: FakeAimg, http: httpx.AsyncClient) -> None:
    fake.faults.fail_next_item()
    failed = await finished(fake, (await generate(http))["imageID"])
    assert failed["status"] == "failed"
    assert "url" not in failed
    assert (await finished(fake, (await generate(http))["imageID"]))["status"] == "completed"
    recorded = fake.requests[0]
    assert (recorded.method, recorded.path, recorded.session) == ("POST", "/generateImage", TEST_SESSION_ID)
    assert recorded.json == {"prompt": "a cat"}
    assert fake.count("/generateImage", "POST") == 2


async def test_likes_deletes_and_reports(fake: FakeAimg, http: httpx.AsyncClient) -> None:
    item_id = (await generate(http))["imageID"]
    await finished(fake, item_id)
    ids = {"imageIDs": [item_id, "missing"]}
    liked = await payload(await http.post("/likeItems", json=ids))
    assert liked == [
        {"id": item_id, "success": True, "message": ""},
        {"id": "missing", "success": False, "message": "Item not found."},
    ]
    await payload(await http.post("/dislikeItems", json=ids))
    item = await payload(await http.get("/getItem", params={"imageID": item_id}))
    assert (item["isLiked"], item["isDisliked"], item["likeCount"], item["dislikeCount"]) == (
        False,
        True,
        0,
        1,
    )
    report = await payload(
        await http.post(
            "/reportItems",
            json={"itemIds": [item_id], "reportQueue": "Spam", "additionalInformation": "posted by a bot"},
        )
    )
    assert report[0]["success"]
    assert report[0]["reportId"]
    [kept] = fake.items[item_id].reports.values()
    assert (kept.id, kept.queue, kept.information) == (report[0]["reportId"], "Spam", "posted by a bot")
    bad_queue = await http.post("/reportItems", json={"itemIds": [item_id], "reportQueue": "Nope"})
    assert "reportQueue" in (await refused(bad_queue))[0]
    assert (await http.post("/deleteItems", params={"imageIDs": item_id})).status_code == 405
    deleted = await payload(await http.delete("/deleteItems", params={"imageIDs": item_id}))
    assert deleted == [{"id": item_id, "success": True, "message": ""}]
    assert (await refused(await http.get("/getItemStatus", params={"imageID": item_id})))[1] == 404


async def test_pagination_metadata(fake: FakeAimg, http: httpx.AsyncClient) -> None:
    fake.step_seconds = 0.001
    ids = []
    for n in range(3):
        ids.append((await generate(http, prompt=f"picture {n}"))["imageID"])
        await finished(fake, ids[-1])
    response = (await http.get("/getMyCreations", params={"limit": "2"})).json()
    assert [i["id"] for i in response["payload"]] == [ids[2], ids[1]]
    metadata = response["metadata"]
    assert (metadata["paginationIndex"], metadata["count"], metadata["totalCount"]) == ("0", 2, 3)
    last = (
        await http.get("/getMyCreations", params={"paginationIndex": metadata["nextPaginationIndex"]})
    ).json()
    assert [i["id"] for i in last["payload"]] == [ids[0]]
    assert last["metadata"]["nextPaginationIndex"] is None
    oldest_first = await payload(
        await http.get("/getMyCreations", params={"paginationIndex": "1", "reversePagination": "true"})
    )
    assert [i["id"] for i in oldest_first] == ids
    assert (await refused(await http.get("/getMyCreations", params={"limit": "1001"})))[1] == 400


async def test_video_frames(fake: FakeAimg, http: httpx.AsyncClient) -> None:
    video = await payload(await http.post("/generateVideo", json={"prompt": "waves"}))
    assert video["mtype"] == "video"
    done = await finished(fake, video["imageID"])
    assert [f["frameNumber"] for f in done["frames"]] == [0, 1, 2, 3]
    assert all(f["frameCount"] == 4 for f in done["frames"])
    frame = await http.get(done["frames"][3]["frameUrl"])
    assert frame.content.startswith(b"\x89PNG")
    assert (await http.get(done["url"])).headers["content-type"] == "image/gif"
    assert (await http.get("/getFile", params={"id": f"{video['imageID']}-9"})).status_code == 404


async def test_workflows(fake: FakeAimg, http: httpx.AsyncClient) -> None:
    body = {
        "workflowTemplateName": "txt2img-hires",
        "parameters": [{"name": "Positive Prompt", "value": "a cat"}],
    }
    handle = await payload(await http.post("/2/enqueueWorkflow", json=body))
    assert handle.keys() == {"itemIds", "workflowId"}
    await finished(fake, handle["itemIds"][0])
    state = await payload(await http.get("/2/getWorkflowStatus", params={"workflowId": handle["workflowId"]}))
    assert (state["isComplete"], state["state"], state["publicId"]) == (
        True,
        "completed",
        handle["workflowId"],
    )
    assert state["runParamaters"]["workflowTemplateName"] == "txt2img-hires"
    many = await payload(await http.get("/2/getWorkflowStatus", params={"workflowIds": handle["workflowId"]}))
    assert isinstance(many, list)
    missing = await http.post("/2/enqueueWorkflow", json={"workflowTemplateName": "nope", "prompt": "x"})
    assert (await refused(missing))[1] == 404
    tier0 = {"X-Session-ID": fake.add_session(email="free@sandbox.test")}
    assert (await refused(await http.post("/2/enqueueWorkflow", json=body, headers=tier0)))[1] == 403


async def test_workflow_templates_and_run_parameters(fake: FakeAimg, http: httpx.AsyncClient) -> None:
    templates = await payload(await http.get("/2/getAggregatedWorkflowTemplates"))
    assert [t["name"] for t in templates] == ["txt2img-basic", "txt2img-hires"]
    assert templates[0].keys() == {"name", "deployments", "parameters", "workflowTemplateFiles"}
    mandatory = {"name", "dataType", "description", "defaultValue", "replaceFromString", "isOptional",
                 "optionName", "isAlwaysVisible", "isHidden"}  # fmt: skip
    assert all(mandatory <= p.keys() for t in templates for p in t["parameters"])
    only = {"workflowTemplateNames": "txt2img-hires"}
    assert [
        t["name"] for t in await payload(await http.get("/2/getAggregatedWorkflowTemplates", params=only))
    ] == ["txt2img-hires"]
    # The explicit seed stands for the Seed parameter and wins over the array's.
    body = {
        "workflowTemplateName": "txt2img-basic",
        "prompt": "a cat",
        "seed": 9,
        "parameters": [{"name": "Steps", "value": "30"}, {"name": "Seed", "value": "1"}],
    }
    handle = await payload(await http.post("/2/enqueueWorkflow", json=body))
    info = await payload(await http.get("/getItemDetails", params={"imageID": handle["itemIds"][0]}))
    run = {p["name"]: p["value"] for p in info["workflowRunParameters"]}
    assert (run["Positive Prompt"], run["Seed"], run["Steps"], run["CFG Scale"]) == ("a cat", "9", "30", "7")
    assert (info["seed"], info["steps"], info["workflowTemplateName"]) == (9, 30, "txt2img-basic")
    base = {"workflowTemplateName": "txt2img-basic", "prompt": "x"}
    too_many = await http.post("/2/enqueueWorkflow", json=base | {"steps": 41})
    assert (await refused(too_many)) == ("Steps must be between 10 and 40.", 400)
    unknown = await http.post("/2/enqueueWorkflow", json=base | {"subseed": 3})
    assert "has no parameter Subseed" in (await refused(unknown))[0]
    tier0 = {"X-Session-ID": fake.add_session(email="free@sandbox.test")}
    free = await http.get("/2/getAggregatedWorkflowTemplates", headers=tier0)
    assert (await refused(free)) == ("API2 endpoints can only be used with a PRO tier higher than 0.", 403)


async def test_queues_and_samples(fake: FakeAimg, http: httpx.AsyncClient) -> None:
    queues = await payload(await http.get("/getQueuesLength", params={"modelIDs": "photoreal"}))
    assert queues == [
        {"modelID": "photoreal", "queueID": "photoreal-p0-queue", "queueLength": 0},
        {"modelID": "photoreal", "queueID": "photoreal-p1-queue", "queueLength": 0},
    ]
    assert len(await payload(await http.get("/getSamplePrompts"))) == 3
    assert len(await payload(await http.get("/getSamplePrompts", params={"randomOne": "true"}))) == 1
    assert len(MODELS) == 5


async def test_workflow_loras_and_a_failed_run(fake: FakeAimg, http: httpx.AsyncClient) -> None:
    base = {"workflowTemplateName": "txt2img-hires", "prompt": "a cat"}
    loras = {"lora": ["film-grain", "watercolor"], "lora_strength": [0.5, 1.25]}
    handle = await payload(await http.post("/2/enqueueWorkflow", json=base | loras))
    info = await payload(await http.get("/getItemDetails", params={"imageID": handle["itemIds"][0]}))
    run = {p["name"]: p["value"] for p in info["workflowRunParameters"]}
    assert [run[f"Lora {n}{s}"] for n in (1, 2) for s in ("", " Strength")] == [
        "film-grain",
        "0.5",
        "watercolor",
        "1.25",
    ]
    uneven = await http.post(
        "/2/enqueueWorkflow", json=base | {"lora": ["film-grain"], "lora_strength": [1, 2]}
    )
    assert (await refused(uneven)) == ("lora and lora_strength must have the same length.", 400)
    unknown = await http.post("/2/enqueueWorkflow", json=base | {"lora": ["nope"]})
    assert (await refused(unknown)) == ("Lora 1 must be one of detail-tweaker, film-grain, watercolor.", 400)

    fake.faults.fail_next_workflow("Out of memory on the GPU.")
    failing = await payload(await http.post("/2/enqueueWorkflow", json=base | {"batchSize": 2}))
    for item_id in failing["itemIds"]:
        assert (await finished(fake, item_id))["status"] == "failed"
    query = {"workflowId": failing["workflowId"]}
    state = await payload(await http.get("/2/getWorkflowStatus", params=query))
    assert (state["isError"], state["state"], state["errorMessage"]) == (
        True,
        "error",
        "Out of memory on the GPU.",
    )
