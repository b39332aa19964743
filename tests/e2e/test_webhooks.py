"""The webhook endpoint (``POST /hooks/{job}/{secret}``) under hostile clients, over real HTTP on
loopback: odd secrets, odd bodies, clients that leave, dawdle or hoard connections."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from bot.config import Settings, WebSettings
from bot.domain import Job
from sandbox.fake_mj_proxy import FakeMjProxy
from sandbox.runner import Sandbox
from tests.e2e.conftest import FAST_JOBS, Running, is_result

#: On SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_stores

IDLE_TIMEOUT = 1.0
MAX_CONNECTIONS = 8


@pytest.fixture
async def box(make_sandbox: Callable[..., Sandbox]) -> AsyncIterator[Sandbox]:
    settings = Settings(
        jobs=FAST_JOBS, web=WebSettings(max_connections=MAX_CONNECTIONS, idle_timeout_seconds=IDLE_TIMEOUT)
    )
    sandbox = make_sandbox(settings=settings, proxy=FakeMjProxy(step_seconds=0.02))
    async with Running(sandbox):
        yield sandbox


async def _finished_job(box: Sandbox) -> Job:
    """A job the bot ran to its result (its webhook URL still answers)."""
    emu = box.emulator
    art = emu.channel("art")
    await emu.slash(emu.world.member.id, art.id, "imagine", prompt="a lighthouse")
    await emu.wait_for_message(art.id, is_result, timeout=10)
    assert box.bot is not None
    job = await box.bot.store.get_job(1)
    assert job is not None and job.backend_task_id is not None
    return job


def _hooks(box: Sandbox) -> str:
    assert box.bot is not None
    return f"{box.bot.web.public_url}/hooks"


def _address(box: Sandbox) -> tuple[str, int]:
    url = httpx.URL(_hooks(box))
    assert url.port is not None
    return url.host, url.port


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """What the server sent before it closed the connection, failing if it stays open longer."""
    return await asyncio.wait_for(reader.read(), seconds)


async def test_any_secret_gets_the_same_404_as_an_unknown_job(box: Sandbox) -> None:
    job = await _finished_job(box)
    hooks = _hooks(box)
    async with httpx.AsyncClient() as http:
        answers = [
            await http.post(f"{hooks}/{job_id}/{secret}", content=b"{}")
            for job_id in (job.id, 424242)
            for secret in ("ü-not-ascii", "%ff%fe", "x" * 200, job.hook_secret[:-1])
        ]
        right = await http.post(f"{hooks}/{job.id}/{job.hook_secret}", content=b"{}")
    assert {(a.status_code, a.content) for a in answers} == {(404, b'{"error": "unknown job"}')}
    assert right.status_code == 200


async def test_a_deeply_nested_body_is_a_clean_400_after_the_secret(box: Sandbox) -> None:
    job = await _finished_job(box)
    hooks = _hooks(box)
    deep = b"[" * 50_000 + b"]" * 50_000
    async with httpx.AsyncClient() as http:
        wrong = await http.post(f"{hooks}/{job.id}/wrong", content=deep)
        unknown = await http.post(f"{hooks}/424242/wrong", content=deep)
        right = await http.post(f"{hooks}/{job.id}/{job.hook_secret}", content=deep)
        # Brackets inside strings are text, not nesting.
        text = {"id": job.backend_task_id, "status": "SUCCESS", "failReason": "[" * 1000}
        stringy = await http.post(f"{hooks}/{job.id}/{job.hook_secret}", content=json.dumps(text).encode())
        big = await http.post(f"{hooks}/{job.id}/{job.hook_secret}", content=b" " * (300 * 1024))
    assert (wrong.status_code, unknown.status_code) == (404, 404)
    assert right.status_code == 400 and b"nested" in right.content
    assert stringy.status_code == 200
    assert big.status_code == 413


async def test_an_aborted_upload_is_one_quiet_log_line(
    box: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    job = await _finished_job(box)
    caplog.set_level(logging.DEBUG)
    for _ in range(3):
        _, writer = await asyncio.open_connection(*_address(box))
        writer.write(
            f"POST /hooks/{job.id}/{job.hook_secret} HTTP/1.1\r\nHost: x\r\n"
            'Content-Type: application/json\r\nContent-Length: 10000\r\n\r\n{"id": '.encode()
        )
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.close()
    await asyncio.sleep(0.5)
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert loud == []
    quiet = [r for r in caplog.records if r.name == "bot.web" and "left before its body" in r.getMessage()]
    assert len(quiet) == 3
    assert job.hook_secret not in caplog.text


async def test_a_client_sending_its_headers_slowly_is_dropped(box: Sandbox) -> None:
    job = await _finished_job(box)
    reader, writer = await asyncio.open_connection(*_address(box))
    started = time.monotonic()
    writer.write(f"POST /hooks/{job.id}/{job.hook_secret} HTTP/1.1\r\n".encode())

    async def dribble() -> None:
        for n in range(40):  # a header byte every 0.2 s, for at most 8 s
            writer.write(b"X-Slow: %d\r\n" % n)
            await writer.drain()
            await asyncio.sleep(0.2)

    trickle = asyncio.create_task(dribble())
    try:
        await _closed_within(reader, IDLE_TIMEOUT + 2)
    finally:
        trickle.cancel()
        writer.close()
    assert time.monotonic() - started < IDLE_TIMEOUT + 2


async def test_a_slow_body_gets_a_408(box: Sandbox) -> None:
    job = await _finished_job(box)
    reader, writer = await asyncio.open_connection(*_address(box))
    writer.write(
        f"POST /hooks/{job.id}/{job.hook_secret} HTTP/1.1\r\nHost: x\r\n"
        "Content-Length: 100\r\n\r\n{".encode()
    )
    try:
        answer = await asyncio.wait_for(reader.readline(), IDLE_TIMEOUT + 2)
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408")


async def test_idle_connections_are_capped_and_closed_and_a_push_still_gets_through(box: Sandbox) -> None:
    job = await _finished_job(box)
    opened = [await asyncio.open_connection(*_address(box)) for _ in range(3 * MAX_CONNECTIONS)]
    try:
        started = time.monotonic()
        # The connections over the cap are answered 503 and closed at once...
        refused = await asyncio.gather(*(_closed_within(r, 0.5) for r, _ in opened[MAX_CONNECTIONS:]))
        assert all(answer.startswith(b"HTTP/1.1 503") for answer in refused)
        # ...and the ones under it once they have been idle for the timeout.
        await asyncio.gather(*(_closed_within(r, IDLE_TIMEOUT + 2) for r, _ in opened[:MAX_CONNECTIONS]))
        assert time.monotonic() - started < IDLE_TIMEOUT + 2
    finally:
        for _, writer in opened:
            writer.close()
    body = {"id": job.backend_task_id, "status": "SUCCESS", "progress": "100%"}
    async with httpx.AsyncClient() as http:
        push = await http.post(f"{_hooks(box)}/{job.id}/{job.hook_secret}", json=body)
    assert push.status_code == 200
