"""SIGTERM: the bot refuses new work, writes what it can and exits 0 within 10 s; a job still at
the backend finishes after the next start. The bot logs JSON lines here (``[log] format``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path

import discord.gateway
import discord.http
import httpx

from bot.config import JobSettings, LogSettings, Settings
from bot.discord_side.app import RESTARTING
from sandbox.fake_mj_proxy import FakeMjProxy
from sandbox.runner import Sandbox
from tests.e2e.conftest import is_result
from tests.reliability.harness import PROXY_SECRET, BotProcess, until


def _web_address(log_path: Path) -> str:
    """host:port of the bot's web server, from its (JSON) log."""
    for line in log_path.read_text().splitlines():
        message = json.loads(line)["message"]
        if message.startswith("web server listening on "):
            return message.removeprefix("web server listening on ")
    raise AssertionError("the bot did not log its web address")


async def _readiness_until_closed(address: str) -> list[tuple[int, list[str]]]:
    """Every answer of ``/readyz``, asked every 20 ms until the web server stops answering."""
    answers = []
    async with httpx.AsyncClient(timeout=2) as http:
        while True:
            try:
                ready = await http.get(f"http://{address}/readyz")
            except httpx.TransportError:
                return answers
            answers.append((ready.status_code, ready.json().get("reasons", [])))
            await asyncio.sleep(0.02)


async def test_sigterm_mid_job_exits_cleanly_and_the_job_finishes_after_restart(tmp_path: Path) -> None:
    saved = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    proxy = FakeMjProxy(secret=PROXY_SECRET, step_seconds=1.0, progress_steps=3)
    jobs = JobSettings(timeout_seconds=60, poll_interval_seconds=0.3, progress_edit_seconds=0.2)
    settings = Settings(jobs=jobs, log=LogSettings(format="json"))
    box = Sandbox(settings, store_path=tmp_path / "mjbot.sqlite3", proxy=proxy)
    await box.emulator.start()
    await proxy.start()
    log_path = tmp_path / "bot.log"
    bot = BotProcess(box, log_path)
    emu = box.emulator
    art, bob = emu.channel("art"), emu.world.member
    try:
        await bot.start()
        await emu.slash(bob.id, art.id, "imagine", prompt="a tower through a restart")
        # The backend runs the task and has pushed to the bot: the task id is stored.
        await until(lambda: any(d.delivered for d in proxy.hook_deliveries), timeout=10)

        started = time.monotonic()
        readiness = asyncio.create_task(_readiness_until_closed(_web_address(log_path)))
        stopping = asyncio.create_task(bot.terminate())
        await asyncio.sleep(0.2)
        # Each in their own language: Bob's client is Japanese, Alice's English.
        bob.locale = "ja"
        late = await emu.slash(bob.id, art.id, "imagine", prompt="too late")
        late_en = await emu.slash(emu.world.admin.id, art.id, "imagine", prompt="too late too")
        code = await stopping
        # Between the signal and the close, readiness said so (asked until the server closed).
        assert (503, ["the bot is shutting down"]) in await readiness
        assert code == 0
        assert time.monotonic() - started < 10
        assert [m.content for m in late.ephemeral] == [
            "ボットは再起動中です。1 分ほどしてからもう一度お試しください。"
        ]
        assert [m.content for m in late_en.ephemeral] == [RESTARTING]
        assert not any(is_result(m) for m in emu.messages(art.id))
        assert proxy.count("/mj/submit/imagine") == 1  # the late commands started nothing

        await bot.start()
        result = await emu.wait_for_message(art.id, is_result, timeout=20)
        assert result.content.startswith("**a tower through a restart**")
        assert proxy.count("/mj/submit/imagine") == 1
    finally:
        with contextlib.suppress(Exception):
            await bot.kill()
        await proxy.stop()
        await emu.stop()
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved

    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    assert lines and all({"ts", "level", "logger", "message"} <= line.keys() for line in lines)
    assert any(line["message"].startswith("shutting down") for line in lines)
