"""AimgBackend: the wire mapping (httpx.MockTransport) and the client against the fake AIMG server."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from bot.backends.aimg import (
    WORKFLOW_PARAM,
    AimgBackend,
    AimgModel,
    AimgParams,
    AimgSelfUser,
    AimgSnapshot,
    AimgStatus,
    AimgVideoParams,
    AimgWorkflowParameter,
    AimgWorkflowRequest,
    Vote,
    default_params,
    error_kind,
    result_buttons,
    to_snapshot,
    validate_params,
    vote_of,
    vote_verb,
)
from bot.backends.aimg.status import WORKFLOW_ERROR_CHARS, split_task, workflow_failure, workflow_task
from bot.backends.base import Backend
from bot.domain import Account, BackendError, BackendKind, ErrorKind, JobKind, JobStatus
from sandbox.fake_aimg import MODELS, TEST_EMAIL, TEST_SESSION_ID, WORKFLOW_TEMPLATES, FakeAimg
from tests.backends.support import png_size

SESSION = "0b6b1c2e-5d3c-4a8e-9f43-8f0e7f6a1d22"
ITEM = "7d4f7a52-2f0e-4b8f-9a11-53c1b9d0e7a3"


def account(base_url: str = "http://aimg.test", secret: str = SESSION, **options: str) -> Account:
    return Account(
        id=1,
        guild_id=2,
        name="aimg",
        kind=BackendKind.AIMG,
        base_url=base_url,
        secret=secret,
        options=options,
    )


def ok(payload: Any, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"payload": payload, "hasError": False}
    if metadata is not None:
        body["metadata"] = metadata
    return body


def error(message: str, code: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"payload": None, "hasError": True, "errorMessage": message}
    if code is not None:
        body["errorCode"] = code
    return body


def status(**overrides: Any) -> dict[str, Any]:
    return {
        "imageID": ITEM,
        "status": "queued",
        "ignoredWords": "",
        "mtype": "image",
        "queuePosition": 3,
    } | overrides


def details(**overrides: Any) -> dict[str, Any]:
    body = {
        "id": ITEM,
        "url": "https://cdn.test/item.png",
        "viewCount": 0,
        "likeCount": 0,
        "dislikeCount": 0,
        "prompt": "a red fox",
        "negprompt": "blurry",
        "generatorVersion": "1",
        "modelName": "Photoreal",
        "modelID": "photoreal",
        "steps": 30,
        "seed": 1234,
        "subseed": 0,
        "subseed_strength": 0,
        "lora": [],
        "lora_strength": [],
        "sampler": "DDIM",
        "cfgscale": 6,
        "restoreFaces": True,
        "height": 640,
        "width": 512,
        "mtype": "image",
        "isPublic": False,
    }
    return body | overrides


class Server:
    """A MockTransport handler answering by path, and recording every request."""

    def __init__(self, routes: dict[str, Any]) -> None:
        self.routes = {"getModels": ok(MODELS), **routes}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.routes[request.url.path.lstrip("/")]
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json=answer(request) if callable(answer) else answer)

    def sent(self, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == f"/{path}"]

    def body(self, path: str) -> Any:
        return json.loads(self.sent(path)[-1].content)


def mocked(server: Server | Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> AimgBackend:
    options = kwargs.pop("options", {})
    http = httpx.AsyncClient(transport=httpx.MockTransport(server))
    return AimgBackend(account(**options), http, rng=random.Random(7), **kwargs)


def model(model_id: str = "photoreal") -> AimgModel:
    return AimgModel.model_validate(next(m for m in MODELS if m["modelID"] == model_id))


# --------------------------------------------------------------------------------------------
# Requests as sent
# --------------------------------------------------------------------------------------------


async def test_backend_satisfies_protocol_and_imagine_uses_model_defaults() -> None:
    server = Server({"generateImage": ok(status())})
    backend: Backend = mocked(server, options={"model": "photoreal"})
    submitted = await backend.imagine("a red fox", hook_url="http://ignored/hook", state="job:1")
    assert (submitted.task_id, submitted.queue_position) == (ITEM, 3)
    request = server.sent("generateImage")[0]
    assert request.method == "POST"
    assert request.headers["X-Session-ID"] == SESSION
    assert server.body("generateImage") == {
        "prompt": "a red fox",
        "modelName": "photoreal",
        "steps": 20,
        "width": 640,
        "height": 640,
        "sampler": "DPM++ 2M Karras",
        "cfgscale": 7.0,
        "restoreFaces": True,
    }


async def test_imagine_defaults_to_the_seeds_model_and_refuses_images() -> None:
    server = Server({"generateImage": ok(status())})
    backend = mocked(server)
    await backend.imagine("cat")
    assert server.body("generateImage")["modelName"] == "f222"
    with pytest.raises(BackendError) as caught:
        await backend.imagine("cat", [b"\x89PNG"])
    assert caught.value.kind is ErrorKind.INVALID_INPUT
    with pytest.raises(BackendError) as caught:
        await backend.imagine("   ")
    assert "The prompt is empty." in caught.value.detail


async def test_unknown_default_model_reloads_once_then_names_the_choices() -> None:
    server = Server({})
    with pytest.raises(BackendError) as caught:
        await mocked(server, options={"model": "nope"}).imagine("cat")
    assert caught.value.kind is ErrorKind.INVALID_INPUT
    assert "f222" in caught.value.detail
    assert len(server.sent("getModels")) == 2


async def test_query_and_body_shapes() -> None:
    outcome = [{"id": ITEM, "success": True, "message": ""}]
    server = Server(
        {
            "getItemStatus": ok(status()),
            "likeItems": ok(outcome),
            "dislikeItems": ok(outcome),
            "unlikeItems": ok(outcome),
            "undislikeItems": ok(outcome),
            "deleteItems": ok(outcome),
            "reportItems": ok([{"id": ITEM, "reportId": "r1", "success": True, "message": ""}]),
            "getQueuesLength": ok([{"modelID": "f222", "queueID": "f222-p1-queue", "queueLength": 2}]),
            "getSamplePrompts": ok([{"positivePrompt": "a cat"}]),
        }
    )
    backend = mocked(server)
    await backend.get_item_status(ITEM)
    assert server.sent("getItemStatus")[0].url.params["imageID"] == ITEM
    for call in (backend.like_items, backend.unlike_items, backend.dislike_items, backend.undislike_items):
        assert (await call([ITEM, "other"]))[0].success
    assert server.body("likeItems") == {"imageIDs": [ITEM, "other"]}
    await backend.delete_items([ITEM, "other"])
    delete = server.sent("deleteItems")[0]
    assert (delete.method, delete.url.params["imageIDs"], delete.content) == ("DELETE", f"{ITEM},other", b"")
    reported = await backend.report_items([ITEM], report_queue="Spam", information="spam")
    assert reported[0].report_id == "r1"
    assert server.body("reportItems") == {
        "itemIds": [ITEM],
        "reportQueue": "Spam",
        "additionalInformation": "spam",
    }
    queues = await backend.get_queues_length(["f222", "photoreal"])
    assert server.sent("getQueuesLength")[0].url.params["modelIDs"] == "f222,photoreal"
    assert queues[0].queue_length == 2
    await backend.get_sample_prompts(random_one=True)
    assert server.sent("getSamplePrompts")[0].url.params["randomOne"] == "true"


async def test_no_secret_sends_no_session_header() -> None:
    user = {"sessionID": SESSION, "userID": "u", "isAuthenticated": False, "tier": 0}
    server = Server({"getSelfUser": ok(user)})
    backend = AimgBackend(account(secret=""), httpx.AsyncClient(transport=httpx.MockTransport(server)))
    fresh = await backend.get_self_user()
    assert "X-Session-ID" not in server.requests[0].headers
    assert fresh.session_id == SESSION
    assert SESSION not in repr(fresh)


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "code", "kind"),
    [
        ("Invalid session: please sign in again.", 401, ErrorKind.AUTH),
        ("The X-Session-ID header must be a valid UUID.", 400, ErrorKind.AUTH),
        ("Please sign up to use the model Members Only.", 401, ErrorKind.AUTH),
        ("Invalid or expired OTP.", 400, ErrorKind.AUTH),
        ("Not enough credits to generate.", 402, ErrorKind.QUOTA),
        ("The model Pro XL requires PRO tier 2.", 403, ErrorKind.QUOTA),
        ("The generation queue is full, please try again later.", 503, ErrorKind.QUEUE_FULL),
        ("Too many concurrent generations with this model (limit 4).", 429, ErrorKind.QUEUE_FULL),
        ("Your prompt contains banned words (NSFW filter): forbidden", 400, ErrorKind.BANNED_PROMPT),
        ("Item not found.", 404, ErrorKind.NOT_FOUND),
        ("steps must be between 10 and 50 for F222.", 400, ErrorKind.INVALID_INPUT),
        ("You are not allowed to access the requested resource.", 403, ErrorKind.AUTH),
        ("Slow down!", 429, ErrorKind.QUEUE_FULL),
        ("We had a problem with our server.", 500, ErrorKind.UNAVAILABLE),
        ("Something new", 1234, ErrorKind.UNAVAILABLE),
        ("cfgscale must be between 1 and 12", None, ErrorKind.INVALID_INPUT),
        ("Something new", None, ErrorKind.UNAVAILABLE),
        ("Bad request", "400", ErrorKind.INVALID_INPUT),
    ],
)
def test_error_kinds(message: str, code: int | str | None, kind: ErrorKind) -> None:
    assert error_kind(message, code) is kind


@pytest.mark.parametrize("http_status", [200, 400, 500])
async def test_has_error_is_an_error_whatever_the_status(http_status: int) -> None:
    body = error("Not enough credits to generate.", 402)
    backend = mocked(lambda request: httpx.Response(http_status, json=body))
    with pytest.raises(BackendError) as caught:
        await backend.get_item_status(ITEM)
    assert caught.value.kind is ErrorKind.QUOTA
    assert caught.value.detail == "Not enough credits to generate. (error code 402)"


async def test_has_error_without_message_or_code() -> None:
    backend = mocked(lambda request: httpx.Response(200, json={"payload": None, "hasError": True}))
    with pytest.raises(BackendError) as caught:
        await backend.get_models()
    assert (caught.value.kind, caught.value.detail) == (
        ErrorKind.UNAVAILABLE,
        "AIMG reported an error on getModels.",
    )


@pytest.mark.parametrize(
    ("response", "kind"),
    [
        (httpx.Response(401), ErrorKind.AUTH),
        (httpx.Response(403, text="Forbidden"), ErrorKind.AUTH),
        (httpx.Response(404, text="Cannot GET /getItemStatus"), ErrorKind.INVALID_INPUT),
        (httpx.Response(429), ErrorKind.QUEUE_FULL),
        (httpx.Response(503, text="<html>maintenance</html>"), ErrorKind.UNAVAILABLE),
        (httpx.Response(200, text="<html>not json</html>"), ErrorKind.UNAVAILABLE),
        (httpx.Response(200, json=["not", "an", "envelope"]), ErrorKind.UNAVAILABLE),
        (httpx.Response(200, json=ok({"status": "queued"})), ErrorKind.UNAVAILABLE),
    ],
)
async def test_answers_without_has_error(response: httpx.Response, kind: ErrorKind) -> None:
    with pytest.raises(BackendError) as caught:
        await mocked(lambda request: response).get_item_status(ITEM)
    assert caught.value.kind is kind


@pytest.mark.parametrize("failure", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow")])
async def test_transport_errors_are_unavailable_and_secret_free(failure: Exception) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise failure

    backend = AimgBackend(
        account(base_url=f"http://{SESSION}@aimg.test"),
        httpx.AsyncClient(transport=httpx.MockTransport(fail)),
    )
    with pytest.raises(BackendError) as caught:
        await backend.get_item_status(ITEM)
    assert caught.value.kind is ErrorKind.UNAVAILABLE
    assert SESSION not in str(caught.value)
    assert caught.value.__cause__ is None


async def test_echoed_session_is_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    backend = mocked(lambda request: httpx.Response(200, json=error(f"Invalid session {SESSION}", 401)))
    with pytest.raises(BackendError) as caught:
        await backend.get_item_status(ITEM)
    assert caught.value.kind is ErrorKind.AUTH
    assert SESSION not in str(caught.value)
    assert "***" in caught.value.detail
    assert SESSION not in caplog.text


# --------------------------------------------------------------------------------------------
# GenerationStatus → snapshot, buttons, fetch
# --------------------------------------------------------------------------------------------


def snap(**overrides: Any) -> AimgSnapshot:
    return to_snapshot(AimgStatus.model_validate(status(**overrides)))


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("queued", JobStatus.SUBMITTED),
        ("Pending", JobStatus.SUBMITTED),
        ("processing", JobStatus.IN_PROGRESS),
        ("generating", JobStatus.IN_PROGRESS),
        ("completed", JobStatus.SUCCESS),
        ("done", JobStatus.SUCCESS),
        ("failed", JobStatus.FAILURE),
        ("error", JobStatus.FAILURE),
        ("cancelled", JobStatus.CANCELLED),
    ],
)
def test_status_words(word: str, expected: JobStatus) -> None:
    assert snap(status=word).status is expected


def test_unknown_status_keeps_polling() -> None:
    assert snap(status="thinking").status is JobStatus.SUBMITTED
    assert snap(status="thinking", queuePosition=None).status is JobStatus.IN_PROGRESS


def test_queued_snapshot() -> None:
    queued = snap(ignoredWords="watermark, signature")
    assert (queued.status, queued.progress, queued.queue_position) == (JobStatus.SUBMITTED, 0, 3)
    assert queued.ignored_words == ["watermark", "signature"]
    assert (queued.image_url, queued.buttons) == (None, [])


@pytest.mark.parametrize(("progress", "expected"), [(None, None), (40, 40), (0.25, 25), (140, 100)])
def test_progress_is_optional(progress: float | None, expected: int | None) -> None:
    running = snap(status="processing", queuePosition=None, progress=progress)
    assert (running.status, running.progress, running.queue_position) == (
        JobStatus.IN_PROGRESS,
        expected,
        None,
    )


def test_finished_video_and_failure() -> None:
    frames = [{"frameCount": 2, "frameNumber": n, "frameUrl": f"https://cdn.test/f{n}.png"} for n in (1, 0)]
    video = snap(status="completed", mtype="video", url=None, frames=frames, ignoredWords=["a"])
    assert (video.media_type, video.progress, video.ignored_words) == ("video", 100, ["a"])
    assert video.frame_urls == ["https://cdn.test/f0.png", "https://cdn.test/f1.png"]
    assert video.image_url == "https://cdn.test/f1.png"
    failed = snap(status="failed", queuePosition=None)
    assert failed.status is JobStatus.FAILURE
    assert failed.fail_reason
    assert failed.error_kind is None


def test_result_buttons() -> None:
    with_variation = result_buttons(supports_variations=True)
    assert [b.custom_id for b in with_variation] == [
        "aimg:reroll", "aimg:variation", "aimg:like", "aimg:dislike", "aimg:delete", "aimg:report",
    ]  # fmt: skip
    assert [b.kind for b in with_variation[:2]] == [JobKind.REROLL, JobKind.VARIATION]
    assert [b.emoji for b in with_variation[2:]] == ["👍", "👎", "🗑️", "🚩"]
    assert {b.row for b in with_variation[2:]} == {1}
    assert "aimg:variation" not in [b.custom_id for b in result_buttons(supports_variations=False)]
    assert "aimg:variation" not in [b.custom_id for b in result_buttons(supports_variations=True, video=True)]


async def test_fetch_finished_item_reads_details_for_prompt_and_buttons() -> None:
    done = status(status="completed", queuePosition=None, url="https://cdn.test/item.png")
    server = Server({"getItemStatus": ok(done), "getItemDetails": ok(details())})
    snapshot = await mocked(server).fetch(ITEM)
    assert snapshot is not None
    assert (snapshot.status, snapshot.progress, snapshot.image_url) == (JobStatus.SUCCESS, 100, done["url"])
    assert snapshot.prompt == "a red fox"
    assert "aimg:variation" in [b.custom_id for b in snapshot.buttons]
    server.routes["getItemDetails"] = ok(details(modelID="retired-model"))
    retired = await mocked(server).fetch(ITEM)
    assert retired is not None
    assert "aimg:variation" not in [b.custom_id for b in retired.buttons]


async def test_fetch_unknown_is_none_and_other_errors_raise() -> None:
    assert await mocked(Server({"getItemStatus": error("Item not found.", 404)})).fetch(ITEM) is None
    with pytest.raises(BackendError) as caught:
        await mocked(Server({"getItemStatus": error("Invalid session", 401)})).fetch(ITEM)
    assert caught.value.kind is ErrorKind.AUTH


def test_parse_push_is_refused() -> None:
    with pytest.raises(BackendError) as caught:
        mocked(Server({})).parse_push({"imageID": ITEM})
    assert caught.value.kind is ErrorKind.INVALID_INPUT


# --------------------------------------------------------------------------------------------
# Actions
# --------------------------------------------------------------------------------------------


async def test_reroll_and_variation_rebuild_the_request() -> None:
    server = Server({"getItemDetails": ok(details()), "generateImage": ok(status(imageID="new"))})
    backend = mocked(server)
    assert (await backend.action(ITEM, "aimg:reroll")).task_id == "new"
    reroll = server.body("generateImage")
    assert reroll["seed"] != 1234
    assert "subseed" not in reroll
    assert "subseed_strength" not in reroll
    expected_same = {
        "prompt": "a red fox", "negprompt": "blurry", "modelName": "photoreal", "steps": 30,
        "sampler": "DDIM", "cfgscale": 6.0, "restoreFaces": True, "width": 512, "height": 640,
    }  # fmt: skip
    assert reroll.items() >= expected_same.items()

    await backend.action(ITEM, "aimg:variation")
    variation = server.body("generateImage")
    assert (variation["seed"], variation["subseed_strength"]) == (1234, 0.3)
    assert variation["subseed"] != 0
    assert variation.items() >= expected_same.items()


async def test_variation_of_a_variation_keeps_its_strength() -> None:
    server = Server(
        {"getItemDetails": ok(details(subseed=9, subseed_strength=0.6)), "generateImage": ok(status())}
    )
    await mocked(server).variation(ITEM)
    assert server.body("generateImage")["subseed_strength"] == 0.6


async def test_variation_refused_without_model_support() -> None:
    server = Server({"getItemDetails": ok(details(modelID="f222")), "generateImage": ok(status())})
    with pytest.raises(BackendError) as caught:
        await mocked(server).action(ITEM, "aimg:variation")
    assert caught.value.kind is ErrorKind.INVALID_INPUT
    assert "F222 does not support variations" in caught.value.detail
    assert server.sent("generateImage") == []


async def test_reroll_of_a_video_uses_generate_video() -> None:
    video = details(modelID="model3", mtype="video", sampler=None, cfgscale=None)
    server = Server({"getItemDetails": ok(video), "generateVideo": ok(status(mtype="video"))})
    await mocked(server).action(ITEM, "aimg:reroll")
    body = server.body("generateVideo")
    assert body.keys() == {"prompt", "modelName", "steps", "seed", "restoreFaces"}
    assert body["modelName"] == "model3"


@pytest.mark.parametrize("custom_id", ["aimg:like", "aimg:upscale", "MJ::JOB::reroll::0::x"])
async def test_action_refuses_other_custom_ids(custom_id: str) -> None:
    with pytest.raises(BackendError) as caught:
        await mocked(Server({})).action(ITEM, custom_id)
    assert caught.value.kind is ErrorKind.INVALID_INPUT


@pytest.mark.parametrize(
    ("custom_id", "path"),
    [("aimg:like", "likeItems"), ("aimg:unlike", "unlikeItems"), ("aimg:dislike", "dislikeItems"),
     ("aimg:undislike", "undislikeItems"), ("aimg:delete", "deleteItems"), ("aimg:report", "reportItems")],
)  # fmt: skip
async def test_item_action_routes_verbs(custom_id: str, path: str) -> None:
    # The item is neither liked nor disliked, nor gone: a refused vote stays refused.
    neither = {"id": ITEM, "url": "u", "isLiked": False, "isDisliked": False}
    liked = {"id": ITEM, "success": False, "message": "Item already liked."}
    server = Server({path: ok([liked]), "getItem": ok(neither)})
    outcome = await mocked(server).item_action(ITEM, custom_id)
    if custom_id in ("aimg:unlike", "aimg:undislike"):
        assert outcome.success  # not liked / disliked is what was asked: nothing to undo
    else:
        assert (outcome.success, outcome.message) == (False, "Item already liked.")
    assert len(server.sent(path)) == 1
    with pytest.raises(BackendError):
        await mocked(server).item_action(ITEM, "aimg:reroll")


async def test_a_vote_already_in_place_at_the_account_holds() -> None:
    # Members sharing the server's AIMG session share its vote: a like another member already
    # made answers "already liked", and the item shows it liked, so this member's like holds.
    server = Server(
        {
            "likeItems": ok([{"id": ITEM, "success": False, "message": "Item already liked."}]),
            "getItem": ok({"id": ITEM, "url": "u", "isLiked": True}),
        }
    )
    outcome = await mocked(server).item_action(ITEM, "aimg:like")
    assert (outcome.success, outcome.message) == (True, None)


async def test_report_action_carries_the_category_and_details() -> None:
    server = Server({"reportItems": ok([{"id": ITEM, "reportId": "r", "success": True, "message": ""}])})
    backend = mocked(server)
    await backend.item_action(ITEM, "aimg:report", report_queue="Spam", information="a bot posted it")
    await backend.item_action(ITEM, "aimg:report")
    first, second = (json.loads(r.content) for r in server.sent("reportItems"))
    assert first == {"itemIds": [ITEM], "reportQueue": "Spam", "additionalInformation": "a bot posted it"}
    assert second == {"itemIds": [ITEM]}


@pytest.mark.parametrize(
    ("pressed", "current", "verb", "after"),
    [("like", None, "like", "like"), ("like", "like", "unlike", None), ("like", "dislike", "like", "like"),
     ("dislike", None, "dislike", "dislike"), ("dislike", "dislike", "undislike", None),
     ("dislike", "like", "dislike", "dislike")],
)  # fmt: skip
def test_votes_toggle(pressed: Vote, current: str | None, verb: str, after: str | None) -> None:
    assert vote_verb(pressed, current) == (verb, after)
    assert vote_of(f"aimg:{pressed}") == pressed
    assert vote_of("aimg:report") is None


# --------------------------------------------------------------------------------------------
# Models, validation, pagination, workflows
# --------------------------------------------------------------------------------------------


async def test_models_are_cached_for_the_ttl() -> None:
    now = [0.0]
    server = Server({})
    backend = mocked(server, models_ttl=60, clock=lambda: now[0])
    first = await backend.get_models()
    assert [m.model_id for m in first] == ["f222", "photoreal", "pro-xl", "members", "model3"]
    await backend.get_model("photoreal")
    now[0] = 59
    await backend.get_models()
    assert len(server.sent("getModels")) == 1
    now[0] = 61
    await backend.get_models()
    await backend.get_models(refresh=True)
    assert len(server.sent("getModels")) == 3


async def test_malformed_model_is_skipped() -> None:
    broken = {"modelID": "half", "name": "Half"}
    server = Server({"getModels": ok([broken, MODELS[0]])})
    assert [m.model_id for m in await mocked(server).get_models()] == ["f222"]


def test_model_fields_follow_the_seed() -> None:
    pro = model("pro-xl")
    assert (pro.min_tier, pro.min_steps, pro.max_steps, pro.max_resolution) == (2, 25, 60, 1024 * 1024)
    assert (pro.allowed_widths, pro.default_resolution, pro.supports_variations) == (
        [1024],
        [1024, 1024],
        True,
    )
    assert model("members").registration_wall
    assert model("model3").is_video


def test_default_params_stay_within_the_model() -> None:
    params = default_params(model("pro-xl"), "cat")
    assert (params.steps, params.width, params.height, params.cfgscale) == (25, 1024, 1024, 7.0)
    assert validate_params(model("pro-xl"), params) == []


def test_validate_params_names_the_allowed_ranges() -> None:
    params = AimgParams(
        prompt="cat", steps=5, cfgscale=11, width=1024, height=700, sampler="LMS", subseed_strength=1.5
    )
    problems = validate_params(model("photoreal"), params)
    assert problems == [
        "Steps must be between 20 and 40 for Photoreal (got 5).",
        "CFG scale must be between 3 and 10 for Photoreal (got 11).",
        "Width 1024 is not available for Photoreal; choose one of 512, 640, 768.",
        "Height 700 is not available for Photoreal; choose one of 512, 640, 768.",
        "1024x700 is 716800 pixels; Photoreal allows at most 491520.",
        "Sampler 'LMS' is not available for Photoreal; choose one of DPM++ 2M Karras, Euler a, DDIM.",
        "Subseed strength must be between 0 and 1 (got 1.5).",
    ]
    assert validate_params(model("f222"), AimgParams(prompt="cat", subseed_strength=0.3)) == [
        "F222 does not support variations (subseed strength must be 0)."
    ]
    assert validate_params(model("model3"), AimgParams(prompt="cat")) == [
        "Motion makes videos; use the video command for it."
    ]


def test_validate_params_checks_the_account() -> None:
    anonymous = AimgSelfUser(session_id=SESSION, user_id="u", is_authenticated=False, tier=0)
    assert validate_params(model("pro-xl"), AimgParams(prompt="cat"), user=anonymous) == [
        "Pro XL needs PRO tier 2; this account is tier 0."
    ]
    assert validate_params(model("members"), AimgParams(prompt="cat"), user=anonymous) == [
        "Members Only needs a signed-up account; this account's session is not signed in."
    ]
    assert validate_params(model("members"), AimgParams(prompt="cat")) == []


async def test_my_creations_pages_until_the_index_runs_out() -> None:
    pages = {
        None: ok(
            [{"id": "a", "url": "u", "mtype": "image"}], {"nextPaginationIndex": "200", "totalCount": 3}
        ),
        "200": ok([{"id": "b", "url": "u", "mtype": "image"}], {"nextPaginationIndex": "100"}),
        "100": ok([{"id": "c", "url": "u", "mtype": "image"}], {"nextPaginationIndex": None}),
    }
    server = Server({"getMyCreations": lambda request: pages[request.url.params.get("paginationIndex")]})
    backend = mocked(server)
    first = await backend.get_my_creations(limit=1, mtype="image")
    assert (first.next_pagination_index, first.total_count) == ("200", 3)
    assert dict(server.requests[0].url.params) == {"limit": "1", "mtype": "image"}
    assert [item.id async for item in backend.iter_my_creations(page_size=1)] == ["a", "b", "c"]


async def test_my_creations_stops_when_the_index_does_not_move() -> None:
    stuck = ok([{"id": "a", "url": "u", "mtype": "image"}], {"nextPaginationIndex": "5"})
    server = Server({"getMyCreations": stuck})
    assert [item.id async for item in mocked(server).iter_my_creations()] == ["a", "a"]


async def test_workflow_calls() -> None:
    state = {"_id": "abc", "publicId": "w1", "isStarted": True, "isComplete": False, "isError": False,
             "startTime": "2025-01-01T00:00:00Z", "endTime": None, "itemIds": [ITEM],
             "state": "running"}  # fmt: skip
    server = Server(
        {
            "2/enqueueWorkflow": ok({"itemIds": [ITEM], "workflowId": "w1"}),
            "2/getWorkflowStatus": lambda r: ok(state if "workflowId" in r.url.params else [state, state]),
        }
    )
    backend = mocked(server)
    request = AimgWorkflowRequest(
        workflow_template_name="txt2img-basic",
        prompt="cat",
        batch_size=2,
        parameters=[AimgWorkflowParameter(name="Seed", value="5")],
    )
    handle = await backend.enqueue_workflow(request)
    assert (handle.workflow_id, handle.item_ids) == ("w1", [ITEM])
    assert server.body("2/enqueueWorkflow") == {
        "workflowTemplateName": "txt2img-basic",
        "prompt": "cat",
        "batchSize": 2,
        "parameters": [{"name": "Seed", "value": "5"}],
    }
    (one,) = await backend.get_workflow_status("w1")
    assert (one.internal_id, one.public_id, one.is_started) == ("abc", "w1", True)
    assert len(await backend.get_workflow_status("w1", "w2")) == 2
    assert server.sent("2/getWorkflowStatus")[-1].url.params["workflowIds"] == "w1,w2"
    assert await backend.get_workflow_status() == []


TEMPLATES = ok(WORKFLOW_TEMPLATES)
ENQUEUED = ok({"itemIds": [ITEM, "second"], "workflowId": "w1"})


async def test_report_queues_and_workflow_templates_are_cached() -> None:
    now = [0.0]
    server = Server(
        {"getReportQueues": ok(["Not Specified", "Spam"]), "2/getAggregatedWorkflowTemplates": TEMPLATES}
    )
    backend = mocked(server, models_ttl=60, clock=lambda: now[0])
    for _ in range(2):
        assert await backend.get_report_queues() == ["Not Specified", "Spam"]
        templates = await backend.get_workflow_templates()
    assert [t.name for t in templates] == ["txt2img-basic", "txt2img-hires"]
    steps = templates[0].parameter("Steps")
    assert steps is not None and (steps.min, steps.max, steps.default_value) == ("10", "40", "20")
    now[0] = 61
    await backend.get_report_queues()
    assert (len(server.sent("getReportQueues")), len(server.sent("2/getAggregatedWorkflowTemplates"))) == (
        2,
        1,
    )


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ({"steps": "5"}, "Steps must be between 10 and 40 for the txt2img-basic workflow (got 5)."),
        ({"cfgscale": "7.25"}, "CFG Scale must be between 1 and 12 in steps of 0.5 for the txt2img-basic"),
        ({"width": "1088"}, "Width must be between 512 and 1024 for the txt2img-basic workflow (got 1088)."),
        ({"height": "600"}, "Height must be between 512 and 1024 in steps of 64 for the txt2img-basic"),
        ({"subseed": "3"}, "The txt2img-basic workflow has no Subseed setting; leave it out."),
        ({WORKFLOW_PARAM: "nope"}, "There is no workflow template 'nope'; choose one of: txt2img-basic, "),
    ],
)  # fmt: skip
async def test_workflow_checks_name_the_template_limits(given: dict[str, str], problem: str) -> None:
    server = Server({"2/getAggregatedWorkflowTemplates": TEMPLATES, "2/enqueueWorkflow": ENQUEUED})
    backend = mocked(server)
    params = {WORKFLOW_PARAM: "txt2img-basic", "prompt": "a cat", "steps": "20", **given}
    _, problems = await backend.check_workflow(params)
    assert len(problems) == 1 and problems[0].startswith(problem)
    with pytest.raises(BackendError) as caught:
        await backend.generate(params)
    assert caught.value.kind is ErrorKind.INVALID_INPUT
    assert server.sent("2/enqueueWorkflow") == []  # refused before the API was called


async def test_generate_with_a_template_enqueues_the_workflow_and_follows_its_first_item_and_run() -> None:
    server = Server({"2/getAggregatedWorkflowTemplates": TEMPLATES, "2/enqueueWorkflow": ENQUEUED})
    params = {WORKFLOW_PARAM: "txt2img-hires", "prompt": "a cat", "seed": "5", "width": "768", "remix": "1"}
    result = await mocked(server).generate(params)
    assert (result.task_id, result.queue_position) == (f"{ITEM}+w1", None)
    assert server.body("2/enqueueWorkflow") == {
        "workflowTemplateName": "txt2img-hires",
        "prompt": "a cat",
        "seed": 5,
        "width": 768,
    }


async def test_a_workflow_item_rerolls_its_workflow_and_offers_no_variation() -> None:
    run = [{"name": "Positive Prompt", "value": "a cat"}, {"name": "Seed", "value": "5"}]
    workflow_item = details(
        workflowTemplateName="txt2img-basic", generatorVersion=2, workflowRunParameters=run
    )
    server = Server(
        {
            "getItemDetails": ok(workflow_item),
            "getItemStatus": ok(status(status="completed", url="https://cdn.test/i.png", queuePosition=None)),
            "2/enqueueWorkflow": ENQUEUED,
        }
    )
    backend = mocked(server)
    assert (await backend.action(ITEM, "aimg:reroll")).task_id == f"{ITEM}+w1"
    body = server.body("2/enqueueWorkflow")
    assert body["parameters"] == [{"name": "Positive Prompt", "value": "a cat"}]
    assert body["workflowTemplateName"] == "txt2img-basic" and body["seed"] != 5
    with pytest.raises(BackendError):
        await backend.action(ITEM, "aimg:variation")
    done = await backend.fetch(ITEM)
    assert done is not None and "aimg:variation" not in [
        b.custom_id for b in done.buttons
    ]  # photoreal has them


# --------------------------------------------------------------------------------------------
# Against the fake AIMG server over loopback
# --------------------------------------------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeAimg]:
    server = FakeAimg(step_seconds=0.01)
    await server.start()
    yield server
    await server.stop()


def client(
    fake: FakeAimg, http: httpx.AsyncClient, session: str = TEST_SESSION_ID, **options: str
) -> AimgBackend:
    return AimgBackend(account(fake.base_url, session, **options), http, rng=random.Random(1))


async def poll_until_done(backend: AimgBackend, item_id: str) -> list[AimgSnapshot]:
    """Fetch like the engine's poller until the item ends; every snapshot seen."""
    seen: list[AimgSnapshot] = []
    async with asyncio.timeout(5):
        while not seen or not seen[-1].status.terminal:
            snapshot = await backend.fetch(item_id)
            assert snapshot is not None
            seen.append(snapshot)
            await asyncio.sleep(0.005)
    return seen


