"""UseApiBackend: the wire mapping (httpx.MockTransport) and the client against the fake API."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from bot.backends.base import Backend
from bot.backends.useapi import UseApiBackend
from bot.domain import Account, BackendError, BackendKind, ErrorKind, JobKind, JobStatus, TaskSnapshot
from sandbox import images
from sandbox.fake_useapi import FakeAccount, FakeUseApi
from tests.backends.hook_receiver import HookReceiver
from tests.backends.support import png_size, poll_until_done

SECRET = "useapi-s3cret"
CHANNEL = "1100000000000000001"
JOBID = "j0001abc-u1-c1100000000000000001-bot:midjourney"


def account(
    base_url: str = "https://api.useapi.test",
    *,
    secret: str = SECRET,
    max_jobs: int = 3,
    channel: str | None = None,
    server: str | None = None,
    discord: str | None = None,
) -> Account:
    options = {"channel": channel, "server": server, "discord": discord}
    return Account(
        id=1,
        guild_id=2,
        name="useapi",
        kind=BackendKind.USEAPI,
        base_url=base_url,
        secret=secret,
        max_jobs=max_jobs,
        options={key: value for key, value in options.items() if value is not None},
    )


Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    def __init__(self, response: httpx.Response) -> None:
        self.requests: list[httpx.Request] = []
        self._response = response

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self._response

    def json(self) -> Any:
        return json.loads(self.requests[-1].content)


def mocked(handler: Handler, *, channel: str | None = None, server: str | None = None) -> UseApiBackend:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return UseApiBackend(account(channel=channel, server=server), client)


def job(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "jobid": JOBID,
        "verb": "imagine",
        "status": "completed",
        "created": "2023-09-09T02:04:49.667Z",
        "updated": "2023-09-09T02:19:20.256Z",
        "prompt": "Steampunk cat",
        "discord": "<ABC…secured…xyz>",
        "server": "1200000000000000001",
        "channel": CHANNEL,
        "maxJobs": 3,
        "replyUrl": "https://bot/hook",
        "replyRef": "mjbot:7",
        "messageId": "1300000000000000001",
        "content": "**Steampunk cat** - <@1> (fast)",
        "buttons": ["U1", "U2", "U3", "U4", "🔄", "V1", "V2", "V3", "V4"],
        "children": [],
        "attachments": [{"id": "1", "filename": "cat.png", "content_type": "image/png",
                         "url": "https://cdn.test/cat.png?ex=1", "proxy_url": "x", "size": 1,
                         "width": 2048, "height": 2048}],
        "embeds": [],
        "code": 200,
    }  # fmt: skip
    return body | overrides


def answer(body: Any, status: int = 200) -> Recorder:
    return Recorder(httpx.Response(status, json=body))


# --------------------------------------------------------------------------------------------
# Requests as sent
# --------------------------------------------------------------------------------------------


async def test_backend_satisfies_protocol() -> None:
    backend: Backend = mocked(answer(job(status="started")))
    assert (await backend.imagine("cat")).task_id == JOBID


async def test_imagine_unpinned() -> None:
    recorder = answer(job(status="started"))
    await mocked(recorder).imagine("a cat", hook_url="http://bot/hook", state="mjbot:1")
    request = recorder.requests[0]
    assert (request.method, str(request.url)) == ("POST", "https://api.useapi.test/v2/jobs/imagine")
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert recorder.json() == {"prompt": "a cat", "replyUrl": "http://bot/hook", "replyRef": "mjbot:1"}


async def test_imagine_pinned_sends_channel_server_and_max_jobs() -> None:
    recorder = answer(job(status="started"))
    await mocked(recorder, channel=CHANNEL, server="1200").imagine("a cat")
    assert recorder.json() == {"prompt": "a cat", "channel": CHANNEL, "server": "1200", "maxJobs": 3}


async def test_button_blend_describe_and_fetch_requests() -> None:
    recorder = answer(job(status="started"))
    backend = mocked(recorder, channel=CHANNEL)
    await backend.action(JOBID, "U2", hook_url="http://bot/hook", state="mjbot:2")
    assert recorder.json() == {
        "jobid": JOBID, "button": "U2", "maxJobs": 3, "replyUrl": "http://bot/hook", "replyRef": "mjbot:2"
    }  # fmt: skip
    await backend.blend_urls(["https://x/1.png", "https://x/2.png"], "PORTRAIT")
    assert recorder.json() == {
        "blendUrls": ["https://x/1.png", "https://x/2.png"], "blendDimensions": "Portrait",
        "channel": CHANNEL, "maxJobs": 3,
    }  # fmt: skip
    await backend.describe_url("https://x/1.png")
    assert recorder.json() == {"describeUrl": "https://x/1.png", "channel": CHANNEL, "maxJobs": 3}
    await backend.fetch(JOBID)
    fetch = recorder.requests[-1]
    assert (fetch.method, fetch.url.path, fetch.url.params["jobid"]) == ("GET", "/v2/jobs/", JOBID)
    assert [r.url.path for r in recorder.requests[:3]] == [
        "/v2/jobs/button",
        "/v2/jobs/blend",
        "/v2/jobs/describe",
    ]


async def test_refusals_before_sending() -> None:
    recorder = answer(job())
    backend = mocked(recorder)
    with pytest.raises(BackendError) as uploads:
        await backend.imagine("cat", [b"\x89PNG"])
    with pytest.raises(BackendError) as blend:
        await backend.blend_urls(["https://x/1.png"])
    assert uploads.value.kind is blend.value.kind is ErrorKind.INVALID_INPUT
    assert recorder.requests == []


def test_an_old_row_with_a_discord_token_in_options_still_makes_a_client() -> None:
    # /setup refuses such options now (bot.backends.check_options); a row stored before must
    # not crash every dispatch to its account.
    backend = UseApiBackend(account(discord="a-discord-token", channel="42"), httpx.AsyncClient(verify=False))
    assert backend.channel == "42"


# --------------------------------------------------------------------------------------------
# HTTP codes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (429, {"error": "busy", "executingJobs": ["j1", "j2", "j3"], "code": 429}, ErrorKind.QUEUE_FULL),
        (429, {"error": "Discord 429", "code": 429}, ErrorKind.QUEUE_FULL),
        (596, {"error": "Pending moderation message", "code": 596}, ErrorKind.MODERATION),
        (401, {"error": "Unauthorized", "code": 401}, ErrorKind.AUTH),
        (403, {"error": "Forbidden", "code": 403}, ErrorKind.AUTH),
        (402, {"error": "Account has no subscription", "code": 402}, ErrorKind.QUOTA),
        (409, {"error": "Button U1 already executed", "button": "U1", "jobid": "j9", "code": 409},
         ErrorKind.INVALID_INPUT),
        (422, {"error": "Message not found", "jobid": "j9", "status": "moderated", "code": 422},
         ErrorKind.BANNED_PROMPT),
        (422, {"error": "Banned prompt detected", "code": 422}, ErrorKind.BANNED_PROMPT),
        (422, {"error": "Unprocessable", "code": 422}, ErrorKind.INVALID_INPUT),
        (400, {"error": "Button X not supported", "code": 400}, ErrorKind.INVALID_INPUT),
        (412, {"error": "Missing prompt", "code": 412}, ErrorKind.INVALID_INPUT),
        (404, {"error": "Job not found", "code": 404}, ErrorKind.NOT_FOUND),
        (504, {"error": "Query overflow", "code": 504}, ErrorKind.UNAVAILABLE),
        (500, None, ErrorKind.UNAVAILABLE),
        (502, None, ErrorKind.UNAVAILABLE),
    ],
)  # fmt: skip
async def test_http_codes_map_to_kinds(status: int, body: Any, kind: ErrorKind) -> None:
    response = (
        httpx.Response(status, json=body) if body is not None else httpx.Response(status, text="<html/>")
    )
    with pytest.raises(BackendError) as caught:
        await mocked(lambda request: response).action(JOBID, "U1")
    assert caught.value.kind is kind
    if body is not None and status not in (401, 403):
        assert body["error"] in caught.value.detail


async def test_busy_detail_tells_slots_from_throttling() -> None:
    async def detail(body: dict[str, Any]) -> str:
        with pytest.raises(BackendError) as caught:
            await mocked(answer(body, 429)).imagine("cat")
        return caught.value.detail

    assert "slots are busy (2 running)" in await detail({"error": "busy", "executingJobs": ["a", "b"]})
    assert "rate-limiting" in await detail({"error": "Too many requests"})


@pytest.mark.parametrize("error", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow")])
async def test_transport_errors_are_unavailable_and_secret_free(error: Exception) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error

    backend = UseApiBackend(
        account(base_url=f"http://user:{SECRET}@useapi.test"),
        httpx.AsyncClient(transport=httpx.MockTransport(fail)),
    )
    with pytest.raises(BackendError) as caught:
        await backend.imagine("cat")
    assert caught.value.kind is ErrorKind.UNAVAILABLE
    assert SECRET not in str(caught.value)


async def test_echoed_secret_is_scrubbed() -> None:
    with pytest.raises(BackendError) as caught:
        await mocked(answer({"error": f"token {SECRET} invalid", "code": 400}, 400)).imagine("cat")
    assert SECRET not in str(caught.value)


async def test_fetch_unknown_is_none_and_garbage_is_unavailable() -> None:
    assert await mocked(answer({"error": "Job not found", "code": 404}, 404)).fetch(JOBID) is None
    with pytest.raises(BackendError) as caught:
        await mocked(lambda request: httpx.Response(200, text="<html/>")).fetch(JOBID)
    assert caught.value.kind is ErrorKind.UNAVAILABLE


# --------------------------------------------------------------------------------------------
# Job → TaskSnapshot
# --------------------------------------------------------------------------------------------


def parse(**overrides: Any) -> TaskSnapshot:
    return mocked(answer(None)).parse_push(job(**overrides))


def test_completed_job() -> None:
    snapshot = parse()
    assert (snapshot.task_id, snapshot.status, snapshot.progress) == (JOBID, JobStatus.SUCCESS, 100)
    assert snapshot.image_url == "https://cdn.test/cat.png?ex=1"
    assert [b.custom_id for b in snapshot.buttons] == ["U1", "U2", "U3", "U4", "🔄", "V1", "V2", "V3", "V4"]
    assert snapshot.buttons[4].kind is JobKind.REROLL
    assert (snapshot.prompt, snapshot.final_prompt) == ("Steampunk cat", None)


@pytest.mark.parametrize(
    ("status", "content", "expected", "progress"),
    [
        ("created", "", JobStatus.SUBMITTED, None),
        ("started", "**cat** - <@1> (Waiting to start)", JobStatus.SUBMITTED, None),
        ("progress", "**cat** - <@1> (37%) (fast)", JobStatus.IN_PROGRESS, 37),
        ("cancelled", "", JobStatus.CANCELLED, None),
    ],
)
def test_statuses_and_progress(status: str, content: str, expected: JobStatus, progress: int | None) -> None:
    snapshot = parse(status=status, content=content, buttons=[])
    assert (snapshot.status, snapshot.progress, snapshot.buttons) == (expected, progress, [])


@pytest.mark.parametrize(
    ("status", "error", "kind"),
    [
        ("moderated", "Message not found", ErrorKind.BANNED_PROMPT),
        ("failed", "Banned prompt detected", ErrorKind.BANNED_PROMPT),
        ("failed", "Action needed to continue (CAPTCHA)", ErrorKind.MODERATION),
        ("failed", "Job timed out", ErrorKind.TIMEOUT),
        ("failed", "You have run out of fast hours", ErrorKind.QUOTA),
        ("failed", "Invalid parameter --ar", None),
    ],
)
def test_failures(status: str, error: str, kind: ErrorKind | None) -> None:
    snapshot = parse(status=status, error=error, errorDetails="details", attachments=[], buttons=[])
    assert (snapshot.status, snapshot.error_kind) == (JobStatus.FAILURE, kind)
    assert snapshot.fail_reason == f"{error} details"


def test_describe_result_is_the_final_prompt() -> None:
    snapshot = parse(verb="describe", content="1️⃣ one\n\n2️⃣ two", attachments=None, buttons=None)
    assert (snapshot.final_prompt, snapshot.image_url) == ("1️⃣ one\n\n2️⃣ two", None)


def test_duplicate_replies_parse_identically() -> None:
    backend = mocked(answer(None))
    assert backend.parse_push(job()) == backend.parse_push(job())


@pytest.mark.parametrize("body", [{"status": "completed"}, job(status="exploded"), "nope", None])
def test_malformed_push_is_invalid_input(body: Any) -> None:
    with pytest.raises(BackendError) as caught:
        mocked(answer(None)).parse_push(body)
    assert caught.value.kind is ErrorKind.INVALID_INPUT


# --------------------------------------------------------------------------------------------
# Accounts
# --------------------------------------------------------------------------------------------


async def test_list_accounts_keeps_the_discord_token_secret() -> None:
    body = {
        "Discord channel A": {"channel": "Discord channel A", "discord": "Discord token A", "server": "S A",
                              "maxJobs": 3},
        "Discord channel B": {"discord": "Discord token B", "server": "S B", "maxJobs": 15,
                              "pendingModMessage": "Action needed"},
    }  # fmt: skip
    recorder = answer(body)
    accounts = await mocked(recorder).list_accounts()
    assert recorder.requests[0].url.path == "/v2/account/midjourney"
    a, b = accounts["Discord channel A"], accounts["Discord channel B"]
    assert (a.channel, a.server, a.max_jobs, a.needs_attention) == ("Discord channel A", "S A", 3, False)
    assert a.discord.get_secret_value() == "Discord token A"
    assert "Discord token A" not in repr(a)
    assert (b.channel, b.max_jobs, b.pending_mod_message, b.needs_attention) == (
        "Discord channel B",
        15,
        "Action needed",
        True,
    )


async def test_no_accounts_and_get_account() -> None:
    assert await mocked(answer({"error": "Configuration not found", "code": 404}, 404)).list_accounts() == {}
    pinned = mocked(
        answer({CHANNEL: {"channel": CHANNEL, "discord": "d", "server": "s", "maxJobs": 2}}), channel=CHANNEL
    )
    found = await pinned.get_account()
    assert found is not None
    assert found.max_jobs == 2
    assert await pinned.get_account("other") is None
    with pytest.raises(ValueError, match="no channel"):
        await mocked(answer({})).get_account()


@pytest.mark.parametrize("body", [["not", "a", "map"], {"x": "not an account"}])
async def test_unreadable_account_list(body: Any) -> None:
    with pytest.raises(BackendError) as caught:
        await mocked(answer(body)).list_accounts()
    assert caught.value.kind is ErrorKind.UNAVAILABLE


# --------------------------------------------------------------------------------------------
# Against the fake over loopback
# --------------------------------------------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeUseApi]:
    server = FakeUseApi(secret=SECRET, step_seconds=0.01)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def client(fake: FakeUseApi, http: httpx.AsyncClient) -> UseApiBackend:
    return UseApiBackend(account(fake.base_url, channel=CHANNEL), http)


async def test_imagine_then_upscale(client: UseApiBackend, http: httpx.AsyncClient) -> None:
    grid = await poll_until_done(client, (await client.imagine("a red fox in snow")).task_id)
    assert (grid.status, grid.progress) == (JobStatus.SUCCESS, 100)
    assert len(grid.buttons) == 9
    assert grid.image_url is not None
    assert png_size((await http.get(grid.image_url)).content) == (512, 512)

    upscale = await poll_until_done(client, (await client.action(grid.task_id, "U3")).task_id)
    assert upscale.image_url is not None
    assert png_size((await http.get(upscale.image_url)).content) == (256, 256)
    with pytest.raises(BackendError) as caught:
        await client.action(grid.task_id, "U3")
    assert caught.value.kind is ErrorKind.INVALID_INPUT


async def test_blend_and_describe(client: UseApiBackend) -> None:
    blend = await poll_until_done(
        client, (await client.blend_urls(["https://x/1.png", "https://x/2.png"])).task_id
    )
    assert (blend.status, len(blend.buttons)) == (JobStatus.SUCCESS, 9)
    described = await poll_until_done(client, (await client.describe_url("https://x/1.png")).task_id)
    assert described.final_prompt is not None
    assert described.final_prompt.startswith("1️⃣")


async def test_replies_with_duplicates_parse(client: UseApiBackend, fake: FakeUseApi) -> None:
    fake.faults.duplicate_hooks = True
    receiver = HookReceiver()
    await receiver.start()
    try:
        task_id = (await client.imagine("a cat", hook_url=receiver.url, state="mjbot:7")).task_id
        async with asyncio.timeout(5):
            bodies = await receiver.wait_until(lambda got: sum(b["status"] == "completed" for b in got) == 2)
    finally:
        await receiver.stop()
    snapshots = [client.parse_push(body) for body in bodies]
    assert {s.task_id for s in snapshots} == {task_id}
    assert [s.status for s in snapshots] == [
        *[JobStatus.SUBMITTED] * 2, *[JobStatus.IN_PROGRESS] * 6, *[JobStatus.SUCCESS] * 2
    ]  # fmt: skip
    assert [s.progress for s in snapshots if s.status is JobStatus.IN_PROGRESS] == [25, 25, 50, 50, 75, 75]
    assert all(b["replyRef"] == "mjbot:7" for b in bodies)


async def test_busy_account_is_queue_full(fake: FakeUseApi, http: httpx.AsyncClient) -> None:
    backend = UseApiBackend(account(fake.base_url, max_jobs=1, channel=CHANNEL), http)
    fake.faults.stick_next_job()
    await backend.imagine("one")
    with pytest.raises(BackendError) as caught:
        await backend.imagine("two")
    assert caught.value.kind is ErrorKind.QUEUE_FULL
    assert "1 running" in caught.value.detail


async def test_moderation_hold_and_accounts(client: UseApiBackend, fake: FakeUseApi) -> None:
    fake.hold_for_moderation(CHANNEL, "Pending mod message")
    with pytest.raises(BackendError) as caught:
        await client.imagine("cat")
    assert caught.value.kind is ErrorKind.MODERATION
    held = await client.get_account()
    assert held is not None
    assert held.needs_attention
    assert held.discord.get_secret_value() == "discord-token-a"


async def test_banned_prompt_is_422(client: UseApiBackend) -> None:
    with pytest.raises(BackendError) as caught:
        await client.imagine("a forbidden thing")
    assert caught.value.kind is ErrorKind.BANNED_PROMPT


async def test_failed_job(client: UseApiBackend, fake: FakeUseApi) -> None:
    fake.faults.job_fails("Job timed out")
    snapshot = await poll_until_done(client, (await client.imagine("cat")).task_id)
    assert (snapshot.status, snapshot.error_kind) == (JobStatus.FAILURE, ErrorKind.TIMEOUT)


@pytest.mark.parametrize(("status", "kind"), [(402, ErrorKind.QUOTA), (504, ErrorKind.UNAVAILABLE)])
async def test_injected_codes(client: UseApiBackend, fake: FakeUseApi, status: int, kind: ErrorKind) -> None:
    fake.faults.fail_next_submit(status)
    with pytest.raises(BackendError) as caught:
        await client.imagine("cat")
    assert caught.value.kind is kind


async def test_unknown_job_and_wrong_token(
    client: UseApiBackend, fake: FakeUseApi, http: httpx.AsyncClient
) -> None:
    assert await client.fetch("j-nope") is None
    with pytest.raises(BackendError) as caught:
        await client.action("j-nope", "U1")
    assert caught.value.kind is ErrorKind.NOT_FOUND
    wrong = UseApiBackend(account(fake.base_url, secret="a-wrong-one"), http)
    with pytest.raises(BackendError) as auth:
        await wrong.list_accounts()
    assert auth.value.kind is ErrorKind.AUTH


async def test_unpinned_jobs_spread_over_free_accounts(http: httpx.AsyncClient) -> None:
    accounts = [FakeAccount(channel=c, discord=f"d{c}", server="s", max_jobs=1) for c in ("c1", "c2")]
    server = FakeUseApi(secret=SECRET, accounts=accounts, step_seconds=0.01)
    await server.start()
    try:
        backend = UseApiBackend(account(server.base_url), http)
        server.faults.stick_next_job()
        server.faults.stick_next_job()
        first = (await backend.imagine("one")).task_id
        second = (await backend.imagine("two")).task_id
        assert {server.job_json(first)["channel"], server.job_json(second)["channel"]} == {"c1", "c2"}
        with pytest.raises(BackendError) as caught:
            await backend.imagine("three")
        assert caught.value.kind is ErrorKind.QUEUE_FULL
    finally:
        await server.stop()


# --------------------------------------------------------------------------------------------
# Buttons with input, cancel, seed, /info, the account list
# --------------------------------------------------------------------------------------------


async def test_a_prompt_over_2048_characters_is_refused_before_sending() -> None:
    recorder = answer(job(status="started"))
    backend = mocked(recorder)
    await backend.imagine("x" * 2048)
    for call in (backend.imagine("x" * 2049), backend.remix(JOBID, "V1", "y" * 2049)):
        with pytest.raises(BackendError) as caught:
            await call
        assert caught.value.kind is ErrorKind.INVALID_INPUT
        assert "at most 2048 characters" in caught.value.detail
    assert len(recorder.requests) == 1


async def _upscale(client: UseApiBackend) -> TaskSnapshot:
    grid = await poll_until_done(client, (await client.imagine("a red fox in snow")).task_id)
    return await poll_until_done(client, (await client.action(grid.task_id, "U1")).task_id)


async def test_custom_zoom_and_vary_region_send_their_prompt_and_mask(
    client: UseApiBackend, fake: FakeUseApi
) -> None:
    upscale = await _upscale(client)
    labels = [b.custom_id for b in upscale.buttons]
    assert {"Custom Zoom", "Vary (Region)"} <= set(labels)
    with pytest.raises(BackendError) as no_prompt:  # what the fake says without a prompt
        await client.action(upscale.task_id, "Custom Zoom")
    assert "requires param prompt" in no_prompt.value.detail
    zoomed = await client.custom_zoom(upscale.task_id, "Custom Zoom", "a red fox --ar 1:1 --zoom 1.8")
    assert (await poll_until_done(client, zoomed.task_id)).status is JobStatus.SUCCESS
    assert fake.job_json(zoomed.task_id)["prompt"] == "a red fox --ar 1:1 --zoom 1.8"
    mask = images.render_grid("mask", "0")
    region = await client.vary_region(upscale.task_id, "Vary (Region)", mask, "a blue fox")
    assert (await poll_until_done(client, region.task_id)).status is JobStatus.SUCCESS
    [sent] = [r.json for r in fake.requests if r.json and r.json.get("button") == "Vary (Region)"]
    assert base64.b64decode(sent["mask"]) == mask
    assert sent["prompt"] == "a blue fox"


async def test_cancel_stops_the_job_at_the_service_and_frees_its_slot(
    fake: FakeUseApi, http: httpx.AsyncClient
) -> None:
    backend = UseApiBackend(account(fake.base_url, max_jobs=1, channel=CHANNEL), http)
    fake.faults.stick_next_job()
    stuck = (await backend.imagine("one")).task_id
    await backend.cancel(stuck)
    assert fake.executing(CHANNEL) == []
    snapshot = await backend.fetch(stuck)
    assert snapshot is not None and snapshot.status is JobStatus.CANCELLED
    await backend.imagine("two")  # the slot is free again
    with pytest.raises(BackendError) as again:
        await backend.cancel(stuck)
    assert again.value.kind is ErrorKind.INVALID_INPUT


async def test_seed_info_and_service_accounts(client: UseApiBackend, fake: FakeUseApi) -> None:
    grid = await poll_until_done(client, (await client.imagine("a red fox")).task_id)
    seed = await client.seed(grid.task_id)
    [seed_job] = [j for j in fake.requests if j.path == "/v2/jobs/seed_async"]
    assert seed_job.json == {"jobid": grid.task_id, "maxJobs": 3}
    assert seed.isdigit()
    info = await client.account_info()
    assert info["Subscription"] == "Pro (Active monthly)"
    assert info["Fast Time Remaining"].startswith("14.5/30.0 hours")
    fake.hold_for_moderation(CHANNEL, "Please solve the CAPTCHA")
    [held] = await client.service_accounts()
    assert (held.name, held.max_jobs, held.hold) == (CHANNEL, 3, "Please solve the CAPTCHA")
    await client.reset_service_account(CHANNEL)
    [cleared] = await client.service_accounts()
    assert cleared.hold is None
    with pytest.raises(BackendError):
        await client.reset_service_account("../jobs")


async def test_a_seed_asked_again_waits_for_the_same_seed_job(
    client: UseApiBackend, fake: FakeUseApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    grid = await poll_until_done(client, (await client.imagine("a red fox")).task_id)
    monkeypatch.setattr("bot.backends.useapi.client.SEED_SECONDS", 0.5)
    fake.faults.stick_next_job()  # the seed job never ends
    for _ in range(2):
        with pytest.raises(BackendError) as caught:
            await client.seed(grid.task_id)
        assert caught.value.kind is ErrorKind.TIMEOUT
    assert fake.count("/v2/jobs/seed_async") == 1
