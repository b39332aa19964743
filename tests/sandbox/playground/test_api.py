"""The playground's JSON API and event stream, without a browser: these always run."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from sandbox.discord import DiscordEmulator
from tests.sandbox.playground.conftest import FEEDBACK_MODAL, Running, bot_opens_modal

JSON = dict[str, Any]


async def _events(response: httpx.Response) -> AsyncIterator[tuple[str, JSON]]:
    """Parse a text/event-stream into (event name, data) pairs."""
    name, data = "", ""
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
        elif line == "" and name:
            yield name, json.loads(data)
            name, data = "", ""


async def _until(events: AsyncIterator[tuple[str, JSON]], match: Callable[[str, JSON], bool]) -> JSON:
    async with asyncio.timeout(15):
        async for name, data in events:
            if match(name, data):
                return data
    raise AssertionError("the stream ended")


def _is_result(message: JSON) -> bool:
    return bool(message["attachments"]) and bool(message["components"])


def _ids(emu: DiscordEmulator) -> tuple[str, str, str]:
    return str(emu.channel("art").id), str(emu.world.member.id), str(emu.world.admin.id)


async def test_state_lists_world_and_registered_commands(running: Running) -> None:
    async with httpx.AsyncClient(base_url=running.playground.url) as client:
        state = (await client.get("/api/state")).json()
        page = await client.get("/")
        script = await client.get("/static/app.js")
    channels = {c["name"]: c for c in state["world"]["channels"]}
    assert list(channels) == ["general", "art", "after-dark"]
    assert channels["after-dark"]["nsfw"] is True
    roles = {u["username"]: u["admin"] for u in state["world"]["users"] if not u["bot"]}
    assert roles == {"alice": True, "bob": False}
    imagine = next(c for c in state["commands"] if c["name"] == "imagine")
    assert [o["name"] for o in imagine["options"]] == ["prompt", "image1", "image2"]
    assert state["backend"]["speeds"] == ["fast", "normal", "slow"]
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert script.status_code == 200 and "EventSource" in script.text


async def test_slash_through_the_api_streams_the_job_to_its_user(running: Running) -> None:
    emu = running.emu
    art, bob, alice = _ids(emu)
    async with (
        httpx.AsyncClient(base_url=running.playground.url, timeout=20) as client,
        client.stream("GET", "/events", params={"viewer": bob}) as stream,
    ):
        events = _events(stream)
        await _until(events, lambda name, _: name == "ready")
        slash = {"user_id": bob, "channel_id": art, "name": "imagine", "options": {"prompt": "a lighthouse"}}
        answer = await client.post("/api/slash", json=slash)
        assert answer.status_code == 200 and "error" not in answer.json(), answer.text
        grid = await _until(events, lambda name, m: name == "upsert" and _is_result(m))
        assert grid["content"].startswith("**a lighthouse**")
        # The job's message is the command's public response: everyone in the channel sees it.
        assert grid["interaction_metadata"]["name"] == "imagine" and not grid["flags"] & 64
        for viewer in (bob, alice):
            listed = (await client.get(f"/api/channels/{art}/messages", params={"viewer": viewer})).json()
            assert any(m["id"] == grid["id"] for m in listed)
    assert emu.violations == []


async def test_refusals_come_back_as_errors(running: Running) -> None:
    art, bob, _ = _ids(running.emu)
    async with httpx.AsyncClient(base_url=running.playground.url) as client:
        unknown = await client.post("/api/slash", json={"user_id": bob, "channel_id": art, "name": "nope"})
        missing = await client.post("/api/slash", json={"user_id": bob, "channel_id": art, "name": "imagine"})
        bad_id = await client.post("/api/click", json={"user_id": "bob", "message_id": 1, "custom_id": "x"})
    assert unknown.status_code == 400 and "no slash command /nope" in unknown.json()["error"]
    assert missing.status_code == 400 and "'prompt' is missing" in missing.json()["error"]
    assert bad_id.status_code == 400 and "user_id" in bad_id.json()["error"]


async def test_switching_languages_changes_what_the_bot_answers(running: Running) -> None:
    emu = running.emu
    art, bob, _ = _ids(emu)
    refused = {"user_id": bob, "channel_id": art, "name": "imagine", "options": {"prompt": "a\x07cat"}}
    async with httpx.AsyncClient(base_url=running.playground.url, timeout=20) as client:
        chosen = (await client.post("/api/locale", json={"user_id": bob, "locale": "zh-CN"})).json()
        server = (await client.post("/api/locale", json={"guild": True, "locale": "ja"})).json()
        unknown = await client.post("/api/locale", json={"user_id": bob, "locale": "klingon"})
        answer = (await client.post("/api/slash", json=refused)).json()
    assert next(u["locale"] for u in chosen["world"]["users"] if u["id"] == bob) == "zh-CN"
    assert server["world"]["guild"]["locale"] == "ja" and "zh-CN" in server["world"]["locales"]
    assert unknown.status_code == 400
    inter = emu.store.interactions[int(answer["interaction_id"])]
    reply = await emu.wait_for(lambda: next((m for m in inter.ephemeral if m.content), None), timeout=10)
    assert reply.content == "提示词包含控制字符。请以纯文本输入。"


async def test_backend_controls_set_speed_and_arm_faults(running: Running) -> None:
    proxy = running.sandbox.proxy
    async with httpx.AsyncClient(base_url=running.playground.url) as client:
        slow = (await client.post("/api/backend", json={"speed": "slow", "drop_hooks": True})).json()
        await client.post("/api/backend", json={"fault": "banned_word"})
        refused = await client.post(f"{proxy.base_url}/mj/submit/imagine", json={"prompt": "a cat"})
        unknown = await client.post("/api/backend", json={"fault": "gremlins"})
    assert slow["backend"]["speed"] == "slow" and proxy.step_seconds == 4.0
    assert proxy.faults.drop_hooks and len(slow["notes"]) == 2
    assert refused.json()["code"] == 24
    assert unknown.status_code == 400


async def test_a_modal_reaches_only_its_user_and_submits_as_a_modal_interaction(running: Running) -> None:
    emu = running.emu
    art, bob, _ = _ids(emu)
    async with (
        httpx.AsyncClient(base_url=running.playground.url, timeout=20) as client,
        client.stream("GET", "/events", params={"viewer": bob}) as stream,
    ):
        events = _events(stream)
        await _until(events, lambda name, _: name == "ready")
        opener = await bot_opens_modal(emu, int(bob), int(art))
        shown = await _until(events, lambda name, _: name == "modal")
        assert shown == {"interaction_id": str(opener.id), "modal": FEEDBACK_MODAL}
        submit = {"interaction_id": str(opener.id), "custom_id": "feedback", "values": {"comment": "lovely"}}
        not_theirs = await client.post("/api/modal", json={**submit, "user_id": str(emu.world.admin.id)})
        answer = await client.post("/api/modal", json={**submit, "user_id": bob})
    assert not_theirs.status_code == 400
    # Nothing in the bot handles this modal yet, so the page is told that it did not respond.
    assert "did not respond" in answer.json()["error"]
    submitted = emu.store.interactions[int(answer.json()["interaction_id"])]
    assert submitted.type == 5 and submitted.parent is opener
    assert submitted.data["components"][0]["components"][0]["value"] == "lovely"
