"""NextLegBackend: the wire mapping (httpx.MockTransport) and the client against the fake API."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from bot.backends._http import label_button, label_buttons
from bot.backends.base import Backend
from bot.backends.nextleg import MessagePayload, NextLegBackend, Pacer, parse_settings
from bot.backends.picks import parse_options
from bot.domain import Account, BackendError, BackendKind, ErrorKind, JobKind, JobStatus, TaskSnapshot
from sandbox.fake_nextleg import GRID_BUTTONS, SETTINGS_LABELS, FakeNextLeg
from tests.backends.hook_receiver import HookReceiver
from tests.backends.support import png_size, poll_until_done

SECRET = "tnl-s3cret"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8
GRID = ["U1", "U2", "U3", "U4", "🔄", "V1", "V2", "V3", "V4"]


def account(base_url: str = "https://api.thenextleg.test", secret: str = SECRET) -> Account:
    return Account(
        id=1,
        guild_id=2,
        name="tnl",
        kind=BackendKind.NEXTLEG,
        base_url=base_url,
        secret=secret,
        options={"min_interval": "0"},
    )


Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler answering from a list, recording every request."""

    def __init__(self, *responses: httpx.Response) -> None:
        self.requests: list[httpx.Request] = []
        self._responses = list(responses)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self._responses.pop(0) if len(self._responses) > 1 else self._responses[0]

    def json(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)


def mocked(handler: Handler, base_url: str = "https://api.thenextleg.test") -> NextLegBackend:
    return NextLegBackend(account(base_url), httpx.AsyncClient(transport=httpx.MockTransport(handler)))


def ok(body: Any, status: int = 200) -> Recorder:
    return Recorder(httpx.Response(status, json=body))


ACCEPTED = {"success": True, "messageId": "msg-1", "createdAt": "2023-04-04T13:07:01.927Z"}


def payload(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "createdAt": "2023-04-04T13:07:01.927Z",
        "responseAt": "2023-04-04T13:06:01.927Z",
        "buttons": GRID,
        "imageUrl": "https://cdn.test/grid.png",
        "imageUrls": ["https://cdn.test/1.png"],
        "buttonMessageId": "btn-1",
        "originatingMessageId": "msg-1",
        "content": "a red fox",
        "ref": "mjbot:7",
    }
    return body | overrides


# --------------------------------------------------------------------------------------------
# Submits
# --------------------------------------------------------------------------------------------


async def test_backend_satisfies_protocol() -> None:
    backend: Backend = mocked(ok(ACCEPTED))
    assert (await backend.imagine("cat")).task_id == "msg-1"


@pytest.mark.parametrize("base_url", ["https://api.thenextleg.test", "https://api.thenextleg.test/v2/"])
async def test_imagine_request_shape(base_url: str) -> None:
    recorder = ok(ACCEPTED)
    await mocked(recorder, base_url).imagine(
        "https://x/y.png a cat", hook_url="http://bot/hook", state="mjbot:1"
    )
    request = recorder.requests[0]
    assert (request.method, str(request.url)) == ("POST", "https://api.thenextleg.test/v2/imagine")
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert recorder.json() == {
        "msg": "https://x/y.png a cat",
        "ref": "mjbot:1",
        "webhookOverride": "http://bot/hook",
    }


async def test_no_hook_means_no_webhook_override() -> None:
    recorder = ok(ACCEPTED)
    await mocked(recorder).imagine("cat")
    assert recorder.json() == {"msg": "cat", "ref": ""}


async def test_uploaded_images_are_refused_before_sending() -> None:
    recorder = ok(ACCEPTED)
    with pytest.raises(BackendError) as caught:
        await mocked(recorder).imagine("cat", [PNG])
    assert caught.value.kind is ErrorKind.INVALID_INPUT
    assert "URL" in caught.value.detail
    assert recorder.requests == []


