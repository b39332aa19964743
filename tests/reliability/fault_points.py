"""Each fault point of docs/reliability.md ("Fault points") with N jobs: how many were started,
finished, failed with a message, left hanging or lost. Shared by `test_fault_points.py` (small) and
`bench/faults.py` (at size).

A command is *hanging* when, after the run has settled, its job is not finished and posted or its
"thinking…" was never filled in; *lost* when it was never answered, its message is gone or shows
neither a result nor a failure. Both must be 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import discord.gateway
import discord.http
import pytest

from bot import backends
from bot.backends.base import Capability
from bot.backends.mj_proxy import MjProxyBackend
from bot.config import Settings
from bot.domain import BackendKind, JobStatus
from bot.jobs.rules import MemberRate
from sandbox.discord import DiscordEmulator, Interaction
from sandbox.fake_mj_proxy import FakeMjProxy
from sandbox.runner import Sandbox
from tests.e2e.conftest import FAST_JOBS, Running
from tests.e2e.test_backend_exceptions import _exceptions, _faulty
from tests.reliability.harness import PROXY_SECRET, REPO, BotProcess, until
from tests.reliability.test_startup import Exit, _garbage, _immutable, _real_database, _run_mjbot, _truncated

#: What docs/reliability.md promises for a broken database: exit code ≠ 0 within this.
STARTUP_SECONDS = 5.0
#: How long a run may take to settle once its commands are sent.
SETTLE_SECONDS = 60.0


@dataclass
class FaultRow:
    point: str
    started: int = 0
    finished: int = 0
    failed: int = 0
    hanging: int = 0
    lost: int = 0
    #: What was injected and met (how many refused finals, failed acknowledgements…).
    note: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return self.hanging == 0 and self.lost == 0 and not self.problems


def classify(point: str, sent: list[Interaction], store_path: Path, emu: DiscordEmulator) -> FaultRow:
    """Each command sent, by what the store and the emulator's channels show now."""
    row = FaultRow(point, started=len(sent))
    with contextlib.closing(sqlite3.connect(store_path)) as db:
        jobs = db.execute("SELECT id, status, result_posted, message_id, image_url FROM jobs").fetchall()
    by_message = {
        message_id: (job_id, status, posted, url) for job_id, status, posted, message_id, url in jobs
    }
    for inter in sent:
        original = inter.original
        job = by_message.pop(original.id, None) if original is not None else None
        if job is None:
            if any(m.content for m in inter.ephemeral):
                row.failed += 1  # refused with a sentence (the member's limit…)
            elif inter.acked and original is not None and original.loading and not original.deleted:
                row.hanging += 1
                row.problems.append(f"interaction {inter.id}: 'thinking…' left, no job")
            else:
                row.lost += 1
                row.problems.append(f"interaction {inter.id}: no job and no answer (acked={inter.acked})")
            continue
        job_id, status, posted, url = job
        state = JobStatus(status)
        message = emu.message(original.id) if original is not None else None
        if not state.terminal or not posted:
            row.hanging += 1
            row.problems.append(f"job {job_id}: {status}, posted={posted}")
        elif message is None or message.deleted:
            row.lost += 1
            row.problems.append(f"job {job_id}: its message is gone")
        elif state is JobStatus.SUCCESS and (
            (message.attachments and message.components) or (url and url in message.content)
        ):
            row.finished += 1
        elif state is not JobStatus.SUCCESS and (
            "(Failed)" in message.content or "(Cancelled)" in message.content
        ):
            row.failed += 1
        else:
            row.lost += 1
            row.problems.append(f"job {job_id}: {status} shows {message.content[:80]!r}")
    row.problems += [f"job {job[0]} belongs to no command" for job in by_message.values()]
    return row


async def _settle(point: str, sent: list[Interaction], store: Path, emu: DiscordEmulator) -> FaultRow:
    """Wait until every command has its outcome (or the deadline: then what is left counts), then the row."""
    deadline = time.monotonic() + SETTLE_SECONDS
    row = classify(point, sent, store, emu)
    while (row.hanging or row.lost) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        row = classify(point, sent, store, emu)
    return row


async def _imagine(emu: DiscordEmulator, n: int, prompt: str) -> list[Interaction]:
    """``n`` /imagine from two members in turn (each may have 10 jobs at once)."""
    people = [emu.world.member.id, emu.world.admin.id]
    art = emu.channel("art").id
    return [await emu.slash(people[i % 2], art, "imagine", prompt=f"{prompt} {i}") for i in range(n)]


