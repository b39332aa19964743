"""MjProxyBackend: the wire mapping (httpx.MockTransport) and the client against the fake proxy."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest

from bot.backends.base import Backend, Capability
from bot.backends.mj_proxy import Flavour, MjProxyBackend, describe_message, parse_progress
from bot.domain import (
    Account,
    BackendError,
    BackendKind,
    ButtonStyle,
    ErrorKind,
    JobKind,
    JobStatus,
    TaskSnapshot,
)
from sandbox.fake_mj_proxy import FakeMjProxy
from tests.backends.hook_receiver import HookReceiver
from tests.backends.support import png_size, poll_until_done

SECRET = "s3cret-token"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8
HASH = "3dbbd469-36af-4a0f-8f02-df6c579e7011"


def account(base_url: str = "http://proxy.test", flavour: str = "java", secret: str = SECRET) -> Account:
    return Account(
        id=1,
        guild_id=2,
        name="mj",
        kind=BackendKind.MJ_PROXY,
        base_url=base_url,
        secret=secret,
        options={"flavour": flavour},
    )


Handler = Callable[[httpx.Request], httpx.Response]


def mocked(handler: Handler, flavour: str = "java") -> MjProxyBackend:
    return MjProxyBackend(account(flavour=flavour), httpx.AsyncClient(transport=httpx.MockTransport(handler)))


def answer(body: Any, status: int = 200) -> Handler:
    return lambda request: httpx.Response(status, json=body)


def vo(code: int, description: str = "", result: Any = None, **properties: Any) -> dict[str, Any]:
    return {"code": code, "description": description, "result": result, "properties": properties}


def task(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "1689231405853400",
        "action": "IMAGINE",
        "status": "SUCCESS",
        "prompt": "a cat",
        "promptEn": "a cat",
        "description": "/imagine a cat",
        "state": "guild:1",
        "submitTime": 1689231405854,
        "startTime": 1689231442755,
        "finishTime": 1689231544312,
        "progress": "100%",
        "imageUrl": "https://cdn.example/a_cat.png",
        "failReason": "",
        "properties": {"finalPrompt": "a cat --v 6.1", "messageHash": HASH},
        "buttons": [],
    }
    return body | overrides


# --------------------------------------------------------------------------------------------
# Submit results and errors
# --------------------------------------------------------------------------------------------


async def test_backend_satisfies_protocol() -> None:
    backend: Backend = mocked(answer(vo(1, result="1")))
    assert (await backend.imagine("cat")).task_id == "1"


@pytest.mark.parametrize("result", [1320098173412546, "1320098173412546"])
async def test_submit_success_keeps_task_id_as_string(result: Any) -> None:
    submitted = await mocked(answer(vo(1, "Submit Success", result))).imagine("cat")
    assert submitted.task_id == "1320098173412546"
    assert submitted.queue_position is None
    assert not submitted.needs_modal


async def test_code_22_gives_queue_position() -> None:
    body = vo(22, "排队中，前面还有2个任务", "1689231405853400", numberOfQueues=2, discordInstanceId="1")
    submitted = await mocked(answer(body)).imagine("cat")
    assert (submitted.task_id, submitted.queue_position) == ("1689231405853400", 2)


@pytest.mark.parametrize("flavour", ["java", "csharp"])
async def test_code_21_with_remix_is_modal(flavour: str) -> None:
    body = vo(21, "Waiting for window confirm", "1689231405853401", finalPrompt="cat --zoom 2", remix=True)
    submitted = await mocked(answer(body), flavour).action("1", f"MJ::CustomZoom::{HASH}")
    assert submitted.needs_modal
    assert submitted.final_prompt == "cat --zoom 2"


async def test_code_21_on_open_source_java_means_existing_task() -> None:
    body = vo(21, "任务已存在", "1689231405853400", status="SUCCESS", imageUrl="https://x/y.png")
    submitted = await mocked(answer(body)).action("1", f"MJ::JOB::upsample::1::{HASH}")
    assert submitted.task_id == "1689231405853400"
    assert not submitted.needs_modal
    assert submitted.existing


async def test_code_21_on_csharp_is_always_modal() -> None:
    submitted = await mocked(answer(vo(21, "Waiting for window confirm", "7")), "csharp").action("1", "x")
    assert submitted.needs_modal


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (vo(3, "关联任务不存在或已失效"), ErrorKind.NOT_FOUND),
        (vo(3, "无可用的账号实例"), ErrorKind.UNAVAILABLE),
        (vo(4, "prompt不能为空"), ErrorKind.INVALID_INPUT),
        (vo(4, "并发数已达上限"), ErrorKind.QUEUE_FULL),
        (vo(4, "用户今日绘图次数已达上限"), ErrorKind.QUOTA),
        (vo(4, "服务暂不可用，请联系管理员"), ErrorKind.UNAVAILABLE),
        (vo(9, "提交失败，队列已满，请稍后重试"), ErrorKind.QUEUE_FULL),
        (vo(9, "提交失败，系统异常"), ErrorKind.UNAVAILABLE),
        (vo(23, "队列已满，请稍后尝试"), ErrorKind.QUEUE_FULL),
        (vo(24, "可能包含敏感词", promptEn="nude body", bannedWord="nude"), ErrorKind.BANNED_PROMPT),
        (vo(42, "something new"), ErrorKind.UNAVAILABLE),
        (vo(1, "提交成功", None), ErrorKind.UNAVAILABLE),
        ({"success": False, "code": -1, "message": "并发数已达上限"}, ErrorKind.QUEUE_FULL),
        ({"success": False, "code": -1, "message": "队列数已达上限"}, ErrorKind.QUEUE_FULL),
        ({"success": False, "code": -1, "message": "用户今日绘图次数已达上限"}, ErrorKind.QUOTA),
        ({"success": False, "code": -1, "message": "state长度超过限制"}, ErrorKind.UNAVAILABLE),
    ],
)
async def test_submit_errors_map_to_kinds(body: dict[str, Any], kind: ErrorKind) -> None:
    with pytest.raises(BackendError) as caught:
        await mocked(answer(body)).imagine("cat")
    assert caught.value.kind is kind
    original = str(body.get("description") or body.get("message"))
    assert original in caught.value.detail


async def test_banned_word_and_translation_kept_in_detail() -> None:
    with pytest.raises(BackendError) as caught:
        await mocked(answer(vo(24, "可能包含敏感词", bannedWord="nude"))).imagine("nude body")
    assert caught.value.detail.startswith("The prompt may contain a banned word.")
    assert "可能包含敏感词" in caught.value.detail
    assert "nude" in caught.value.detail


@pytest.mark.parametrize(
    ("response", "kind"),
    [
        (httpx.Response(401), ErrorKind.AUTH),
        (httpx.Response(403, text="未登录"), ErrorKind.AUTH),
        (httpx.Response(404, json=vo(3, "关联任务不存在或已失效")), ErrorKind.NOT_FOUND),
        (
            httpx.Response(404, json={"status": 404, "error": "Not Found", "path": "/mj/x"}),
            ErrorKind.INVALID_INPUT,
        ),
        (httpx.Response(400, json={"status": 400, "error": "Bad Request"}), ErrorKind.INVALID_INPUT),
        (
            httpx.Response(500, json={"success": False, "code": -1, "message": "操作失败"}),
            ErrorKind.UNAVAILABLE,
        ),
        (httpx.Response(502, text="<html>Bad gateway</html>"), ErrorKind.UNAVAILABLE),
        (httpx.Response(200, text="<html>not json</html>"), ErrorKind.UNAVAILABLE),
        (httpx.Response(200, json=["not", "a", "vo"]), ErrorKind.UNAVAILABLE),
    ],
)
async def test_http_statuses_map_to_kinds(response: httpx.Response, kind: ErrorKind) -> None:
    with pytest.raises(BackendError) as caught:
        await mocked(lambda request: response).action("1", "MJ::JOB::upsample::1::x")
    assert caught.value.kind is kind


@pytest.mark.parametrize("error", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow")])
async def test_transport_errors_are_unavailable_and_secret_free(error: Exception) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error

    backend = MjProxyBackend(
        account(base_url=f"http://user:{SECRET}@proxy.test"),
        httpx.AsyncClient(transport=httpx.MockTransport(fail)),
    )
    with pytest.raises(BackendError) as caught:
        await backend.imagine("cat")
    assert caught.value.kind is ErrorKind.UNAVAILABLE
    assert SECRET not in str(caught.value)
    assert caught.value.__cause__ is None


async def test_echoed_secret_is_scrubbed() -> None:
    with pytest.raises(BackendError) as caught:
        await mocked(answer(vo(4, f"bad header {SECRET}"))).imagine("cat")
    assert SECRET not in str(caught.value)
    assert "***" in caught.value.detail


@pytest.mark.parametrize(
    "echo",
    [
        quote("s3cr/et+key=&?", safe=""),
        quote_plus("s3cr/et+key=&?"),
        base64.b64encode(b"s3cr/et+key=&?").decode(),
        base64.urlsafe_b64encode(b"s3cr/et+key=&?").decode().rstrip("="),
    ],
)
async def test_an_encoded_echo_of_the_secret_is_scrubbed(echo: str) -> None:
    backend = MjProxyBackend(
        account(secret="s3cr/et+key=&?"),
        httpx.AsyncClient(transport=httpx.MockTransport(answer(vo(4, f"got {echo}")))),
    )
    with pytest.raises(BackendError) as caught:
        await backend.imagine("cat")
    assert echo not in str(caught.value)
    assert caught.value.detail.endswith("got ***")


# --------------------------------------------------------------------------------------------
# Requests as sent
# --------------------------------------------------------------------------------------------


class Recorder:
    def __init__(self, response: httpx.Response) -> None:
        self.requests: list[httpx.Request] = []
        self._response = response

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self._response

    @property
    def last_json(self) -> Any:
        return json.loads(self.requests[-1].content)


@pytest.mark.parametrize(("flavour", "header"), [("java", "mj-api-secret"), ("csharp", "authorization")])
async def test_imagine_request_shape_and_auth_header(flavour: str, header: str) -> None:
    recorder = Recorder(httpx.Response(200, json=vo(1, result="1")))
    jpeg, webp, gif = b"\xff\xd8\xff\xe0rest", b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"GIF89a..."
    await mocked(recorder, flavour).imagine(
        "a cat", [PNG, jpeg, webp, gif], hook_url="http://bot/hook", state="job:1"
    )
    request = recorder.requests[0]
    assert (request.method, request.url.path) == ("POST", "/mj/submit/imagine")
    assert request.headers[header] == SECRET  # raw, no "Bearer"
    body = recorder.last_json
    assert body["prompt"] == "a cat"
    assert (body["notifyHook"], body["state"]) == ("http://bot/hook", "job:1")
    mimes = [item.split(";")[0] for item in body["base64Array"]]
    assert mimes == ["data:image/png", "data:image/jpeg", "data:image/webp", "data:image/gif"]
    assert base64.b64decode(body["base64Array"][0].split(",", 1)[1]) == PNG


async def test_no_hook_means_no_notify_hook_key() -> None:
    recorder = Recorder(httpx.Response(200, json=vo(1, result="1")))
    await mocked(recorder).action("17", "MJ::JOB::upsample::2::h")
    assert recorder.last_json == {"taskId": "17", "customId": "MJ::JOB::upsample::2::h", "state": ""}


async def test_unsupported_image_type_is_refused_before_sending() -> None:
    recorder = Recorder(httpx.Response(200, json=vo(1, result="1")))
    with pytest.raises(BackendError) as caught:
        await mocked(recorder).imagine("cat", [b"%PDF-1.7"])
    assert caught.value.kind is ErrorKind.INVALID_INPUT
    assert recorder.requests == []


async def test_other_submit_endpoints() -> None:
    recorder = Recorder(httpx.Response(200, json=vo(1, result="9")))
    backend = mocked(recorder)
    await backend.modal("5", "cat --zoom 1.5", mask_png=PNG)
    await backend.blend([PNG, PNG], "LANDSCAPE")
    await backend.describe(PNG)
    await backend.shorten("a very long prompt")
    paths = [r.url.path for r in recorder.requests]
    assert paths == ["/mj/submit/modal", "/mj/submit/blend", "/mj/submit/describe", "/mj/submit/shorten"]
    bodies = [json.loads(r.content) for r in recorder.requests]
    assert bodies[0]["maskBase64"].startswith("data:image/png;base64,")
    assert bodies[1]["dimensions"] == "LANDSCAPE"
    assert bodies[2]["base64"].startswith("data:image/png;base64,")
    assert bodies[3]["prompt"] == "a very long prompt"


# --------------------------------------------------------------------------------------------
# Fetch and Task → TaskSnapshot
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "response", [httpx.Response(200), httpx.Response(204), httpx.Response(200, text="null")]
)
async def test_fetch_unknown_is_none(response: httpx.Response) -> None:
    assert await mocked(lambda request: response).fetch("404") is None


async def test_fetch_many_posts_ids() -> None:
    recorder = Recorder(httpx.Response(200, json=[task(id="1"), task(id=2, status="IN_PROGRESS")]))
    snapshots = await mocked(recorder).fetch_many(["1", "2", "3"])
    assert recorder.requests[0].url.path == "/mj/task/list-by-condition"
    assert recorder.last_json == {"ids": ["1", "2", "3"]}
    assert [(s.task_id, s.status) for s in snapshots] == [
        ("1", JobStatus.SUCCESS),
        ("2", JobStatus.IN_PROGRESS),
    ]
    assert await mocked(recorder).fetch_many([]) == []


def parse(**overrides: Any) -> TaskSnapshot:
    return mocked(answer(None)).parse_push(task(**overrides))


def test_task_to_snapshot() -> None:
    snapshot = parse(id=1689231405853400)
    assert snapshot.task_id == "1689231405853400"
    assert snapshot.status is JobStatus.SUCCESS
    assert snapshot.progress == 100
    assert snapshot.image_url == "https://cdn.example/a_cat.png"
    assert (snapshot.prompt, snapshot.final_prompt) == ("a cat", "a cat --v 6.1")
    assert (snapshot.fail_reason, snapshot.error_kind) == (None, None)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("NOT_START", JobStatus.SUBMITTED),
        ("SUBMITTED", JobStatus.SUBMITTED),
        ("IN_PROGRESS", JobStatus.IN_PROGRESS),
        ("MODAL", JobStatus.MODAL),
        ("SUCCESS", JobStatus.SUCCESS),
        ("FAILURE", JobStatus.FAILURE),
        ("CANCEL", JobStatus.CANCELLED),
    ],
)
def test_status_mapping(status: str, expected: JobStatus) -> None:
    assert parse(status=status).status is expected


@pytest.mark.parametrize(
    ("progress", "expected"), [("46%", 46), ("0%", 0), ("100%", 100), ("", None), (None, None), (7, 7)]
)
def test_progress_parsing(progress: Any, expected: int | None) -> None:
    assert parse_progress(progress) == expected


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("可能包含敏感词", ErrorKind.BANNED_PROMPT),
        ("[Banned prompt detected] Sorry! ...", ErrorKind.BANNED_PROMPT),
        ("任务超时", ErrorKind.TIMEOUT),
        ("执行超时 5 分钟", ErrorKind.TIMEOUT),
        ("需要人工验证，请联系管理员", ErrorKind.MODERATION),
        ("[Action needed to continue] Appeal", ErrorKind.MODERATION),
        ("[Invalid parameter] Invalid value for --ar", None),
    ],
)
def test_fail_reason_kinds(reason: str, kind: ErrorKind | None) -> None:
    snapshot = parse(status="FAILURE", progress="", failReason=reason, imageUrl=None)
    assert snapshot.status is JobStatus.FAILURE
    assert snapshot.error_kind is kind
    assert snapshot.fail_reason is not None
    assert reason in snapshot.fail_reason


def test_csharp_cancel_reason_is_cancelled() -> None:
    assert parse(status="FAILURE", failReason="取消任务").status is JobStatus.CANCELLED


@pytest.mark.parametrize(
    ("custom_id", "kind", "row"),
    [
        (f"MJ::JOB::upsample::2::{HASH}", JobKind.UPSCALE, 0),
        (f"MJ::JOB::reroll::0::{HASH}::SOLO", JobKind.REROLL, 0),
        (f"MJ::JOB::variation::3::{HASH}", JobKind.VARIATION, 1),
        (f"MJ::JOB::upsample_v6_2x_subtle::1::{HASH}::SOLO", JobKind.UPSCALE, 0),
        (f"MJ::JOB::upsample_v7_2x_creative::1::{HASH}::SOLO", JobKind.UPSCALE, 0),
        (f"MJ::JOB::low_variation::1::{HASH}::SOLO", JobKind.VARIATION, 1),
        (f"MJ::JOB::high_variation::1::{HASH}::SOLO", JobKind.VARIATION, 1),
        (f"MJ::Inpaint::1::{HASH}::SOLO", JobKind.VARIATION, 1),
        (f"MJ::Outpaint::50::1::{HASH}::SOLO", JobKind.ZOOM, 2),
        (f"MJ::CustomZoom::{HASH}", JobKind.ZOOM, 2),
        (f"MJ::JOB::pan_left::1::{HASH}::SOLO", JobKind.PAN, 3),
        (f"MJ::BOOKMARK::{HASH}", JobKind.ACTION, 3),
        ("MJ::Job::PicReader::1", JobKind.ACTION, None),
    ],
)
def test_button_kinds(custom_id: str, kind: JobKind, row: int | None) -> None:
    button = {"customId": custom_id, "emoji": "", "label": "", "type": 2, "style": 2}
    (parsed,) = parse(buttons=[button]).buttons
    assert (parsed.custom_id, parsed.kind, parsed.row) == (custom_id, kind, row)


def test_button_styles_labels_and_link_buttons() -> None:
    buttons = [
        {"customId": "a", "emoji": "🔄", "label": "", "type": 2, "style": 1},
        {"customId": "b", "label": "U1", "style": 3},
        {"customId": "c", "style": 4},
        {"customId": "d", "style": 9},
        {"label": "Web", "type": 2, "style": 5, "url": "https://midjourney.com"},
    ]
    parsed = parse(buttons=buttons).buttons
    assert [b.style for b in parsed] == [
        ButtonStyle.PRIMARY,
        ButtonStyle.SUCCESS,
        ButtonStyle.DANGER,
        ButtonStyle.SECONDARY,
    ]
    assert (parsed[0].emoji, parsed[1].label) == ("🔄", "U1")


def test_minimal_task_with_unknown_keys() -> None:
    snapshot = mocked(answer(None)).parse_push(
        {"id": "1", "status": "SUBMITTED", "botType": "MID_JOURNEY", "progress": None, "buttons": None,
         "properties": None, "imageUrls": [{"url": "x"}]}
    )  # fmt: skip
    assert (snapshot.status, snapshot.progress, snapshot.buttons) == (JobStatus.SUBMITTED, None, [])
    assert snapshot.final_prompt is None


@pytest.mark.parametrize("body", [{"status": "SUCCESS"}, {"id": "1", "status": "EXPLODED"}, "nope", None])
def test_malformed_push_is_invalid_input(body: Any) -> None:
    with pytest.raises(BackendError) as caught:
        mocked(answer(None)).parse_push(body)
    assert caught.value.kind is ErrorKind.INVALID_INPUT


def test_describe_message() -> None:
    assert describe_message("队列已满，请稍后尝试") == "The queue is full. (队列已满，请稍后尝试)"
    assert describe_message("Something else") == "Something else"


def test_unknown_flavour_is_refused() -> None:
    with pytest.raises(ValueError, match="flavour"):
        mocked(answer(None), flavour="rust")


# --------------------------------------------------------------------------------------------
# Against the fake proxy over loopback
# --------------------------------------------------------------------------------------------


@pytest.fixture(params=["java", "csharp"])
async def fake(request: pytest.FixtureRequest) -> AsyncIterator[FakeMjProxy]:
    proxy = FakeMjProxy(flavour=request.param, secret=SECRET, step_seconds=0.01)
    await proxy.start()
    yield proxy
    await proxy.stop()


@pytest.fixture
def client(fake: FakeMjProxy, http: httpx.AsyncClient) -> MjProxyBackend:
    return MjProxyBackend(account(fake.base_url, fake.flavour), http)


async def test_imagine_then_upscale(client: MjProxyBackend, http: httpx.AsyncClient) -> None:
    submitted = await client.imagine("a red fox in snow")
    assert len(submitted.task_id) == 16
    grid = await poll_until_done(client, submitted.task_id)
    assert (grid.status, grid.progress) == (JobStatus.SUCCESS, 100)
    assert [b.label or b.emoji for b in grid.buttons] == [
        "U1",
        "U2",
        "U3",
        "U4",
        "🔄",
        "V1",
        "V2",
        "V3",
        "V4",
        *(["Seed"] if client.flavour == "csharp" else []),
    ]
    assert grid.image_url is not None
    assert png_size((await http.get(grid.image_url)).content) == (512, 512)

    u2 = next(b for b in grid.buttons if b.label == "U2")
    assert u2.kind is JobKind.UPSCALE
    upscale = await poll_until_done(client, (await client.action(grid.task_id, u2.custom_id)).task_id)
    assert upscale.status is JobStatus.SUCCESS
    assert {b.kind for b in upscale.buttons} == {
        JobKind.UPSCALE,
        JobKind.VARIATION,
        JobKind.ZOOM,
        JobKind.PAN,
        JobKind.ACTION,
    }
    assert upscale.image_url is not None
    assert png_size((await http.get(upscale.image_url)).content) == (256, 256)


async def test_custom_zoom_goes_through_modal(client: MjProxyBackend, fake: FakeMjProxy) -> None:
    grid = (await client.imagine("a lighthouse")).task_id
    await fake.wait_for(grid, "SUCCESS")
    upscale = (await client.action(grid, fake.task_json(grid)["buttons"][0]["customId"])).task_id
    await fake.wait_for(upscale, "SUCCESS")
    zoom_id = next(b["customId"] for b in fake.task_json(upscale)["buttons"] if "CustomZoom" in b["customId"])

    pending = await client.action(upscale, zoom_id)
    assert pending.needs_modal
    assert pending.final_prompt is not None
    assert "--zoom" in pending.final_prompt
    snapshot = await client.fetch(pending.task_id)
    assert snapshot is not None
    assert snapshot.status is JobStatus.MODAL

    confirmed = await client.modal(pending.task_id, "a lighthouse --ar 1:1 --zoom 1.5")
    assert confirmed.task_id == pending.task_id
    assert (await poll_until_done(client, pending.task_id)).status is JobStatus.SUCCESS


@pytest.mark.parametrize("flavour", ["java", "csharp"])
async def test_wrong_secret_is_auth(flavour: Flavour, http: httpx.AsyncClient) -> None:
    proxy = FakeMjProxy(flavour=flavour, secret="the-right-one")
    await proxy.start()
    try:
        backend = MjProxyBackend(account(proxy.base_url, flavour, secret="a-wrong-one"), http)
        with pytest.raises(BackendError) as caught:
            await backend.imagine("cat")
        assert caught.value.kind is ErrorKind.AUTH
        assert "a-wrong-one" not in str(caught.value)
    finally:
        await proxy.stop()


async def test_banned_prompt(client: MjProxyBackend, fake: FakeMjProxy) -> None:
    if fake.flavour == "java":
        with pytest.raises(BackendError) as caught:
            await client.imagine("a forbidden thing")
        assert caught.value.kind is ErrorKind.BANNED_PROMPT
        assert "forbidden" in caught.value.detail
    else:
        # trueai v10+ accepts the prompt and fails the task afterwards.
        snapshot = await poll_until_done(client, (await client.imagine("a forbidden thing")).task_id)
        assert (snapshot.status, snapshot.error_kind) == (JobStatus.FAILURE, ErrorKind.BANNED_PROMPT)


async def test_queue_full(client: MjProxyBackend, fake: FakeMjProxy) -> None:
    fake.faults.fail_next_submit(code=fake.queue_full_code)
    with pytest.raises(BackendError) as caught:
        await client.imagine("cat")
    assert caught.value.kind is ErrorKind.QUEUE_FULL


async def test_http_500_is_unavailable(client: MjProxyBackend, fake: FakeMjProxy) -> None:
    fake.faults.fail_next_submit(status=500)
    with pytest.raises(BackendError) as caught:
        await client.imagine("cat")
    assert caught.value.kind is ErrorKind.UNAVAILABLE


async def test_read_timeout_is_unavailable(fake: FakeMjProxy) -> None:
    fake.faults.delay_responses(0.1)
    async with httpx.AsyncClient(timeout=0.02, verify=False) as impatient:
        with pytest.raises(BackendError) as caught:
            await MjProxyBackend(account(fake.base_url, fake.flavour), impatient).imagine("cat")
    assert caught.value.kind is ErrorKind.UNAVAILABLE


async def test_fetch_unknown_and_fetch_many(client: MjProxyBackend, fake: FakeMjProxy) -> None:
    assert await client.fetch("1000000000000000") is None
    first = (await client.imagine("one")).task_id
    second = (await client.imagine("two")).task_id
    snapshots = await client.fetch_many([first, "1000000000000000", second])
    assert [s.task_id for s in snapshots] == [first, second]


async def test_cancel(client: MjProxyBackend, fake: FakeMjProxy) -> None:
    fake.faults.stick_next_task()
    task_id = (await client.imagine("cat")).task_id
    if fake.flavour == "java":
        with pytest.raises(BackendError) as caught:
            await client.cancel(task_id)
        assert caught.value.kind is ErrorKind.INVALID_INPUT
        return
    await client.cancel(task_id)
    snapshot = await client.fetch(task_id)
    assert snapshot is not None
    assert snapshot.status is JobStatus.CANCELLED


async def test_notify_hook_pushes_parse(client: MjProxyBackend) -> None:
    receiver = HookReceiver()
    await receiver.start()
    try:
        task_id = (await client.imagine("a cat", hook_url=receiver.url, state="job:7")).task_id
        async with asyncio.timeout(5):
            bodies = await receiver.wait_until(lambda got: any(b["status"] == "SUCCESS" for b in got))
    finally:
        await receiver.stop()
    snapshots = [client.parse_push(body) for body in bodies]
    assert {s.task_id for s in snapshots} == {task_id}
    assert [s.status for s in snapshots] == [
        JobStatus.SUBMITTED,
        *[JobStatus.IN_PROGRESS] * 3,
        JobStatus.SUCCESS,
    ]
    assert [s.progress for s in snapshots] == [0, 25, 50, 75, 100]
    assert all(b["state"] == "job:7" for b in bodies)
    assert snapshots[-1].buttons


async def test_null_properties_in_vo() -> None:
    body = {"code": 22, "description": "排队中", "result": 5, "properties": None}
    assert (await mocked(answer(body)).imagine("cat")).queue_position is None


# --------------------------------------------------------------------------------------------
# Open-source flavour: synthesised grid buttons, /submit/change, clear refusals
# --------------------------------------------------------------------------------------------


def plus_grid_buttons(hash_: str) -> list[dict[str, Any]]:
    """What plus/C# send for a grid (written out here so the synthesis is checked against it)."""
    return [
        *(
            {"customId": f"MJ::JOB::upsample::{i}::{hash_}", "label": f"U{i}", "emoji": ""}
            for i in range(1, 5)
        ),
        {"customId": f"MJ::JOB::reroll::0::{hash_}::SOLO", "label": "", "emoji": "🔄"},
        *(
            {"customId": f"MJ::JOB::variation::{i}::{hash_}", "label": f"V{i}", "emoji": ""}
            for i in range(1, 5)
        ),
    ]