@pytest.mark.parametrize(
    ("response", "kind"),
    [
        (
            httpx.Response(400, json={"success": False, "msg": "Invalid phrase: 'gore'"}),
            ErrorKind.BANNED_PROMPT,
        ),
        (httpx.Response(200, json={"success": False, "content": "QUEUE_FULL"}), ErrorKind.QUEUE_FULL),
        (httpx.Response(200, json={"success": False, "msg": "NO_FAST_HOURS"}), ErrorKind.QUOTA),
        (httpx.Response(200, json={"success": False, "msg": "something odd"}), ErrorKind.INVALID_INPUT),
        (httpx.Response(400, json={"success": False, "msg": "msg is required"}), ErrorKind.INVALID_INPUT),
        (httpx.Response(401, json={"success": False, "msg": "Unauthorized"}), ErrorKind.AUTH),
        (httpx.Response(403, text="Forbidden"), ErrorKind.AUTH),
        (httpx.Response(402, text="pay"), ErrorKind.QUOTA),
        (httpx.Response(429, json={"success": False, "msg": "slow down"}), ErrorKind.QUEUE_FULL),
        (httpx.Response(500, text="<html>oops</html>"), ErrorKind.UNAVAILABLE),
        (httpx.Response(200, text="<html>not json</html>"), ErrorKind.UNAVAILABLE),
        (httpx.Response(200, json=["no"]), ErrorKind.UNAVAILABLE),
    ],
)
async def test_submit_errors_map_to_kinds(response: httpx.Response, kind: ErrorKind) -> None:
    with pytest.raises(BackendError) as caught:
        await mocked(lambda request: response).imagine("cat")
    assert caught.value.kind is kind


async def test_banned_phrase_is_kept_in_detail() -> None:
    with pytest.raises(BackendError) as caught:
        await mocked(ok({"success": False, "msg": "Invalid phrase: 'gore'"}, 400)).imagine("gore")
    assert "gore" in caught.value.detail