async def test_imagine_queue_progress_and_result(fake: FakeAimg, http: httpx.AsyncClient) -> None:
    backend = client(fake, http)
    fake.step_seconds = 0.03  # the running item holds the single worker while the others queue
    running = (await backend.imagine("a lighthouse")).task_id
    async with asyncio.timeout(5):
        await fake.wait_for(running, "processing")
    first = await backend.imagine("a castle")
    second = await backend.imagine("a red fox with a watermark")
    assert (first.queue_position, second.queue_position) == (1, 2)
    seen = await poll_until_done(backend, second.task_id)
    positions = [s.queue_position for s in seen if s.queue_position is not None]
    assert positions == sorted(positions, reverse=True)
    assert [s.status for s in seen][-1] is JobStatus.SUCCESS
    assert JobStatus.IN_PROGRESS in [s.status for s in seen]
    progress = [s.progress for s in seen if s.progress is not None]
    assert progress == sorted(progress)
    done = seen[-1]
    assert done.ignored_words == ["watermark"]
    assert done.prompt == "a red fox with a"
    assert [b.custom_id for b in done.buttons] == [
        "aimg:reroll",
        "aimg:like",
        "aimg:dislike",
        "aimg:delete",
        "aimg:report",
    ]
    assert done.image_url is not None
    assert png_size((await http.get(done.image_url)).content) == (512, 512)