def oss_task(**overrides: Any) -> dict[str, Any]:
    body = task(**overrides)
    del body["buttons"]  # novicezk's Task has no such field
    return body


@pytest.mark.parametrize("action", ["IMAGINE", "VARIATION", "REROLL", "BLEND"])
def test_oss_grid_buttons_are_synthesised_like_plus_sends_them(action: str) -> None:
    synthesised = mocked(answer(None), "oss").parse_push(oss_task(action=action)).buttons
    sent = (
        mocked(answer(None), "java").parse_push(task(action=action, buttons=plus_grid_buttons(HASH))).buttons
    )
    assert synthesised == sent
    assert [(b.label or b.emoji, b.kind, b.row) for b in synthesised] == [
        *((f"U{i}", JobKind.UPSCALE, 0) for i in range(1, 5)),
        ("🔄", JobKind.REROLL, 0),
        *((f"V{i}", JobKind.VARIATION, 1) for i in range(1, 5)),
    ]


@pytest.mark.parametrize(
    "overrides",
    [
        {"action": "UPSCALE"},
        {"action": "DESCRIBE"},
        {"status": "IN_PROGRESS", "progress": "50%"},
        {"status": "FAILURE", "failReason": "任务超时"},
    ],
)
def test_oss_no_buttons_where_change_cannot_act(overrides: dict[str, Any]) -> None:
    assert mocked(answer(None), "oss").parse_push(oss_task(**overrides)).buttons == []