@pytest.mark.parametrize("error", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow")])
async def test_transport_errors_are_unavailable_and_secret_free(error: Exception) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error

    with pytest.raises(BackendError) as caught:
        await mocked(fail, f"http://user:{SECRET}@tnl.test").imagine("cat")
    assert caught.value.kind is ErrorKind.UNAVAILABLE
    assert SECRET not in str(caught.value)


async def test_echoed_secret_is_scrubbed() -> None:
    with pytest.raises(BackendError) as caught:
        await mocked(ok({"success": False, "msg": f"bad token {SECRET}"})).imagine("cat")
    assert SECRET not in str(caught.value)


# --------------------------------------------------------------------------------------------
# Buttons: our task id is the messageId, the API wants the buttonMessageId
# --------------------------------------------------------------------------------------------


async def test_action_uses_the_button_message_id_seen_in_a_push() -> None:
    recorder = ok(ACCEPTED)
    backend = mocked(recorder)
    backend.parse_push(payload())
    await backend.action("msg-1", "U2", hook_url="http://bot/hook", state="mjbot:8")
    assert [r.url.path for r in recorder.requests] == ["/v2/button"]
    assert recorder.json() == {
        "button": "U2", "buttonMessageId": "btn-1", "ref": "mjbot:8", "webhookOverride": "http://bot/hook"
    }  # fmt: skip


async def test_action_looks_the_button_message_id_up_after_a_restart() -> None:
    recorder = Recorder(
        httpx.Response(200, json={"progress": 100, "response": payload()}), httpx.Response(200, json=ACCEPTED)
    )
    await mocked(recorder).action("msg-1", "🔄")
    assert [(r.method, r.url.path) for r in recorder.requests] == [
        ("GET", "/v2/message/msg-1"),
        ("POST", "/v2/button"),
    ]
    assert recorder.json()["buttonMessageId"] == "btn-1"
    assert recorder.json()["button"] == "🔄"


@pytest.mark.parametrize(
    ("response", "kind"),
    [
        (httpx.Response(404, json={"success": False, "msg": "Message not found"}), ErrorKind.NOT_FOUND),
        (httpx.Response(200, json={"progress": 40, "progressImageUrl": None}), ErrorKind.INVALID_INPUT),
    ],
)
async def test_action_on_unknown_or_unfinished_task(response: httpx.Response, kind: ErrorKind) -> None:
    with pytest.raises(BackendError) as caught:
        await mocked(lambda request: response).action("msg-1", "U1")
    assert caught.value.kind is kind


# --------------------------------------------------------------------------------------------
# GET /message and pushes → TaskSnapshot
# --------------------------------------------------------------------------------------------


async def fetched(body: Any, status: int = 200) -> TaskSnapshot | None:
    return await mocked(ok(body, status)).fetch("msg-1")


async def test_fetch_unknown_is_none() -> None:
    assert await fetched({"success": False, "msg": "Message not found"}, 404) is None


@pytest.mark.parametrize(
    ("body", "status", "progress", "image"),
    [
        ({"progress": 0, "progressImageUrl": None}, JobStatus.SUBMITTED, 0, None),
        ({"progress": 37, "progressImageUrl": "https://cdn.test/p.webp"}, JobStatus.IN_PROGRESS, 37, "https://cdn.test/p.webp"),
        # A finished response beside an unfinished progress is still running.
        ({"progress": 90, "response": payload()}, JobStatus.IN_PROGRESS, 90, None),
    ],
)  # fmt: skip
async def test_fetch_progress(body: Any, status: JobStatus, progress: int, image: str | None) -> None:
    snapshot = await fetched(body)
    assert snapshot is not None
    assert (snapshot.task_id, snapshot.status, snapshot.progress, snapshot.image_url) == (
        "msg-1",
        status,
        progress,
        image,
    )


@pytest.mark.parametrize("body", [{"progress": 100, "response": payload()}, {"progress": 100, **payload()}])
async def test_fetch_finished_nested_or_flat(body: Any) -> None:
    snapshot = await fetched(body)
    assert snapshot is not None
    assert (snapshot.status, snapshot.progress, snapshot.image_url) == (
        JobStatus.SUCCESS,
        100,
        "https://cdn.test/grid.png",
    )
    assert [b.custom_id for b in snapshot.buttons] == GRID
    assert snapshot.prompt == "a red fox"


async def test_fetch_incomplete_is_timeout() -> None:
    snapshot = await fetched({"progress": "incomplete"})
    assert snapshot is not None
    assert (snapshot.status, snapshot.error_kind) == (JobStatus.FAILURE, ErrorKind.TIMEOUT)


def parse(**overrides: Any) -> TaskSnapshot:
    return mocked(ok(None)).parse_push(payload(**overrides))


@pytest.mark.parametrize(
    ("content", "status", "kind"),
    [
        ("QUEUE_FULL", JobStatus.FAILURE, ErrorKind.QUEUE_FULL),
        ("BANNED_PROMPT", JobStatus.FAILURE, ErrorKind.BANNED_PROMPT),
        ("Banned Prompt", JobStatus.FAILURE, ErrorKind.BANNED_PROMPT),
        ("IMAGE_BLOCKED", JobStatus.FAILURE, ErrorKind.BANNED_PROMPT),
        ("NO_FAST_HOURS", JobStatus.FAILURE, ErrorKind.QUOTA),
        ("PLEASE_SUBSCRIBE_TO_MJ_IN_YOUR_DASHBOARD", JobStatus.FAILURE, ErrorKind.QUOTA),
        ("JOB_ACTION_RESTRICTED", JobStatus.FAILURE, ErrorKind.MODERATION),
        ("BOT_TOOK_TOO_LONG_TO_PROCESS_YOUR_COMMAND", JobStatus.FAILURE, ErrorKind.TIMEOUT),
        ("ALREADY_REQUESTED_UPSCALE", JobStatus.FAILURE, ErrorKind.INVALID_INPUT),
        ("BUTTON_NOT_FOUND", JobStatus.FAILURE, ErrorKind.INVALID_INPUT),
        ("INTERNAL_ERROR", JobStatus.FAILURE, ErrorKind.UNAVAILABLE),
        ("JOB_QUEUED", JobStatus.SUBMITTED, None),
        ("APPEAL_ACCEPTED", JobStatus.IN_PROGRESS, None),
        ("Something nobody documented", JobStatus.FAILURE, None),
    ],
)
def test_content_statuses(content: str, status: JobStatus, kind: ErrorKind | None) -> None:
    snapshot = parse(content=content, buttons=[], imageUrl=None, imageUrls=[], buttonMessageId=None)
    assert (snapshot.status, snapshot.error_kind) == (status, kind)
    if status is JobStatus.FAILURE:
        assert snapshot.fail_reason is not None
        assert content in snapshot.fail_reason


def test_a_prompt_that_reads_like_a_status_is_still_a_result() -> None:
    snapshot = parse(content="QUEUE_FULL")
    assert snapshot.status is JobStatus.SUCCESS


def test_describe_and_info_contents() -> None:
    describe = parse(content=["one", "2️⃣ two"], buttons=[], imageUrl=None, imageUrls=[], type="describe")
    # Numbered as the picks read them (an already numbered prompt keeps its number); one button each.
    assert (describe.status, describe.final_prompt) == (JobStatus.SUCCESS, "1️⃣ one\n\n2️⃣ two")
    assert [b.custom_id for b in describe.buttons] == ["MJ::Job::PicReader::1", "MJ::Job::PicReader::2"]
    assert parse_options(describe.final_prompt or "") == ["one", "two"]
    info = parse(content={"Job Mode": "Fast"}, buttons=None, imageUrl=None, imageUrls=None, type="info")
    assert info.final_prompt == "Job Mode: Fast"


def test_firestore_timestamps_and_object_refs_are_accepted() -> None:
    snapshot = parse(createdAt={"_seconds": 1680613621, "_nanoseconds": 0}, ref={"job": 7})
    assert snapshot.status is JobStatus.SUCCESS


@pytest.mark.parametrize(
    "body", [payload(originatingMessageId=None), {"progress": 40}, "nope", None, {"buttons": "U1"}]
)
def test_malformed_push_is_invalid_input(body: Any) -> None:
    with pytest.raises(BackendError) as caught:
        mocked(ok(None)).parse_push(body)
    assert caught.value.kind is ErrorKind.INVALID_INPUT


# --------------------------------------------------------------------------------------------
# Buttons, settings, pace
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "kind", "row", "text", "emoji"),
    [
        ("U2", JobKind.UPSCALE, 0, "U2", ""),
        ("🔄", JobKind.REROLL, 0, "", "🔄"),
        ("V4", JobKind.VARIATION, 1, "V4", ""),
        ("Upscale (Subtle)", JobKind.UPSCALE, 0, "Upscale (Subtle)", ""),
        ("Redo Upscale (2x)", JobKind.UPSCALE, 0, "Redo Upscale (2x)", ""),
        ("Vary (Strong)", JobKind.VARIATION, 1, "Vary (Strong)", ""),
        ("🪄 Make Variations", JobKind.VARIATION, 1, "Make Variations", "🪄"),
        ("Zoom Out 2x", JobKind.ZOOM, 2, "Zoom Out 2x", ""),
        ("Make Square", JobKind.ZOOM, 2, "Make Square", ""),
        ("⬅️", JobKind.PAN, 3, "", "⬅️"),
        ("❤️ Favorite", JobKind.ACTION, None, "Favorite", "❤️"),
    ],
)
def test_label_buttons(label: str, kind: JobKind, row: int | None, text: str, emoji: str) -> None:
    button = label_button(label)
    assert (button.custom_id, button.kind, button.row, button.label, button.emoji) == (
        label,
        kind,
        row,
        text,
        emoji,
    )


