"""The security probes of docs/security.md ("Probes"): hostile inputs against the real bot, in
process, with three counters that must stay 0 however the probes are answered.

* **stalls**: an event-loop lag over 1 s (a monitor task; the bot, the emulator and the fakes all
  run in this one loop, so anything that blocks it shows), and another member's /info answered
  within 1 s while the ReDoS prompt is checked;
* **secrets seen outside the store**: account secrets, hook secrets, interaction tokens, the bot
  token, as written or encoded, in any body the bot sent Discord or any log line it wrote;
* **requests to a non-allowed address**: a canary HTTP server on 127.0.0.1 (an address admins'
  accounts may not reach: the operator allows only 127.0.0.2 here) counts every request it gets.

Shared by `test_probes.py` and `bench/faults.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bot.config import NetworkSettings, Settings
from bot.domain import BackendKind
from bot.logs import TEXT_FORMAT, RedactingFilter
from sandbox import images
from sandbox.discord import Message
from sandbox.fake_mj_proxy import FakeMjProxy
from sandbox.runner import Sandbox
from tests.e2e.conftest import FAST_JOBS, Running, custom_id
from tests.e2e.test_actions import _new_result, _seen
from tests.e2e.test_setup_security import Internal, _add, _reply, _setup
from tests.reliability.fault_points import unthrottled
from tests.reliability.harness import PROXY_SECRET, found_in

#: A stall is an event-loop lag longer than this.
STALL_SECONDS = 1.0
HOME_SECRET = "sk-home-secret-7c1e9a0b"
DISCORD_USER_TOKEN = "MTIzNDU2Nzg5MDEy.probe-discord-user-token"
#: The one private address the operator allows admins' accounts here; the canary is elsewhere.
ALLOWED_HOST = "127.0.0.2"


@dataclass
class Probe:
    name: str
    expected: str
    observed: str
    ok: bool


@dataclass
class ProbeReport:
    probes: list[Probe] = field(default_factory=list)
    stalls: int = 0
    worst_lag: float = 0.0
    slowest_info: float = 0.0
    leaks: list[str] = field(default_factory=list)
    canary_requests: int = 0
    #: What the secret scan read: secrets (with their encoded forms), Discord bodies, log lines.
    scanned: tuple[int, int, int] = (0, 0, 0)

    @property
    def clean(self) -> bool:
        return all(p.ok for p in self.probes) and not (self.stalls or self.leaks or self.canary_requests)


class LoopLag:
    """A task that sleeps a tick and notes how late it wakes: the loop's worst lag and its stalls."""

    def __init__(self, tick: float = 0.05) -> None:
        self.tick = tick
        self.worst = 0.0
        self.stalls = 0

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.tick)
            lag = loop.time() - before - self.tick
            self.worst = max(self.worst, lag)
            self.stalls += lag > STALL_SECONDS

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[LoopLag]:
        task = asyncio.create_task(self._watch())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class _Lines(logging.Handler):
    """Every log line as production writes it (bot/cli.py's format, its redacting filter)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter(TEXT_FORMAT))
        self.addFilter(RedactingFilter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines += self.format(record).splitlines()


@contextlib.contextmanager
def _log_lines() -> Iterator[_Lines]:
    root, handler = logging.getLogger(), _Lines()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


class _Run:
    """One probe run: the sandbox, the canary, the allowed servers and what the probes found."""

    def __init__(self, box: Sandbox, canary: Internal, thief: Internal, home: FakeMjProxy) -> None:
        self.box, self.canary, self.thief, self.home = box, canary, thief, home
        self.report = ProbeReport()
        self.thief_url = f"http://{ALLOWED_HOST}:{thief.port}"

    def record(self, name: str, expected: str, observed: str, ok: bool) -> None:
        self.report.probes.append(Probe(name, expected, observed, ok))

    async def slash(self, user: int, command: str, channel: str = "art", /, **options: Any) -> str:
        emu = self.box.emulator
        return await _reply(self.box, await emu.slash(user, emu.channel(channel).id, command, **options))

    async def info_seconds(self) -> float:
        emu = self.box.emulator
        started = time.monotonic()
        info = await emu.slash(emu.world.admin.id, emu.channel("general").id, "info")
        await emu.wait_for_response(info, timeout=10)
        seconds = time.monotonic() - started
        self.report.slowest_info = max(self.report.slowest_info, seconds)
        return seconds

    def submitted(self) -> list[object]:
        return [r.json["prompt"] for r in self.box.proxy.requests if r.path == "/mj/submit/imagine"]


def _first(text: str) -> str:
    """A bot answer's first sentence, for the table."""
    return text.split("\n")[0].split(". ")[0][:90]