def test_oss_buttons_fall_back_to_task_id_and_ignore_sent_buttons() -> None:
    snapshot = mocked(answer(None), "oss").parse_push(
        task(properties={}, buttons=[{"customId": "MJ::Other"}])
    )
    assert snapshot.buttons[0].custom_id == "MJ::JOB::upsample::1::1689231405853400"
    assert len(snapshot.buttons) == 9


@pytest.mark.parametrize(
    ("custom_id", "expected"),
    [
        (f"MJ::JOB::upsample::2::{HASH}", {"action": "UPSCALE", "index": 2}),
        (f"MJ::JOB::variation::4::{HASH}", {"action": "VARIATION", "index": 4}),
        (f"MJ::JOB::reroll::0::{HASH}::SOLO", {"action": "REROLL"}),
    ],
)
async def test_oss_action_maps_onto_change(custom_id: str, expected: dict[str, Any]) -> None:
    recorder = Recorder(httpx.Response(200, json=vo(1, result="2")))
    submitted = await mocked(recorder, "oss").action("17", custom_id, hook_url="http://bot/hook", state="s")
    assert submitted.task_id == "2"
    request = recorder.requests[0]
    assert request.url.path == "/mj/submit/change"
    assert request.headers["mj-api-secret"] == SECRET
    assert recorder.last_json == {"taskId": "17", "notifyHook": "http://bot/hook", "state": "s"} | expected