def test_buttons_needing_input_are_left_out_and_duplicates_dropped() -> None:
    labels = ["Zoom Out 2x", "Custom Zoom", "Vary (Region)", "Zoom Out 2x", ""]
    assert [b.custom_id for b in label_buttons(labels)] == ["Zoom Out 2x"]


def test_settings_from_the_seed_payload() -> None:
    body = {"buttons": SETTINGS_LABELS, "content": "Adjust your settings here. Current suffix: ` --v 5` "}
    settings = parse_settings(MessagePayload.model_validate(body))
    assert settings.suffix == "--v 5"
    states = {t.label: t.on for t in settings.toggles}
    assert len(settings.toggles) == len(set(SETTINGS_LABELS))  # "Base quality" is listed twice
    assert states["MJ version 5"] is True
    assert states["MJ version 4"] is False
    assert states["Niji version 5"] is False
    assert (states["Base quality"], states["Half quality"], states["High quality (2x cost)"]) == (
        True,
        False,
        False,
    )
    assert (states["Style med"], states["Style high"]) == (True, False)
    assert states["Remix mode"] is None  # modes are not in the suffix
    assert states["Reset Settings"] is None


def test_settings_suffix_values() -> None:
    labels = ["Half quality", "Style very high", "MJ Test Photo", "MJ Test", "High quality (x cost)"]
    body = {
        "buttons": labels,
        "content": "Adjust your settings here. Current suffix: ` --testp --q 0.5 --s 750` ",
    }
    states = {t.label: t.on for t in parse_settings(MessagePayload.model_validate(body)).toggles}
    assert states == {
        "Half quality": True, "Style very high": True, "MJ Test Photo": True, "MJ Test": False,
        "High quality (x cost)": False,
    }  # fmt: skip