async def test_reroll_and_variation_against_the_fake(fake: FakeAimg, http: httpx.AsyncClient) -> None:
    backend = client(fake, http, model="photoreal")
    parent = (await backend.imagine("a red fox")).task_id
    done = (await poll_until_done(backend, parent))[-1]
    assert "aimg:variation" in [b.custom_id for b in done.buttons]
    original = await backend.get_item_details(parent)

    reroll = await backend.get_item_details((await backend.action(parent, "aimg:reroll")).task_id)
    assert reroll.seed != original.seed
    assert (reroll.prompt, reroll.model_id, reroll.width, reroll.steps) == ("a red fox", "photoreal", 640, 20)

    variation_id = (await backend.action(parent, "aimg:variation")).task_id
    variation = await backend.get_item_details(variation_id)
    assert (variation.seed, variation.subseed_strength) == (original.seed, 0.3)
    assert variation.subseed
    assert (await poll_until_done(backend, variation_id))[-1].status is JobStatus.SUCCESS


async def test_item_actions_against_the_fake(fake: FakeAimg, http: httpx.AsyncClient) -> None:
    backend = client(fake, http)
    item_id = (await backend.imagine("a cat")).task_id
    await poll_until_done(backend, item_id)
    assert (await backend.item_action(item_id, "aimg:like")).success
    assert (await backend.get_item(item_id)).is_liked
    assert (await backend.item_action(item_id, "aimg:dislike")).success
    item = await backend.get_item(item_id)
    assert (item.is_liked, item.is_disliked) == (False, True)
    assert (await backend.item_action(item_id, "aimg:report")).success
    again = await backend.item_action(item_id, "aimg:report")
    assert (again.success, again.message) == (False, "Item already reported.")
    assert (await backend.item_action(item_id, "aimg:delete")).success
    assert await backend.fetch(item_id) is None