# ------------------------------------------------------------------------------------ probes


async def _redos(run: _Run) -> None:
    emu = run.box.emulator
    bob = emu.world.member.id
    await run.slash(emu.world.admin.id, "setup", subcommand="words add", text="(a+)+$", regex=True)
    adversarial = "a" * 3999 + "!"
    await emu.slash(bob, emu.channel("art").id, "imagine", prompt=adversarial)
    info = await run.info_seconds()
    await emu.wait_for(lambda: adversarial in run.submitted() or None, timeout=10)
    started = time.monotonic()
    refusal = await run.slash(bob, "imagine", prompt="a" * 4000)
    refused_in = time.monotonic() - started
    run.record(
        "banned pattern `(a+)+$`, prompt `a`×3999+`!` then `a`×4000",
        "no stall; /info by another member < 1 s; the first sent, the second refused",
        f"/info in {info:.2f} s; first sent; second refused in {refused_in:.2f} s ({len(refusal)} chars)",
        info < STALL_SECONDS and refusal.startswith("Your prompt contains"),
    )
    await run.slash(emu.world.admin.id, "setup", subcommand="words remove", text="(a+)+$")


async def _hostile_text(run: _Run) -> None:
    bob = run.box.emulator.world.member.id
    cases = {
        "bidi override U+202E": ("a cat \u202e", "text-direction"),
        "bidi isolate U+2066…U+2069": ("a cat \u2066dog\u2069", "text-direction"),
        "zero-width only": ("\u200b\u2060\u3164 \ufeff", "only invisible"),
        "control (ESC, NUL)": ("a cat\x1b[31m\x00", "control characters"),
    }
    for name, (prompt, reason) in cases.items():
        refusal = await run.slash(bob, "imagine", prompt=prompt)
        sent = prompt in run.submitted()
        run.record(
            f"prompt with {name}",
            f"refused ({reason}), never sent",
            f"{_first(refusal)}; sent: {'yes' if sent else 'no'}",
            reason in refusal and not sent,
        )


async def _private_addresses(run: _Run) -> None:
    admin = run.box.emulator.world.admin.id
    port = run.canary.port
    hosts = {
        "loopback": f"127.0.0.1:{port}",
        "localhost": f"localhost:{port}",
        "IPv6 loopback": f"[::1]:{port}",
        "IPv4-mapped IPv6": f"[::ffff:127.0.0.1]:{port}",
        "0.0.0.0": f"0.0.0.0:{port}",
        "decimal loopback": f"2130706433:{port}",
        "private 10/8": "10.0.0.5:8080",
        "metadata 169.254.169.254": "169.254.169.254",
    }
    for n, (name, host) in enumerate(hosts.items()):
        added = await _add(run.box, f"inside{n}", f"http://{host}/admin")
        tested = await run.slash(admin, "setup", "general", subcommand="account test", name=f"inside{n}")
        run.record(
            f"`/setup account add` base_url at {name}",
            "refused, no request",
            f"{_first(added)}; not stored: {'yes' if 'no account named' in tested else 'no'}",
            "Added" not in added and "no account named" in tested,
        )


async def _moved_host(run: _Run) -> None:
    admin = run.box.emulator.world.admin.id
    added = await _add(run.box, "home", run.home.base_url, HOME_SECRET)
    tested = await run.slash(admin, "setup", "general", subcommand="account test", name="home")
    to_canary = await run.slash(
        admin,
        "setup",
        "general",
        subcommand="account edit",
        name="home",
        base_url=f"http://127.0.0.1:{run.canary.port}",
    )
    moved = await run.slash(
        admin, "setup", "general", subcommand="account edit", name="home", base_url=run.thief_url
    )
    await run.slash(admin, "setup", "general", subcommand="account test", name="home")
    carried = [r for r in run.thief.requests if found_in([HOME_SECRET], str(r))]
    run.record(
        "`/setup account edit` base_url to another host, then `account test`",
        "secret dropped, never sent to the new host; loopback refused",
        f"{'added, ✅ tested' if 'Added' in added and tested.startswith('✅') else _first(tested)}; "
        f"to 127.0.0.1: {_first(to_canary)}; to another host: secret "
        f"{'dropped' if 'secret: none' in moved else 'kept'}, {len(run.thief.requests)} requests there, "
        f"{len(carried)} with the secret",
        "private or local" in to_canary
        and "secret: none" in moved
        and run.thief.requests != []
        and not carried,
    )