async def test_oss_code_21_is_the_existing_task() -> None:
    body = vo(21, "任务已存在", "5", status="SUCCESS", finalPrompt="a cat")
    submitted = await mocked(answer(body), "oss").action("1", f"MJ::JOB::upsample::1::{HASH}")
    assert (submitted.task_id, submitted.needs_modal, submitted.existing) == ("5", False, True)


async def test_oss_refuses_what_it_cannot_do_without_calling() -> None:
    recorder = Recorder(httpx.Response(200, json=vo(1, result="1")))
    backend = mocked(recorder, "oss")
    attempts = {
        "action": backend.action("1", f"MJ::JOB::upsample_v6_2x_subtle::1::{HASH}::SOLO"),
        "zoom": backend.action("1", f"MJ::CustomZoom::{HASH}"),
        "modal": backend.modal("1", "cat --zoom 2"),
        "shorten": backend.shorten("a long prompt"),
        "remix": backend.remix("1", f"MJ::JOB::variation::1::{HASH}", "a dog"),
    }
    for name, attempt in attempts.items():
        with pytest.raises(BackendError) as caught:
            await attempt
        assert caught.value.kind is ErrorKind.UNSUPPORTED, name
        assert "open-source" in caught.value.detail, name
    assert recorder.requests == []


# --------------------------------------------------------------------------------------------
# Remix
# --------------------------------------------------------------------------------------------


