"""What an operator reads over HTTP: /metrics (Prometheus text), /healthz and /readyz, end to end."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bot.logs import log_handler
from sandbox.fake_mj_proxy import FakeMjProxy
from sandbox.runner import Sandbox
from tests.e2e.conftest import Running, is_result

PROMPT = "a very particular lighthouse zq7x"
#: (name, sorted labels) → value, for every sample of a scrape.
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def _scrape(box: Sandbox) -> tuple[Samples, str]:
    assert box.bot is not None
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{box.bot.web.public_url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples, response.text


def _value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))


async def test_metrics_move_with_a_job_and_carry_no_secret(make_sandbox: Callable[..., Sandbox]) -> None:
    async with Running(make_sandbox(proxy=FakeMjProxy(step_seconds=0.1, secret="proxy-secret-5c1e"))) as box:
        before, _ = await _scrape(box)
        assert _value(before, "mjbot_jobs_started_total") == 0
        assert _value(before, "mjbot_account_capacity", account="sandbox-proxy", service="mj_proxy") == 3
        assert _value(before, "process_cpu_seconds_total") > 0
        assert _value(before, "process_resident_memory_bytes") > 0

        emu = box.emulator
        art = emu.channel("art")
        # Two 429s on the job's message edits: discord.py retries them, the metrics count them.
        emu.inject_fault("PATCH /webhooks/*/*/messages/*", 429, times=2, retry_after=0.05)
        await emu.slash(emu.world.member.id, art.id, "imagine", prompt=PROMPT)
        await emu.wait_for_message(art.id, is_result, timeout=15)
        # The final is on Discord; its publish time is observed right after the write returns.
        after, text = await _scrape(box)
        for _ in range(20):
            if _value(after, "mjbot_final_publish_seconds_count") >= 1:
                break
            after, text = await _scrape(box)

        assert _value(after, "mjbot_jobs_started_total", service="mj_proxy") == 1
        assert _value(after, "mjbot_jobs_finished_total", service="mj_proxy") == 1
        assert _value(after, "mjbot_jobs_failed_total") == 0
        assert _value(after, "mjbot_jobs_running") == 0
        assert _value(after, "mjbot_jobs_queued") == 0
        assert _value(after, "mjbot_backend_requests_total", service="mj_proxy") >= 1
        assert _value(after, "mjbot_pushes_received_total") == len(box.proxy.hook_deliveries)
        assert _value(after, "mjbot_ack_seconds_count") >= 1
        assert _value(after, "mjbot_backend_seconds_count", service="mj_proxy") == 1
        assert _value(after, "mjbot_final_publish_seconds_count") == 1
        edit = "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"
        assert _value(after, "mjbot_discord_writes_total", route=edit) >= 3  # 2 refused + the final
        assert _value(after, "mjbot_discord_rate_limited_total", route=edit) == 2
        assert _value(after, "process_cpu_seconds_total") >= _value(before, "process_cpu_seconds_total")

        # No label carries a secret, a token or the prompt; ids appear only as their names.
        label_values = {v for (_, labels), _ in after.items() for _, v in labels}
        secrets = [emu.world.token, box.proxy.secret, PROMPT, "zq7x", str(art.id)]
        assert all(secrets), secrets
        assert not [v for v in label_values for s in secrets if s in v]
        assert all(s not in text for s in secrets)


async def test_a_failed_job_counts_with_its_reason(make_sandbox: Callable[..., Sandbox]) -> None:
    async with Running(make_sandbox()) as box:
        emu = box.emulator
        art = emu.channel("art")
        box.proxy.faults.fail_next_submit(status=500)
        await emu.slash(emu.world.member.id, art.id, "imagine", prompt="a lighthouse")
        await emu.wait_for_message(art.id, lambda m: "(Failed)" in m.content)
        samples, _ = await _scrape(box)
        assert _value(samples, "mjbot_jobs_failed_total", service="mj_proxy", reason="unavailable") == 1
        assert _value(samples, "mjbot_backend_errors_total", service="mj_proxy", reason="unavailable") == 1
        assert _value(samples, "mjbot_jobs_started_total") == 0


async def test_healthz_and_readyz(make_sandbox: Callable[..., Sandbox]) -> None:
    async with Running(make_sandbox()) as box:
        assert box.bot is not None
        base = box.bot.web.public_url
        emu = box.emulator
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{base}/healthz")).json() == {"ok": True}
            ready = await http.get(f"{base}/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json() == {"ready": True}

            # The service refuses the credentials: the guild's only account leaves rotation.
            box.proxy.faults.fail_next_submit(status=401)
            await emu.slash(emu.world.member.id, emu.channel("art").id, "imagine", prompt="a lighthouse")
            not_ready = await http.get(f"{base}/readyz")
            for _ in range(100):
                if not_ready.status_code == 503:
                    break
                await asyncio.sleep(0.05)
                not_ready = await http.get(f"{base}/readyz")
            assert not_ready.status_code == 503
            assert not_ready.json() == {
                "ready": False,
                "reasons": [
                    f"server {emu.world.guild.id}: no account is in rotation (see /setup account list)"
                ],
            }


async def test_json_log_lines_parse_and_name_their_job(make_sandbox: Callable[..., Sandbox]) -> None:
    out = io.StringIO()
    handler = log_handler("json")
    handler.setStream(out)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        async with Running(make_sandbox()) as box:
            emu = box.emulator
            box.proxy.faults.fail_next_submit(status=401)  # logged: the account leaves rotation
            await emu.slash(emu.world.member.id, emu.channel("art").id, "imagine", prompt="a lighthouse")
            await box.emulator.wait_for(lambda: "taken out of rotation" in out.getvalue() or None)
            assert box.bot is not None
            job = (await box.bot.store.member_jobs(emu.world.guild.id, emu.world.member.id, limit=1))[0]
    finally:
        root.removeHandler(handler)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines and all({"ts", "level", "logger", "message"} <= line.keys() for line in lines)
    rotation = next(line for line in lines if "taken out of rotation" in line["message"])
    assert rotation["level"] == "WARNING" and rotation["logger"] == "bot.jobs.submitting"
    assert (rotation["job_id"], rotation["guild_id"], rotation["service"]) == (
        job.id,
        emu.world.guild.id,
        "mj_proxy",
    )


async def test_readyz_says_when_the_store_cannot_be_written(
    make_sandbox: Callable[..., Sandbox], tmp_path: Path
) -> None:
    async with Running(make_sandbox()) as box:
        assert box.bot is not None
        # Another process holds the database's write lock (SQLite's busy wait is 5 s).
        other = sqlite3.connect(tmp_path / "mjbot.sqlite3", isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            async with httpx.AsyncClient(timeout=15) as http:
                ready = await http.get(f"{box.bot.web.public_url}/readyz")
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert ready.status_code == 503
        assert ready.json() == {
            "ready": False,
            "reasons": ["the store cannot be written (OperationalError: database is locked)"],
        }


async def test_running_queued_and_capacity_gauges(make_sandbox: Callable[..., Sandbox]) -> None:
    async with Running(make_sandbox(max_jobs=1)) as box:
        emu = box.emulator
        art = emu.channel("art")
        box.proxy.faults.stick_next_task()  # the first job stays at the backend
        for prompt in ("a first lighthouse", "a second lighthouse"):
            await emu.slash(emu.world.member.id, art.id, "imagine", prompt=prompt)
        account = {"account": "sandbox-proxy", "service": "mj_proxy", "guild_id": str(emu.world.guild.id)}
        for _ in range(100):
            samples, _ = await _scrape(box)
            if _value(samples, "mjbot_jobs_running") == 1 and _value(samples, "mjbot_jobs_queued") == 1:
                break
            await asyncio.sleep(0.05)
        assert _value(samples, "mjbot_jobs_running") == 1
        assert _value(samples, "mjbot_jobs_queued") == 1
        assert _value(samples, "mjbot_account_jobs_in_use", **account) == 1
        assert _value(samples, "mjbot_account_capacity", **account) == 1


async def test_readyz_follows_the_gateway_connection(make_sandbox: Callable[..., Sandbox]) -> None:
    async with Running(make_sandbox()) as box:
        assert box.bot is not None
        url = f"{box.bot.web.public_url}/readyz"
        async with httpx.AsyncClient() as http:

            async def ready_is(status: int) -> httpx.Response:
                for _ in range(300):
                    response = await http.get(url)
                    if response.status_code == status:
                        return response
                    await asyncio.sleep(0.05)
                raise AssertionError(f"/readyz never answered {status}: {response.text}")

            await box.emulator.gateway_outage()
            down = await ready_is(503)
            assert down.json() == {"ready": False, "reasons": ["not connected to Discord's gateway"]}
            await box.emulator.gateway_outage(False)
            await ready_is(200)