def _in_process(store: Path, proxy: FakeMjProxy, max_jobs: int) -> Running:
    return Running(Sandbox(Settings(jobs=FAST_JOBS), store_path=store, proxy=proxy, max_jobs=max_jobs))


def _slots(n: int) -> int:
    """An account's jobs at once for ``n`` jobs (an account takes 15 at most)."""
    return min(n, 15)


def unthrottled(box: Sandbox) -> None:
    # The runs start many jobs per member on purpose; the flood limit has its own test.
    assert box.bot is not None
    box.bot.engine.member_rate = MemberRate(burst=10_000, every=0.01)


# ------------------------------------------------------------------------------- the points


async def final_refused(workdir: Path, n: int) -> FaultRow:
    """Discord answers each job's final (its interaction webhook's edit) with 400 Invalid Form Body."""
    store = workdir / "mjbot.sqlite3"
    async with _in_process(store, FakeMjProxy(step_seconds=0.4, core_size=n), _slots(n)) as box:
        unthrottled(box)
        emu = box.emulator
        sent = await _imagine(emu, n, "a refused final")

        async def refuse_final(inter: Interaction) -> bool:
            # The first content and the final go through the token, progress through the channel:
            # once the first content is there, the next write through the token is the final.
            def started() -> bool | None:
                if inter.original is None or emu.message(inter.original.id).loading:
                    return None
                message = emu.message(inter.original.id)
                return not (
                    message.attachments or "(Done" in message.content or "(Failed)" in message.content
                )

            if not await emu.wait_for(started, timeout=20):
                return False
            emu.inject_fault(
                f"PATCH /webhooks/*/{inter.token}/messages/*", 400, code=50035, message="Invalid Form Body"
            )
            return True

        refused = sum(await asyncio.gather(*(refuse_final(i) for i in sent)))
        row = await _settle("final write refused (400 on the final)", sent, store, emu)
        short = sum(
            1 for i in sent if i.original and "could not be shown" in emu.message(i.original.id).content
        )
    row.note = f"{refused} finals refused, {short} short finals"
    return row


async def early_ack_html(workdir: Path, n: int) -> FaultRow:
    """Discord's edge answers each early acknowledgement with an HTML 502/503/504 page."""
    store = workdir / "mjbot.sqlite3"
    async with _in_process(store, FakeMjProxy(step_seconds=0.05, core_size=n), _slots(n)) as box:
        unthrottled(box)
        emu = box.emulator
        for status in itertools.islice(itertools.cycle((502, 503, 504)), n):
            emu.inject_fault("POST /interactions/*/*/callback", status, html=True)
        sent = await _imagine(emu, n, "behind a bad gateway")
        row = await _settle("HTML 5xx on the early acknowledgement", sent, store, emu)
    pages = sum(1 for c in emu.calls if (c.route or "").endswith("/callback") and c.status >= 500)
    row.note = f"{pages} acknowledgements answered with an HTML 5xx page"
    return row


@contextlib.contextmanager
def _raising(method: str, raised: list[Exception], capabilities: frozenset[Capability]) -> Iterator[None]:
    saved = backends._FACTORIES[BackendKind.MJ_PROXY]
    backends._FACTORIES[BackendKind.MJ_PROXY] = _faulty(method, raised, capabilities)
    try:
        yield
    finally:
        backends._FACTORIES[BackendKind.MJ_PROXY] = saved


async def _backend_raises(workdir: Path, n: int, method: str) -> FaultRow:
    """Half of the jobs meet ValueError, KeyError and pydantic's ValidationError in turn from
    ``method``, on a one-job account: a slot not given back would leave every later job hanging."""
    faults = (n + 1) // 2
    raised = list(
        itertools.islice(itertools.chain.from_iterable(_exceptions() for _ in range(faults)), faults)
    )
    polled = method == "fetch"
    capabilities = MjProxyBackend.capabilities - ({Capability.FETCH_MANY} if polled else set())
    proxy = FakeMjProxy(step_seconds=0.05)
    proxy.faults.drop_hooks = polled
    store = workdir / "mjbot.sqlite3"
    with _raising(method, raised, frozenset(capabilities)):
        async with _in_process(store, proxy, 1) as box:
            unthrottled(box)
            sent = await _imagine(box.emulator, n, f"{method} raises")
            row = await _settle(
                f"backend {method} raises (ValueError/KeyError/ValidationError)", sent, store, box.emulator
            )
    row.note = f"{faults - len(raised)} exceptions raised, one-job account"
    return row


async def submit_raises(workdir: Path, n: int) -> FaultRow:
    return await _backend_raises(workdir, n, "imagine")


async def fetch_raises(workdir: Path, n: int) -> FaultRow:
    return await _backend_raises(workdir, n, "fetch")