class Script:
    """Answers each request with the next response, recording the requests."""

    def __init__(self, *bodies: dict[str, Any]) -> None:
        self.requests: list[httpx.Request] = []
        self._bodies = list(bodies)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json=self._bodies.pop(0))

    @property
    def sent(self) -> list[tuple[str, Any]]:
        return [(r.url.path, json.loads(r.content)) for r in self.requests]


MODAL_21 = vo(21, "Waiting for window confirm", "8", finalPrompt="a cat --v 6.1", remix=True)
VARY = f"MJ::JOB::variation::1::{HASH}"


def test_backend_supports_remix() -> None:
    assert Capability.REMIX in mocked(answer(None)).capabilities


@pytest.mark.parametrize(("flavour", "enable_remix"), [("csharp", {"enableRemix": True}), ("java", {})])
async def test_remix_confirms_the_modal_with_the_prompt(flavour: str, enable_remix: dict[str, Any]) -> None:
    script = Script(MODAL_21, vo(1, "提交成功", "8"))
    submitted = await mocked(script, flavour).remix(
        "7", VARY, "a dog --v 6.1", hook_url="http://h", state="s"
    )
    assert (submitted.task_id, submitted.needs_modal) == ("8", False)
    assert script.sent == [
        (
            "/mj/submit/action",
            {"taskId": "7", "customId": VARY, "notifyHook": "http://h", "state": "s"} | enable_remix,
        ),
        ("/mj/submit/modal", {"taskId": "8", "prompt": "a dog --v 6.1"}),
    ]