async def test_my_creations_pagination_against_the_fake(fake: FakeAimg, http: httpx.AsyncClient) -> None:
    fake.step_seconds = 0.001
    backend = client(fake, http)
    ids = []
    for n in range(5):
        ids.append((await backend.imagine(f"picture {n}")).task_id)
        await poll_until_done(backend, ids[-1])  # the fake allows four running items per user
    first = await backend.get_my_creations(limit=2)
    assert ([i.id for i in first.items], first.total_count) == ([ids[4], ids[3]], 5)
    assert [i.id async for i in backend.iter_my_creations(page_size=2)] == ids[::-1]
    assert fake.count("/getMyCreations") == 4


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ("session_invalid", ErrorKind.AUTH),
        ("out_of_credits", ErrorKind.QUOTA),
        ("queue_full", ErrorKind.QUEUE_FULL),
    ],
)
async def test_fault_knobs_map_to_kinds(
    fake: FakeAimg, http: httpx.AsyncClient, fault: str, kind: ErrorKind
) -> None:
    backend = client(fake, http)
    await backend.get_models()
    setattr(fake.faults, fault, True)
    with pytest.raises(BackendError) as caught:
        await backend.imagine("a cat")
    assert caught.value.kind is kind
    assert TEST_SESSION_ID not in str(caught.value)