async def test_pacer_spaces_request_starts() -> None:
    pacer = Pacer(0.05)
    loop = asyncio.get_running_loop()
    starts: list[float] = []

    async def one() -> None:
        await pacer.wait()
        starts.append(loop.time())

    await asyncio.gather(*(one() for _ in range(3)))
    assert all(later - earlier >= 0.049 for earlier, later in itertools.pairwise(starts))


def test_negative_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="min_interval"):
        NextLegBackend(
            account().model_copy(update={"options": {"min_interval": "-1"}}), httpx.AsyncClient(verify=False)
        )


# --------------------------------------------------------------------------------------------
# Against the fake over loopback
# --------------------------------------------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeNextLeg]:
    server = FakeNextLeg(secret=SECRET, step_seconds=0.01)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def client(fake: FakeNextLeg, http: httpx.AsyncClient) -> NextLegBackend:
    return NextLegBackend(account(fake.base_url), http)


async def test_imagine_then_upscale(client: NextLegBackend, http: httpx.AsyncClient) -> None:
    grid = await poll_until_done(client, (await client.imagine("a red fox in snow")).task_id)
    assert (grid.status, grid.progress, grid.prompt) == (JobStatus.SUCCESS, 100, "a red fox in snow")
    assert [b.custom_id for b in grid.buttons] == GRID_BUTTONS
    assert grid.image_url is not None
    assert png_size((await http.get(grid.image_url)).content) == (512, 512)

    upscale = await poll_until_done(client, (await client.action(grid.task_id, "U2")).task_id)
    assert upscale.status is JobStatus.SUCCESS
    assert upscale.image_url is not None
    assert png_size((await http.get(upscale.image_url)).content) == (256, 256)
    offered = [b.custom_id for b in upscale.buttons]
    assert "Custom Zoom" in offered and "Vary (Region)" not in offered  # a zoom is asked; a mask is not
    assert {b.kind for b in upscale.buttons} == {
        JobKind.UPSCALE,
        JobKind.VARIATION,
        JobKind.ZOOM,
        JobKind.PAN,
    }

    again = await poll_until_done(client, (await client.action(grid.task_id, "U2")).task_id)
    assert (again.status, again.error_kind) == (JobStatus.FAILURE, ErrorKind.INVALID_INPUT)