async def killed_after_ack(workdir: Path, n: int) -> FaultRow:
    """The bot process acknowledges N /imagine, is killed -9 before storing any job, and restarts."""
    saved = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    store = workdir / "mjbot.sqlite3"
    proxy = FakeMjProxy(secret=PROXY_SECRET, step_seconds=0.1, core_size=n)
    box = Sandbox(Settings(jobs=FAST_JOBS), store_path=store, proxy=proxy, max_jobs=_slots(n))
    await box.emulator.start()
    await proxy.start()
    bot = BotProcess(box, workdir / "bot.log")
    try:
        bot.hold_submits = True
        await bot.start()
        sent = await _imagine(box.emulator, n, "acked then killed")
        await until(lambda: _acked(store) == n, timeout=20)
        await bot.kill()
        bot.hold_submits = False
        await bot.start()
        row = await _settle("kill -9 between acknowledgement and store", sent, store, box.emulator)
    finally:
        await bot.kill()
        with contextlib.suppress(Exception):
            await proxy.stop()
        await box.emulator.stop()
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved
    crashes = (workdir / "bot.log").read_text(errors="replace").count("Traceback (most recent call last)")
    if crashes:
        row.problems.append(f"{crashes} tracebacks in the bot's log")
    row.note = (
        f"{n} acknowledged, then kill -9; {proxy.count('/mj/submit/imagine')} submits after the restart"
    )
    return row


def _acked(store: Path) -> int:
    with contextlib.closing(sqlite3.connect(store)) as db:
        (count,) = db.execute("SELECT COUNT(*) FROM acked_commands").fetchone()
    return int(count)


def _read_only(tmp: Path) -> Path:
    db = tmp / "mjbot.sqlite3"
    _real_database(db)
    return db


async def broken_database(workdir: Path, n: int) -> FaultRow:
    """`mjbot` started on a garbage, a truncated and a read-only database, ``n`` times in all:
    each must exit ≠ 0 with one sentence within 5 s. *Hanging*: still running at test_startup's
    deadline (then killed); exits after 5 s are counted in the note beside the time Python takes
    to import the bot on this machine now (a loaded machine's share of the 5 s)."""
    row = FaultRow("broken database at start (garbage/truncated/read-only)")
    makers: list[Callable[[Path], Path]] = [_garbage, _truncated, _read_only]
    emu = DiscordEmulator()
    await emu.start(port=0)
    slowest, slow, imports = 0.0, 0, await _import_seconds()
    try:
        for i, make in zip(range(max(n, 3)), itertools.cycle(makers), strict=False):
            run_dir = workdir / f"db{i}"
            run_dir.mkdir()
            db = await asyncio.to_thread(make, run_dir)
            try:
                with _immutable(db) if make is _read_only else contextlib.nullcontext():
                    ended = await _run_mjbot(emu, db)
            except pytest.skip.Exception as skipped:
                row.note += f"read-only not run ({skipped}); "
                continue
            row.started += 1
            slowest = max(slowest, ended.seconds)
            slow += ended.seconds > STARTUP_SECONDS
            if ended.code is None:
                row.hanging += 1
                row.problems.append(f"{make.__name__}: still running after {ended.seconds:.1f} s")
            elif ended.code == 0 or not _one_sentence(ended):
                row.lost += 1
                row.problems.append(f"{make.__name__}: exit {ended.code}: {ended.stderr[-300:]}")
            else:
                row.failed += 1
    finally:
        await emu.stop()
    row.note += (
        f"slowest exit {slowest:.1f} s, {slow} over {STARTUP_SECONDS:g} s "
        f"(importing the bot alone: {imports:.1f} s)"
    )
    return row


async def _import_seconds() -> float:
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import bot.cli, bot.discord_side.app", cwd=REPO
    )
    await proc.wait()
    return time.monotonic() - started


def _one_sentence(ended: Exit) -> bool:
    try:
        ended.sentence()
    except AssertionError:
        return False
    return True


FAULT_POINTS: dict[str, Callable[[Path, int], Awaitable[FaultRow]]] = {
    "final": final_refused,
    "early-ack": early_ack_html,
    "submit-raises": submit_raises,
    "fetch-raises": fetch_raises,
    "kill-after-ack": killed_after_ack,
    "database": broken_database,
}


async def fault_points(workdir: Path, n: int, only: list[str] | None = None) -> list[FaultRow]:
    rows = []
    for name, point in FAULT_POINTS.items():
        if only is None or name in only:
            (workdir / name).mkdir()
            rows.append(await point(workdir / name, n))
    return rows