async def test_banned_prompt(fake: FakeAimg, http: httpx.AsyncClient) -> None:
    with pytest.raises(BackendError) as caught:
        await client(fake, http).imagine("a forbidden thing")
    assert caught.value.kind is ErrorKind.BANNED_PROMPT
    assert "forbidden" in caught.value.detail


async def test_failed_and_stuck_items(fake: FakeAimg, http: httpx.AsyncClient) -> None:
    backend = client(fake, http)
    fake.faults.fail_next_item()
    failed = (await poll_until_done(backend, (await backend.imagine("a cat")).task_id))[-1]
    assert failed.status is JobStatus.FAILURE
    fake.faults.stick_next_item()
    stuck = (await backend.imagine("a dog")).task_id
    async with asyncio.timeout(5):
        await fake.wait_for(stuck, "processing")
    await asyncio.sleep(0.05)
    snapshot = await backend.fetch(stuck)
    assert snapshot is not None
    assert snapshot.status is JobStatus.IN_PROGRESS


async def test_slow_answers_are_unavailable(fake: FakeAimg) -> None:
    fake.faults.response_delay = 0.2
    async with httpx.AsyncClient(timeout=0.02, verify=False) as impatient:
        with pytest.raises(BackendError) as caught:
            await client(fake, impatient).get_item_status(ITEM)
    assert caught.value.kind is ErrorKind.UNAVAILABLE