async def test_remix_on_plus_without_account_remix_runs_the_original_prompt() -> None:
    script = Script(vo(22, "排队中，前面还有1个任务", "9", numberOfQueues=1))
    submitted = await mocked(script, "java").remix("7", VARY, "a dog")
    assert (submitted.task_id, submitted.queue_position) == ("9", 1)
    assert [path for path, _ in script.sent] == ["/mj/submit/action"]


async def test_remix_refused_by_csharp_account_is_invalid_input() -> None:
    script = Script(vo(4, "remix not enabled on this account"))
    with pytest.raises(BackendError) as caught:
        await mocked(script, "csharp").remix("7", VARY, "a dog")
    assert caught.value.kind is ErrorKind.INVALID_INPUT
    assert len(script.requests) == 1


# --------------------------------------------------------------------------------------------
# Open-source flavour and Remix against the fake proxy
# --------------------------------------------------------------------------------------------


async def started_proxy(flavour: Flavour, **options: Any) -> FakeMjProxy:
    proxy = FakeMjProxy(flavour=flavour, secret=SECRET, step_seconds=0.01, **options)
    await proxy.start()
    return proxy


async def test_oss_grid_upscale_variation_reroll_over_loopback(http: httpx.AsyncClient) -> None:
    proxy = await started_proxy("oss")
    try:
        backend = MjProxyBackend(account(proxy.base_url, "oss"), http)
        grid = await poll_until_done(backend, (await backend.imagine("a red fox")).task_id)
        assert [b.label or b.emoji for b in grid.buttons] == [
            *(f"U{i}" for i in range(1, 5)), "🔄", *(f"V{i}" for i in range(1, 5))
        ]  # fmt: skip
        assert grid.buttons[0].custom_id.endswith(proxy.task_json(grid.task_id)["properties"]["messageHash"])

        by_label = {b.label or b.emoji: b.custom_id for b in grid.buttons}
        upscale = await poll_until_done(backend, (await backend.action(grid.task_id, by_label["U3"])).task_id)
        assert (upscale.status, upscale.buttons) == (JobStatus.SUCCESS, [])
        assert proxy.task_json(upscale.task_id)["description"] == f"/up {grid.task_id} U3"

        variation = await poll_until_done(
            backend, (await backend.action(grid.task_id, by_label["V2"])).task_id
        )
        assert len(variation.buttons) == 9
        reroll_id = next(b.custom_id for b in variation.buttons if b.kind is JobKind.REROLL)
        reroll = await poll_until_done(backend, (await backend.action(variation.task_id, reroll_id)).task_id)
        assert reroll.status is JobStatus.SUCCESS
        assert proxy.task_json(reroll.task_id)["action"] == "REROLL"
        assert proxy.count("/mj/submit/change") == 3
        assert proxy.count("/mj/submit/action") == 0

        with pytest.raises(BackendError) as caught:
            await backend.remix(grid.task_id, by_label["V1"], "a blue fox")
        assert caught.value.kind is ErrorKind.UNSUPPORTED
        # A "java" account pointed at an open-source proxy gets the route 404 as INVALID_INPUT.
        misconfigured = MjProxyBackend(account(proxy.base_url, "java"), http)
        with pytest.raises(BackendError) as caught:
            await misconfigured.action(grid.task_id, by_label["U1"])
        assert caught.value.kind is ErrorKind.INVALID_INPUT
    finally:
        await proxy.stop()


@pytest.mark.parametrize(
    ("flavour", "account_remix", "applied"),
    [("csharp", False, True), ("java", True, True), ("java", False, False)],
)
async def test_remix_over_loopback(
    http: httpx.AsyncClient, flavour: Flavour, account_remix: bool, applied: bool
) -> None:
    proxy = await started_proxy(flavour, account_remix=account_remix)
    try:
        backend = MjProxyBackend(account(proxy.base_url, flavour), http)
        grid = await poll_until_done(backend, (await backend.imagine("a red fox")).task_id)
        vary = next(b.custom_id for b in grid.buttons if b.label == "V1")
        submitted = await backend.remix(grid.task_id, vary, "a blue fox", state="job:9")
        result = await poll_until_done(backend, submitted.task_id)
        assert result.status is JobStatus.SUCCESS
        assert result.prompt == ("a blue fox" if applied else "a red fox")
        assert proxy.task_json(submitted.task_id)["state"] == "job:9"
        assert proxy.count("/mj/submit/modal") == (1 if applied else 0)
        sent = next(r.json for r in proxy.requests if r.path == "/mj/submit/action")
        assert ("enableRemix" in sent) is (flavour == "csharp")
    finally:
        await proxy.stop()