async def _rebound(run: _Run) -> None:
    """An account stored for a name that now resolves to loopback (DNS rebinding, or added while the
    operator allowed it): the address connected to is what is checked, for a test and for jobs."""
    box = run.box
    assert box.bot is not None
    emu, store, engine = box.emulator, box.bot.store, box.bot.engine
    guild, admin = emu.world.guild.id, emu.world.admin.id
    await store.add_account(
        guild_id=guild, name="rebound", kind=BackendKind.MJ_PROXY,
        base_url=f"http://localhost:{run.canary.port}/admin", secret=HOME_SECRET, max_jobs=3,
        channel_id=None, options={}, created_by=admin,
    )  # fmt: skip
    await engine.setup.reload_accounts()
    tested = await run.slash(admin, "setup", "general", subcommand="account test", name="rebound")
    # Jobs go to the rebound account alone while the operator's account is off.
    operator = next(a for a, _ in await engine.setup.accounts(guild) if a.name == "sandbox-proxy")
    await store.update_account(operator.id, enabled=False)
    await engine.setup.reload_accounts()
    art = emu.channel("art").id
    for n in range(3):
        await emu.slash(emu.world.member.id, art, "imagine", prompt=f"rebound job {n} by the lighthouse")

    def failed_jobs() -> list[Message] | None:
        failed = [m for m in emu.messages(art) if "rebound job" in m.content and "(Failed)" in m.content]
        return failed if len(failed) == 3 else None

    failed = await emu.wait_for(failed_jobs, timeout=20)
    await store.update_account(operator.id, enabled=True)
    await engine.setup.reload_accounts()
    run.record(
        "stored account whose name resolves to loopback: `account test`, then 3 jobs",
        "test fails, jobs fail with a sentence, no request",
        f"test: {_first(tested)}; jobs: {len(failed)} failed ({_reason(failed[0].content)})",
        tested.startswith("❌") and len(failed) == 3,
    )


def _reason(content: str) -> str:
    return content.split("(Failed)")[-1].strip()[:60]


async def _useapi_discord_option(run: _Run) -> None:
    added = await _add(
        run.box, "hosted", run.thief_url, kind="useapi", options=f"discord={DISCORD_USER_TOKEN}"
    )
    listing = await _setup(run.box, "account list")
    run.record(
        "useapi account with `discord=<user token>` option",
        "refused naming the option, token never echoed",
        f"{_first(added)}; listed: {'yes' if 'hosted' in listing else 'no'}",
        "no option 'discord'" in added and "hosted" not in listing,
    )


async def _webhooks(run: _Run, caplog: _Lines) -> None:
    box = run.box
    assert box.bot is not None
    jobs = await box.bot.store.member_jobs(
        box.emulator.world.guild.id, box.emulator.world.member.id, limit=50
    )
    job = next(j for j in jobs if j.status.terminal and j.backend_task_id)
    hooks = f"{box.bot.web.public_url}/hooks"
    right = f"{hooks}/{job.id}/{job.hook_secret}"
    async with httpx.AsyncClient() as http:
        odd = [
            (await http.post(f"{hooks}/{job.id}/{s}", content=b"{}")).status_code
            for s in ("ü-ñ-ascii", "%ff%fe")
        ]
        deep = (await http.post(right, content=b"[" * 50_000 + b"]" * 50_000)).status_code
        big = (await http.post(right, content=b" " * (300 * 1024))).status_code
    run.record(
        "webhook with a non-ASCII / percent-encoded secret",
        "404 as an unknown job",
        f"{odd}",
        odd == [404, 404],
    )
    run.record("webhook body nested 50 000 deep", "400", f"{deep}", deep == 400)
    run.record("webhook body of 300 KiB", "413", f"{big}", big == 413)
    url = httpx.URL(hooks)
    before = len(caplog.lines)
    for _ in range(3):
        _, writer = await asyncio.open_connection(url.host, url.port)
        writer.write(
            f"POST /hooks/{job.id}/{job.hook_secret} HTTP/1.1\r\nHost: x\r\n"
            'Content-Type: application/json\r\nContent-Length: 10000\r\n\r\n{"id": '.encode()
        )
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.close()
    await asyncio.sleep(0.5)
    lines = caplog.lines[before:]
    quiet = [line for line in lines if "left before its body" in line]
    loud = [line for line in lines if " WARNING " in line or " ERROR " in line or "Traceback" in line]
    async with httpx.AsyncClient() as http:
        after = (await http.post(right, content=b"{}")).status_code
    run.record(
        "webhook bodies aborted mid-way (×3)",
        "one INFO line each, server keeps answering",
        f"{len(quiet)} INFO lines, {len(loud)} warnings; next push {after}",
        len(quiet) == 3 and not loud and after == 200,
    )