async def test_custom_zoom_sends_prompt_zoom_and_ar(client: NextLegBackend, fake: FakeNextLeg) -> None:
    grid = await poll_until_done(client, (await client.imagine("a red fox")).task_id)
    upscale = await poll_until_done(client, (await client.action(grid.task_id, "U1")).task_id)
    submitted = await client.custom_zoom(upscale.task_id, "Custom Zoom", "a red fox --ar 16:9 --zoom 1.5")
    zoomed = await poll_until_done(client, submitted.task_id)
    assert zoomed.status is JobStatus.SUCCESS
    [body] = [
        r.json for r in fake.requests if r.path == "/v2/button" and r.json.get("button") == "Custom Zoom"
    ]
    assert (body["prompt"], body["zoom"], body["ar"]) == ("a red fox", 1.5, "16:9")
    with pytest.raises(BackendError) as caught:
        await client.custom_zoom(upscale.task_id, "Custom Zoom", "a red fox --zoom 3")
    assert caught.value.kind is ErrorKind.INVALID_INPUT


async def test_describe_and_blend_by_url(client: NextLegBackend, fake: FakeNextLeg) -> None:
    grid = await poll_until_done(client, (await client.imagine("a red fox")).task_id)
    assert grid.image_url is not None
    described = await poll_until_done(client, (await client.describe_url(grid.image_url)).task_id)
    assert len(parse_options(described.final_prompt or "")) == 4
    blended = await poll_until_done(
        client, (await client.blend_urls([grid.image_url, grid.image_url])).task_id
    )
    assert blended.status is JobStatus.SUCCESS and blended.image_url
    assert [r.json["urls"] for r in fake.requests if r.path == "/v2/blend"] == [[grid.image_url] * 2]
    # The service fetches the links itself: a dead one ends the job with INVALID_LINK.
    dead = await poll_until_done(
        client, (await client.describe_url(f"{fake.base_url}/images/gone.png")).task_id
    )
    assert (dead.status, dead.error_kind) == (JobStatus.FAILURE, ErrorKind.INVALID_INPUT)
    with pytest.raises(BackendError, match="square"):
        await client.blend_urls([grid.image_url] * 2, "PORTRAIT")


@pytest.mark.parametrize("answer", [{"seed": "<@123> ping"}, {"seed": ""}, {"nope": 1}, ["1"]])
async def test_a_seed_that_is_not_a_number_is_not_passed_on(answer: Any) -> None:
    with pytest.raises(BackendError) as caught:
        await mocked(ok(answer)).seed("msg-1")
    assert caught.value.kind is ErrorKind.UNAVAILABLE


async def test_a_numeric_seed_is_read_as_text() -> None:
    recorder = ok({"seed": 2861190357})
    assert await mocked(recorder).seed("msg-1") == "2861190357"
    assert (recorder.requests[0].url.path, recorder.json()) == ("/v2/seed", {"messageId": "msg-1"})


async def test_seed_and_account_info(client: NextLegBackend, fake: FakeNextLeg) -> None:
    grid = await poll_until_done(client, (await client.imagine("a red fox")).task_id)
    seed = await client.seed(grid.task_id)
    assert seed.isdigit() and seed == await client.seed(grid.task_id)
    with pytest.raises(BackendError) as caught:
        await client.seed("no-such-message")
    assert caught.value.kind is ErrorKind.NOT_FOUND
    info = await client.account_info()
    assert info["Job Mode"] == "Fast" and info["Visibility Mode"] == "Public"
    assert set(info) == set(fake.info())