async def test_account_checks_and_refusals(fake: FakeAimg, http: httpx.AsyncClient) -> None:
    anonymous = client(fake, http, fake.add_session())
    user = await anonymous.get_self_user()
    assert (user.is_authenticated, user.tier) == (False, 0)
    members = await anonymous.get_model("members")
    assert validate_params(members, default_params(members, "cat"), user=user)
    with pytest.raises(BackendError) as caught:
        await anonymous.generate_image(default_params(members, "cat"))
    assert caught.value.kind is ErrorKind.AUTH
    pro = await anonymous.get_model("pro-xl")
    with pytest.raises(BackendError) as caught:
        await anonymous.generate_image(default_params(pro, "cat"))
    assert caught.value.kind is ErrorKind.QUOTA
    with pytest.raises(BackendError) as caught:
        await anonymous.enqueue_workflow(
            AimgWorkflowRequest(workflow_template_name="txt2img-basic", prompt="x")
        )
    assert caught.value.kind is ErrorKind.QUOTA


async def test_otp_sign_in_flow(fake: FakeAimg, http: httpx.AsyncClient) -> None:
    fresh = await client(fake, http, "").get_self_user()
    signing_in = client(fake, http, fresh.session_id)
    assert (await signing_in.request_otp(TEST_EMAIL)).success
    otp = fake.otp_for(TEST_EMAIL)
    assert otp is not None
    with pytest.raises(BackendError) as caught:
        await signing_in.authenticate_user(TEST_EMAIL, "000000" if otp != "000000" else "111111")
    assert caught.value.kind is ErrorKind.INVALID_INPUT  # the code, not the session: type it again
    user = await signing_in.authenticate_user(TEST_EMAIL, otp)
    assert (user.session_id, user.is_authenticated, user.tier) == (fresh.session_id, True, 1)
    assert (await signing_in.get_self_user()).email == TEST_EMAIL
    assert (await signing_in.sign_out()).success
    with pytest.raises(BackendError) as caught:
        await signing_in.get_self_user()
    assert caught.value.kind is ErrorKind.AUTH