async def _vary_region(run: _Run) -> None:
    box = run.box
    emu, proxy = box.emulator, box.proxy
    bob, art = emu.world.member.id, emu.channel("art").id
    before = _seen(box)
    await emu.slash(bob, art, "imagine", prompt="a cat on a bench")
    grid = await _new_result(box, before)
    before = _seen(box)
    await emu.click(bob, grid.id, custom_id(grid, "U3"))
    upscale = await _new_result(box, before)
    bomb = await asyncio.to_thread(images.png_bomb, 20_000, 20_000)
    parents = {"an HTML error page": (b"<!doctype html><title>502 Bad Gateway</title>", "text/html"),
               "a decompression bomb (20 000² PNG)": (bomb, "image/png")}  # fmt: skip
    for name, (body, content_type) in parents.items():
        proxy.faults.serve_images(body, content_type)
        click = await emu.click(bob, upscale.id, custom_id(upscale, "Vary (Region)"))
        await emu.wait_for_response(click)
        assert click.modal is not None
        done = await emu.submit_modal(
            click, click.modal["custom_id"], {"Prompt": "a dog on a bench", "Region to repaint": ["left"]}
        )
        said = await _reply(box, done)
        left = done.original is not None and not done.original.deleted
        run.record(
            f"Vary (Region) on a parent that is {name}",
            "one sentence, no 'thinking…' left, nothing submitted",
            f"{_first(said)}; thinking… left: {'yes' if left else 'no'}",
            "another image" in said and not left and proxy.count("/mj/submit/modal") == 0,
        )
    proxy.faults.image_override = None


PROBES: list[Callable[[_Run], Awaitable[None]]] = [
    _redos, _hostile_text, _private_addresses, _moved_host, _rebound, _useapi_discord_option, _vary_region,
]  # fmt: skip


# ------------------------------------------------------------------------------------- run


async def security_probes(workdir: Path) -> ProbeReport:
    """Every probe against one bot, then the three counters."""
    network = NetworkSettings(allow_private_backends=False, private_backend_networks=[f"{ALLOWED_HOST}/32"])
    settings = Settings(jobs=FAST_JOBS, network=network)
    proxy = FakeMjProxy(secret=PROXY_SECRET, step_seconds=0.05)
    box = Sandbox(settings, store_path=workdir / "mjbot.sqlite3", proxy=proxy, allow_private_backends=False)
    canary, thief, home = Internal(), Internal(), FakeMjProxy(secret=HOME_SECRET, step_seconds=0.05)
    await canary.start()
    await thief.start(ALLOWED_HOST)
    await home.start(ALLOWED_HOST)
    lag = LoopLag()
    try:
        with _log_lines() as log:
            async with Running(box), lag.running():
                unthrottled(box)
                run = _Run(box, canary, thief, home)
                for probe in PROBES:
                    await probe(run)
                await _webhooks(run, log)
                await run.info_seconds()
                assert box.bot is not None
                secrets = await _secrets(box)
    finally:
        await home.stop()
        await thief.stop()
        await canary.stop()
    report = run.report
    report.stalls, report.worst_lag = lag.stalls, lag.worst
    report.stalls += report.slowest_info > STALL_SECONDS
    report.canary_requests = len(canary.requests)
    report.leaks = _leaks(box, secrets, log.lines)
    report.scanned = (sum(map(len, secrets)), len(box.emulator.calls), len(log.lines))
    return report


async def _secrets(box: Sandbox) -> tuple[list[str], list[str]]:
    """(secrets that may appear nowhere, interaction tokens: allowed only in Discord's own paths)."""
    assert box.bot is not None
    emu = box.emulator
    jobs = await box.bot.store.member_jobs(emu.world.guild.id, emu.world.member.id, limit=500)
    jobs += await box.bot.store.member_jobs(emu.world.guild.id, emu.world.admin.id, limit=500)
    anywhere = [
        PROXY_SECRET,
        HOME_SECRET,
        DISCORD_USER_TOKEN,
        emu.world.token,
        *(j.hook_secret for j in jobs),
    ]
    return anywhere, [i.token for i in emu.store.interactions.values()]


def _leaks(box: Sandbox, secrets: tuple[list[str], list[str]], lines: list[str]) -> list[str]:
    anywhere, tokens = secrets
    found = []
    for call in box.emulator.calls:
        payload = json.dumps([call.body, call.query], default=str)
        found += [f"{call.method} {call.route}: {s[:6]}…" for s in found_in(anywhere + tokens, payload)]
        found += [f"{call.method} {call.route} path: {s[:6]}…" for s in found_in(anywhere, call.path)]
    for number, line in enumerate(lines, 1):
        found += [f"log line {number}: {s[:6]}…" for s in found_in(anywhere + tokens, line)]
    return found