async def test_webhook_push_parses(client: NextLegBackend, fake: FakeNextLeg) -> None:
    receiver = HookReceiver()
    await receiver.start()
    try:
        task_id = (await client.imagine("a cat", hook_url=receiver.url, state="mjbot:7")).task_id
        async with asyncio.timeout(5):
            (body,) = await receiver.wait_until(lambda got: len(got) == 1)
    finally:
        await receiver.stop()
    snapshot = client.parse_push(body)
    assert (snapshot.task_id, snapshot.status) == (task_id, JobStatus.SUCCESS)
    assert body["ref"] == "mjbot:7"
    # The push taught the client the buttonMessageId: pressing needs no lookup.
    await client.action(task_id, "V1")
    assert fake.count("/v2/message/", method="GET") == 0


async def test_banned_prompt_at_submit(client: NextLegBackend) -> None:
    with pytest.raises(BackendError) as caught:
        await client.imagine("a forbidden thing")
    assert caught.value.kind is ErrorKind.BANNED_PROMPT


async def test_content_failure(client: NextLegBackend, fake: FakeNextLeg) -> None:
    fake.faults.job_fails("NO_FAST_HOURS")
    snapshot = await poll_until_done(client, (await client.imagine("cat")).task_id)
    assert (snapshot.status, snapshot.error_kind) == (JobStatus.FAILURE, ErrorKind.QUOTA)


async def test_stuck_job_becomes_incomplete(client: NextLegBackend, fake: FakeNextLeg) -> None:
    fake.minute_seconds = 0.001
    fake.faults.stick_next_job()
    snapshot = await poll_until_done(client, (await client.imagine("cat")).task_id)
    assert (snapshot.status, snapshot.error_kind) == (JobStatus.FAILURE, ErrorKind.TIMEOUT)


async def test_flat_results(client: NextLegBackend, fake: FakeNextLeg) -> None:
    fake.faults.flat_results = True
    snapshot = await poll_until_done(client, (await client.imagine("cat")).task_id)
    assert snapshot.status is JobStatus.SUCCESS
    assert len(snapshot.buttons) == 9


async def test_settings(client: NextLegBackend) -> None:
    before = await client.get_settings()
    assert before.suffix == ""
    assert [t.label for t in before.toggles] == list(dict.fromkeys(SETTINGS_LABELS))
    after = await client.toggle_setting("MJ version 5")
    assert after.suffix == "--v 5"
    assert next(t.on for t in after.toggles if t.label == "MJ version 5") is True
    with pytest.raises(BackendError) as caught:
        await client.toggle_setting("Turbo mode")
    assert caught.value.kind is ErrorKind.INVALID_INPUT


async def test_pacer_keeps_under_the_rate_limit(fake: FakeNextLeg, http: httpx.AsyncClient) -> None:
    fake.faults.min_interval = 0.03
    paced = NextLegBackend(
        account(fake.base_url).model_copy(update={"options": {"min_interval": "0.08"}}), http
    )
    task_id = (await paced.imagine("cat")).task_id
    for _ in range(3):
        await paced.fetch(task_id)  # would be a 429 (QUEUE_FULL) without the pacer


async def test_wrong_token_is_auth(fake: FakeNextLeg, http: httpx.AsyncClient) -> None:
    backend = NextLegBackend(account(fake.base_url, secret="a-wrong-one"), http)
    with pytest.raises(BackendError) as caught:
        await backend.imagine("cat")
    assert caught.value.kind is ErrorKind.AUTH
    assert "a-wrong-one" not in str(caught.value)


async def test_server_error_is_unavailable(client: NextLegBackend, fake: FakeNextLeg) -> None:
    fake.faults.fail_next_submit(500)
    with pytest.raises(BackendError) as caught:
        await client.imagine("cat")
    assert caught.value.kind is ErrorKind.UNAVAILABLE