async def test_video_against_the_fake(fake: FakeAimg, http: httpx.AsyncClient) -> None:
    backend = client(fake, http)
    status_ = await backend.generate_video(AimgVideoParams(prompt="waves"))
    done = (await poll_until_done(backend, status_.image_id))[-1]
    assert (done.media_type, len(done.frame_urls)) == ("video", 4)
    assert done.image_url is not None
    assert (await http.get(done.image_url)).content.startswith(b"GIF8")
    assert png_size((await http.get(done.frame_urls[0])).content) == (512, 512)
    assert "aimg:variation" not in [b.custom_id for b in done.buttons]


async def test_workflow_against_the_fake(fake: FakeAimg, http: httpx.AsyncClient) -> None:
    backend = client(fake, http)
    handle = await backend.enqueue_workflow(
        AimgWorkflowRequest(workflow_template_name="txt2img-basic", prompt="a castle", batch_size=2)
    )
    assert len(handle.item_ids) == 2
    for item_id in handle.item_ids:
        await poll_until_done(backend, item_id)
    (state,) = await backend.get_workflow_status(handle.workflow_id)
    assert (state.is_complete, state.state, state.item_ids) == (True, "completed", handle.item_ids)
    assert [f.is_main_output for f in state.output_files] == [True, False]
    assert (await backend.get_item_details(handle.item_ids[0])).workflow_template_name == "txt2img-basic"


async def test_workflow_generation_and_reroll_against_the_fake(
    fake: FakeAimg, http: httpx.AsyncClient
) -> None:
    backend = client(fake, http)
    params = {WORKFLOW_PARAM: "txt2img-hires", "prompt": "a castle", "steps": "25", "seed": "5"}
    first = (await backend.generate(params)).task_id
    done = (await poll_until_done(backend, first))[-1]
    assert [b.custom_id for b in done.buttons][:2] == ["aimg:reroll", "aimg:like"]
    rerolled = (await backend.action(first, "aimg:reroll")).task_id
    again = await backend.get_item_details(rerolled.partition("+")[0])
    run = {p.name: p.value for p in again.workflow_run_parameters}
    assert (again.workflow_template_name, again.prompt, again.steps) == ("txt2img-hires", "a castle", 25)
    assert run["Upscale Factor"] == "1.5" and run["Seed"] != "5" and again.seed != 5


async def test_service_info_against_the_fake(fake: FakeAimg, http: httpx.AsyncClient) -> None:
    backend = client(fake, http)
    fake.faults.stick_next_item()
    first = (await backend.imagine("one")).task_id
    async with asyncio.timeout(5):
        await fake.wait_for(first, "processing")
    await backend.imagine("two")
    queues = {q.queue_id: q.queue_length for q in await backend.get_queues_length(["f222"])}
    assert queues == {"f222-p0-queue": 0, "f222-p1-queue": 1}
    assert len(await backend.get_sample_prompts(random_one=True)) == 1
    assert "Not Specified" in await backend.get_report_queues()


def test_a_workflows_error_is_one_bounded_line_of_text() -> None:
    assert workflow_failure("Out of\nmemory\u200b\x1b[31m") == "The workflow failed: Out of memory [31m"
    assert workflow_failure(None) == workflow_failure(" \n") == "The workflow failed without saying why."
    long = workflow_failure("y" * 1000)
    assert len(long) == WORKFLOW_ERROR_CHARS and long.endswith("y…")


def test_a_waiting_item_shows_its_queues_length_never_below_its_position() -> None:
    waiting = AimgStatus.model_validate(status(status="queued", queuePosition=3))
    assert to_snapshot(waiting, queue_length=7).queue_length == 7
    assert to_snapshot(waiting, queue_length=1).queue_length == 3  # asked a moment apart
    assert to_snapshot(waiting).queue_length is None
    assert split_task(workflow_task(ITEM, "w1")) == (ITEM, "w1") and split_task(ITEM) == (ITEM, None)
