"""Load benchmark: the bot as its own process against the Discord emulator and a fake backend.

    uv run python -m bench.load                      # the full run of docs/performance.md
    uv run python -m bench.load --jobs 10 --channels 2 --duration 1   # a quick look
    uv run python -m bench.load --store sqlite postgres                # each store, side by side
    uv run python -m bench.load --store postgres --processes 1 2       # one bot process, and two

For each value of ``--jobs`` (one column of the table each) it starts a fresh emulator (global and
per-channel rate limits enforced), a fake midjourney-proxy (``bench.backend``) and the bot
(``bench.bot_process``), each backend and bot in its own process, on each ``--store`` (a column
each: SQLite, or a throwaway PostgreSQL cluster, ``tests/postgres.py``), with each of
``--processes`` (a column each: N bot processes on one PostgreSQL, shards 0 … N-1 of N, the
emulator with a server on each shard and the channels, so the burst, spread over them),
then ``--jobs`` members' ``/imagine`` arrive at once, spread over ``--users`` members and
``--channels`` channels; when every job's result is on Discord, ``--clicks`` of the results get
their U1 clicked at once and those jobs run too. The bot's CPU and peak RSS are read from
``/proc``; everything else is measured by the emulator and the fake backend, never by the bot.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.util
import json
import math
import os
import platform
import signal
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.backend import WARM_UP
from bot.cli import run_loop
from bot.domain import GuildConfig, GuildLimits, JobStatus
from bot.store import Store
from sandbox.discord import DiscordEmulator, Interaction, Message
from sandbox.discord.clock import SnowflakeGenerator
from sandbox.discord.state import CallRecord
from sandbox.discord.world import Channel, Member, User, shard_of
from tests.postgres import Cluster, server_binaries

#: Discord's global budget per bot token, requests per second (the emulator enforces the same).
GLOBAL_BUDGET = 50
#: Most jobs one midjourney-proxy account may run, by default (AccountSettings.max_jobs's upper bound).
ACCOUNT_JOBS = 15
#: The emulator's event loop waking this much later than asked is a stall (Run.watch_loop), s.
STALL = 0.05
#: The busiest stretch over which "share of the budget" is averaged, seconds.
SATURATION_WINDOW = 5.0
TERMINAL = frozenset(s.value for s in JobStatus if s.terminal)
#: The bot process profiles the stretch of ``sample_pushes`` into this file (bench/bot_process.py).
PROFILE_PUSHES = os.environ.get("MJBOT_BENCH_PROFILE_PUSHES")


@dataclass(frozen=True)
class Knobs:
    jobs: int
    users: int
    channels: int
    clicks: int
    duration: float
    spread: float
    progress_steps: int
    push: bool
    fault_rate: float
    poll_interval: float
    progress_edit_seconds: float
    timeout: float
    warmup: int
    #: "sqlite" or "postgres".
    store: str = "sqlite"
    #: Bot processes, each running one gateway shard of this many (more than 1: PostgreSQL only).
    processes: int = 1
    #: The service accounts every server names, and the jobs each may run at once.
    accounts: int = 1
    max_jobs: int = ACCOUNT_JOBS


@dataclass
class Usage:
    """The bot process's CPU seconds and peak resident memory, from /proc."""

    cpu: float
    peak_rss_mib: float

    @classmethod
    def of(cls, pid: int) -> Usage:
        cpu = _cpu(_stat(pid)[11:13])
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
        hwm = next(line for line in status if line.startswith("VmHWM:"))
        return cls(cpu, int(hwm.split()[1]) / 1024)

    @classmethod
    def total(cls, pids: Sequence[int]) -> Usage:
        """Several processes together: CPU and peak memory summed."""
        each = [cls.of(pid) for pid in pids]
        return cls(sum(u.cpu for u in each), sum(u.peak_rss_mib for u in each))


def _stat(pid: int) -> list[str]:
    """/proc/PID/stat's fields from the third on (field n is at index n - 3)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _cpu(ticks: Sequence[str]) -> float:
    return sum(int(t) for t in ticks) / os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid``, its children that exited (cutime, cstime) and its live children:
    PostgreSQL's postmaster and the server processes it forks, one a connection."""
    children = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                stat = _stat(int(entry.name))
                if int(stat[1]) == pid:
                    children += _cpu(stat[11:15])
    return _cpu(_stat(pid)[11:15]) + children


@dataclass
class Result:
    knobs: Knobs
    rows: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------------- the world


def populate(emu: DiscordEmulator, users: int, channels: int) -> tuple[list[int], list[int]]:
    """Give the emulator's guilds ``channels`` text channels, dealt in turn, and ``users`` plain
    members each (the same people in every guild)."""
    ids: SnowflakeGenerator = emu.ids
    guilds = emu.world.guilds
    made = [Channel(ids.next(), f"load-{n}", n) for n in range(channels)]
    for at, guild in enumerate(guilds):
        guild.channels = made[at :: len(guilds)]
    people = [User(ids.next(), f"member{n}") for n in range(users)]
    for guild in guilds:
        guild.members.extend(Member(user, []) for user in people)
    return [u.id for u in people], [c.id for c in made]


class BackendProcess:
    """``bench.backend`` (the fake midjourney-proxy) in its own process: a real proxy does not
    share the emulator's core either, and in-process it could not answer 1000 submits in time."""

    flavour = "java"

    def __init__(self, knobs: Knobs) -> None:
        self._knobs = {
            "duration": knobs.duration,
            "spread": knobs.spread,
            "progress_steps": knobs.progress_steps,
            "fault_rate": knobs.fault_rate,
            "push": knobs.push,
        }
        self._process: asyncio.subprocess.Process | None = None
        self._client: httpx.AsyncClient | None = None
        self.base_url = ""

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.backend", json.dumps(self._knobs), stdout=asyncio.subprocess.PIPE
        )
        assert self._process.stdout is not None
        line = await asyncio.wait_for(self._process.stdout.readline(), 60)
        if not line:
            raise RuntimeError("the fake backend did not start")
        self.base_url = line.decode().strip()
        # One client for the run: making one loads the TLS trust store, ~50 ms of CPU that would
        # stall the emulator (and its arrival times) at every progress sample.
        self._client = httpx.AsyncClient(base_url=self.base_url, timeout=60)

    async def _call(self, method: str, path: str) -> Any:
        assert self._client is not None
        answer = await self._client.request(method, path)
        answer.raise_for_status()
        return answer.json() if answer.content else None

    async def report(self) -> dict[str, Any]:
        report: dict[str, Any] = await self._call("GET", "/bench/report")
        return report

    async def progress(self) -> dict[str, int]:
        """Tasks submitted and succeeded, and pushes delivered, since the mark."""
        counts: dict[str, int] = await self._call("GET", "/bench/progress")
        return counts

    async def mark(self) -> None:
        """From now on the report counts only what happens next (the warm-up is over)."""
        await self._call("POST", "/bench/mark")

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()
            await self._process.wait()


def settings_json(
    emu: DiscordEmulator, proxy: BackendProcess, store: StoreAt, knobs: Knobs, shard: int
) -> dict[str, Any]:
    """The settings of the bot process running ``shard`` (of ``knobs.processes``), secrets in
    clear (``Settings`` would mask them when dumped). Every process reads the same accounts, as a
    deployment's processes read one config file: every server names the same service accounts
    (a secret each), so with several processes each one's ``max_jobs`` is shared, claimed across
    them (docs/scaling.md), and the capacity is the same in every column."""
    guild = next(g for g in emu.world.guilds if shard_of(g.id, knobs.processes) == shard)
    discord: dict[str, Any] = {"token": emu.world.token, "dev_guild_id": guild.id}
    if knobs.processes > 1:
        discord |= {"shard_count": knobs.processes, "shards": str(shard)}
    return {
        "discord": discord,
        "store": {"path": str(store.path), "url": store.url},
        "web": {"host": "127.0.0.1", "port": 0},
        "jobs": {
            "timeout_seconds": 900,
            "poll_interval_seconds": knobs.poll_interval,
            "progress_edit_seconds": knobs.progress_edit_seconds,
        },
        "accounts": [
            {
                "guild_id": server.id,
                "name": f"bench-proxy-{n}",
                "kind": "mj_proxy",
                "base_url": proxy.base_url,
                "secret": f"bench-{n}",
                "max_jobs": knobs.max_jobs,
                "options": {"flavour": proxy.flavour},
            }
            for server in emu.world.guilds
            for n in range(knobs.accounts)
        ],
    }


@dataclass
class StoreAt:
    """The bot's store in a run: the SQLite file ``path``, or the PostgreSQL database ``url``."""

    path: Path
    url: str | None = None
    #: PostgreSQL: the connection ``rows`` reads through, and the transactions it made.
    _conn: asyncpg.Connection | None = None
    reads: int = 0

    async def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """What a query reads, beside the bot's own connection (SQLite: opened read-only)."""
        if self.url is not None:
            if self._conn is None:
                self._conn = await asyncpg.connect(self.url)
            self.reads += 1
            return [tuple(r) for r in await self._conn.fetch(sql)]
        with contextlib.closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)) as db:
            return [tuple(r) for r in db.execute(sql).fetchall()]

    async def transactions(self) -> int:
        """PostgreSQL: the transactions made in the database so far (each statement outside one
        is one), less this object's own reads. The server counts a connection's as it ends (this
        object's, closed first), or up to 10 s late while it runs (the bots': a count before the
        burst may miss a few of the warm-up's, which the burst's then include)."""
        await self.close()
        await asyncio.sleep(1)
        [(made,)] = await self.rows(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        )
        return int(made) - (self.reads - 1)  # this read is not counted yet

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None


async def raise_guild_limits(store_at: StoreAt, guild_id: int, knobs: Knobs) -> None:
    """Room for the whole burst: the defaults (10 per member, 50 queued) would refuse most of it."""
    store = await Store.open(store_at.url or store_at.path)
    try:
        per_member = min(50, math.ceil((knobs.jobs + knobs.clicks) / knobs.users) + 1)
        limits = GuildLimits(user_concurrent=per_member, queue_length=1000)
        await store.set_guild_config(guild_id, GuildConfig(limits=limits))
    finally:
        await store.close()


# ------------------------------------------------------------------------------------ a run


class Run:
    def __init__(self, knobs: Knobs, tmp: Path, cluster: Cluster | None = None) -> None:
        self.knobs = knobs
        postgres_url = cluster.create_database() if knobs.store == "postgres" and cluster else None
        #: PostgreSQL's postmaster, and its CPU seconds and the transactions before the burst.
        self.postmaster = cluster.postmaster_pid if postgres_url else None
        self.server_before = (0.0, 0)
        self.tmp = tmp
        self.emu = DiscordEmulator(guilds=knobs.processes, recommended_shards=knobs.processes)
        self.proxy = BackendProcess(knobs)
        self.store = StoreAt(tmp / "bench.sqlite3", postgres_url)
        self.users, self.channels = populate(self.emu, knobs.users, knobs.channels)
        #: The bot processes, the one running shard n at n.
        self.processes: list[asyncio.subprocess.Process] = []
        self.log_path = tmp / "bot.log"
        #: When the measured burst began (the emulator's clock): earlier calls were the warm-up.
        self.started = 0.0
        #: Bot CPU seconds per backend push while the jobs only run (see sample_pushes).
        self.push_cpu = math.nan
        #: How late the emulator's event loop woke, each time it was over STALL seconds late.
        self.stalls: list[float] = []

    async def start(self) -> None:
        # The emulator compiles a route's schema (~15 ms) on its first request: not in the burst.
        self.emu.rest.prepare()
        await self.emu.start()
        await self.proxy.start()
        for guild in self.emu.world.guilds:
            await raise_guild_limits(self.store, guild.id, self.knobs)
        env = {
            **os.environ,
            "MJBOT_BENCH_API_BASE": self.emu.api_base,
            "MJBOT_BENCH_GATEWAY": self.emu.gateway_url,
        }
        # Every process's output in one log.
        with self.log_path.open("wb") as log:
            for shard in range(self.knobs.processes):
                config = self.tmp / f"settings-{shard}.json"
                config.write_text(
                    json.dumps(settings_json(self.emu, self.proxy, self.store, self.knobs, shard))
                )
                self.processes.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable,
                        "-m",
                        "bench.bot_process",
                        str(config),
                        env=env,
                        stdout=log,
                        stderr=log,
                    )
                )
        guilds = [g.id for g in self.emu.world.guilds]
        try:
            await self.emu.wait_for(
                lambda: (
                    self.emu.gateway.connected >= len(guilds)
                    and all(self.emu.store.commands.get(g) for g in guilds)
                ),
                60,
            )
        except TimeoutError:
            raise RuntimeError(f"the bot did not come up; its log:\n{self.bot_log()}") from None

    def bot_log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    async def stop(self) -> None:
        for process in self.processes:
            if process.returncode is None:
                process.terminate()
        for process in self.processes:
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()
        await self.proxy.stop()
        await self.emu.stop()

    @property
    def rate_limited(self) -> list[CallRecord]:
        """The requests Discord answered 429 since the measured burst began."""
        return [c for c in self.emu.rate_limited if c.at >= self.started]

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    async def unposted(self) -> tuple[int, int]:
        """(jobs, jobs whose final message is not on Discord yet), from the bot's own record."""
        [row] = await self.store.rows("SELECT COUNT(*), SUM(1 - result_posted) FROM jobs")
        return int(row[0]), int(row[1] or 0)

    async def settle(self, interactions: Sequence[Interaction], deadline: float) -> None:
        """Wait until every interaction was answered (a job made, or refused: late acks expire)
        and every job that exists has its final message on Discord."""
        while True:
            for process in self.processes:
                if process.returncode is not None:
                    raise RuntimeError(f"a bot exited ({process.returncode}); its log:\n{self.bot_log()}")
            answered = all(_answered(i) for i in interactions)
            jobs, waiting = await self.unposted()
            if answered and waiting == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{waiting} of {jobs} results not posted before the timeout")
            await asyncio.sleep(0.25)

    async def drive(self) -> tuple[list[Interaction], list[Interaction], Usage, Usage]:
        """The warm-up, the burst of /imagine, then the clicks; the bot's usage before the burst
        and after the clicks."""
        knobs = self.knobs
        deadline = time.monotonic() + knobs.timeout
        if knobs.warmup:
            # A bot that has been running has its connections open; a fresh one would open them
            # during the burst. The warm-up's jobs end before anything is measured.
            await self.settle(await self.burst(knobs.warmup, WARM_UP), deadline)
            await self.proxy.mark()
        # This process is the harness (the emulator, Discord's stand-in): what it holds by now (the
        # OpenAPI spec, the world, the warm-up) is never garbage, and every full collection
        # walking it again stalled the emulator up to half a second in the burst, an artefact that
        # landed on the acknowledgements it times (docs/performance.md). The bots are left as they are.
        gc.collect()
        gc.freeze()
        if self.postmaster is not None:
            self.server_before = (tree_cpu(self.postmaster), await self.store.transactions())
        self.started = self.emu.clock.now()
        before = Usage.total(self.pids)
        watcher = asyncio.create_task(self.watch_loop())
        imagines = await self.burst(knobs.jobs, "bench job")
        sampler = asyncio.create_task(self.sample_pushes())
        await self.settle(imagines, deadline)
        sampler.cancel()  # done already, unless no task succeeded (a fault rate of 100 %)
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        # The measured jobs' messages (each is its /imagine's response) that show a result.
        messages = self.emu.store.messages
        shown = (messages[i.original.id] for i in imagines if i.original is not None)
        results = [m for m in shown if _u1(m) is not None][: knobs.clicks]
        clicks = await back_to_back(self.emu.click(self._owner(m), m.id, _u1(m) or "") for m in results)
        await self.settle(clicks, deadline)
        watcher.cancel()
        return imagines, clicks, before, Usage.total(self.pids)

    async def server_used(self) -> tuple[float, int]:
        """PostgreSQL's CPU seconds (every server process) and the transactions since the burst
        began, read once the bots stopped (their connections' counts are in then)."""
        if self.postmaster is None:
            return math.nan, 0
        made = await self.store.transactions()
        return tree_cpu(self.postmaster) - self.server_before[0], made - self.server_before[1]

    async def watch_loop(self) -> None:
        """Record the emulator's stalls: while its loop is busy, requests wait unread and are
        stamped late, which bunches them together (a rate limit may then refuse what was sent
        in time) and adds to the latencies measured."""
        while True:
            before = time.monotonic()
            await asyncio.sleep(STALL / 2)
            late = time.monotonic() - before - STALL / 2
            if late > STALL:
                self.stalls.append(late)

    async def sample_pushes(self) -> None:
        """The bot's CPU per backend push, over the stretch where its only work is the pushes
        and what they cause (progress edits, the finals of failed tasks): from a second after
        every job was submitted until the first task succeeds."""
        window: list[tuple[float, int]] = []
        try:
            while True:
                await asyncio.sleep(0.5)
                counts = await self.proxy.progress()
                if counts["succeeded"]:
                    break
                if counts["submitted"] >= self.knobs.jobs:
                    window.append((Usage.total(self.pids).cpu, counts["pushes"]))
                    if len(window) == 3 and PROFILE_PUSHES:
                        os.kill(self.pids[0], signal.SIGUSR1)
        finally:
            if len(window) >= 3 and PROFILE_PUSHES:
                os.kill(self.pids[0], signal.SIGUSR2)
            # The first two samples (a second) still see the submits' first writes.
            if len(window) > 3 and window[-1][1] > window[2][1]:
                self.push_cpu = (window[-1][0] - window[2][0]) / (window[-1][1] - window[2][1])

    async def burst(self, count: int, label: str) -> list[Interaction]:
        """``count`` /imagine, sent back to back."""
        return await back_to_back(
            self.emu.slash(
                self.users[n % len(self.users)],
                self.channels[n % len(self.channels)],
                "imagine",
                prompt=f"{label} {n}, a lighthouse at dusk",
            )
            for n in range(count)
        )

    def _owner(self, message: Message) -> int:
        # The job message mentions its owner: <@id>.
        for user in self.users:
            if f"<@{user}>" in message.content:
                return user
        raise LookupError(f"no member mentioned in message {message.id}")


async def back_to_back(sends: Iterable[Awaitable[Interaction]]) -> list[Interaction]:
    """Dispatch each interaction as soon as the previous one is sent, giving the emulator's event
    loop a turn in between: Discord accepts callbacks while it delivers events, and an emulator
    busy sending all of them first would add its own sending time to every acknowledgement it
    measures. How long the burst took to send is a row of the table."""
    sent = []
    for send in sends:
        sent.append(await send)
        await asyncio.sleep(0)
    return sent


def _answered(interaction: Interaction) -> bool:
    """The bot said how it went (the deferred "thinking" reply was replaced) or it was too late."""
    original = interaction.original
    return bool(interaction.errors or interaction.followups or (original and not original.loading))


def _u1(message: Message) -> str | None:
    for row in message.components:
        for component in row.get("components", []):
            if component.get("label") == "U1":
                return str(component["custom_id"])
    return None


# -------------------------------------------------------------------------------- measures


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def ms(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value * 1000:.0f}"


def spread(values: Sequence[float], quantiles: Sequence[float]) -> str:
    return " / ".join(ms(percentile(values, q)) for q in quantiles)


def _first_callbacks(emu: DiscordEmulator) -> dict[int, float]:
    """When each interaction's first callback reached the emulator, by interaction id."""
    first: dict[int, float] = {}
    for call in emu.calls:
        if call.route is not None and call.route.endswith("/callback"):
            interaction_id = int(call.path.split("/")[2])
            first.setdefault(interaction_id, call.at)
    return first


def ack_latencies(emu: DiscordEmulator, interactions: Sequence[Interaction]) -> list[float]:
    """Seconds from the interaction's dispatch to its first callback reaching the emulator."""
    first = _first_callbacks(emu)
    return [first[i.id] - i.created_at for i in interactions if i.id in first]


def acknowledged_in(emu: DiscordEmulator, interactions: Sequence[Interaction]) -> float:
    """Seconds from the first interaction's dispatch to the last one's acknowledgement: unlike a
    latency, it does not shrink when the emulator sends the burst more slowly."""
    first = _first_callbacks(emu)
    acked = [first[i.id] for i in interactions if i.id in first]
    return max(acked) - min(i.created_at for i in interactions) if acked else math.nan


def _span(interactions: Sequence[Interaction]) -> float:
    """Seconds from the first interaction's dispatch to the last one's."""
    stamps = [i.created_at for i in interactions]
    return max(stamps) - min(stamps) if stamps else math.nan


def _final(writes: list[tuple[float, bool, bool]]) -> tuple[float, bool] | None:
    """(time, through the interaction?) of the first write showing the job ended."""
    return next(((at, hooked) for at, hooked, running in writes if not running), None)


#: The measured jobs (not the warm-up's).
_MEASURED = f"(prompt IS NULL OR prompt NOT LIKE '{WARM_UP} %')"


async def read_jobs(store: StoreAt) -> tuple[list[tuple[Any, ...]], dict[int, str]]:
    """The measured jobs' (id, message id, task id, status, account name), and their prompts by id."""
    jobs = await store.rows(
        f"""SELECT j.id, j.message_id, j.backend_task_id, j.status, a.name
            FROM jobs j LEFT JOIN accounts a ON a.id = j.account_id WHERE {_MEASURED}"""
    )
    prompts = await store.rows(f"SELECT id, prompt FROM jobs WHERE parent_job_id IS NULL AND {_MEASURED}")
    return jobs, {int(r[0]): str(r[1]) for r in prompts}


def measure(
    run: Run,
    jobs: list[tuple[Any, ...]],
    prompts: dict[int, str],
    report: dict[str, Any],
    imagines: list[Interaction],
    clicks: list[Interaction],
    used: float,
    rss: float,
) -> dict[str, str]:
    emu = run.emu
    total = len(jobs)
    calls = [c for c in emu.calls if c.at >= run.started]
    ok_calls = [c for c in calls if c.status < 400 and c.route is not None]
    # Every write of a message, in order: (time, through the interaction's webhook?, shows a
    # running job?). A job's message is either its interaction's response (written through the
    # webhook, then edited through the channel) or a channel post. A running job's message has a
    # Cancel button (custom id mjb:c:…), put there by its first write and left by the progress
    # edits (they send no components); the final, and later button restyles (a result's clicked
    # button turns blurple), send the result's buttons, or none.
    writes: dict[int, list[tuple[float, bool, bool]]] = {}
    posts = sum(1 for c in ok_calls if c.method == "POST" and c.route == "/channels/{channel_id}/messages")
    for job in jobs:
        message = emu.store.messages.get(int(job[1])) if job[1] is not None else None
        if message is not None and message.interaction_id is None:  # a channel post
            writes[message.id] = [(SnowflakeGenerator.timestamp(message.id), False, True)]
    for call in ok_calls:
        if call.method == "PATCH" and (call.route or "").endswith("/messages/{message_id}"):
            webhook = (call.route or "").startswith("/webhooks/")
            body = call.body if isinstance(call.body, dict) else {}
            running = "components" not in body or '"mjb:c:' in json.dumps(body["components"])
            writes.setdefault(int(call.path.rsplit("/", 1)[1]), []).append((call.at, webhook, running))
    finished = [j for j in jobs if j[3] in TERMINAL and j[1] is not None]
    finals = sum(1 for j in finished if writes.get(int(j[1])))
    finals_hooked = sum(1 for j in finished if (_final(writes.get(int(j[1])) or []) or (0, False))[1])
    hooked = sum(1 for ws in writes.values() for _, w, _ in ws if w)
    all_writes = sum(len(ws) for ws in writes.values())
    # Progress edits: every write but the first (the post, or the interaction's "thinking…"
    # filled in) and the final.
    firsts = sum(1 for ws in writes.values() if ws)
    progress = all_writes - firsts - finals

    # Backend done → the last write of the job's message (its final), and end-to-end vs backend.
    created = {i.id: i.created_at for i in imagines}
    by_prompt: dict[int, float] = {}
    for inter in imagines:
        options = {o["name"]: o["value"] for o in inter.data.get("options", [])}
        by_prompt[int(str(options["prompt"]).split()[2].rstrip(","))] = created[inter.id]
    tasks: dict[str, list[float | None]] = report["tasks"]
    after_done: list[float] = []
    ratios: list[float] = []
    for job_id, message_id, task_id, _status, _account in jobs:
        submitted, done = tasks.get(task_id, (None, None)) if task_id else (None, None)
        found = _final(writes.get(int(message_id)) or []) if message_id is not None else None
        if done is None or found is None:
            continue
        final = found[0]
        after_done.append(final - done)
        prompt = prompts.get(job_id)
        if prompt is not None and submitted is not None and done > submitted:
            started = by_prompt.get(int(str(prompt).split()[2].rstrip(",")))
            if started is not None:
                ratios.append((final - started) / (done - submitted))

    # The global budget: every call with the bot token that is not an interaction/webhook route.
    global_times = sorted(
        c.at for c in ok_calls if not (c.route or "").startswith(("/interactions/", "/webhooks/"))
    )
    peak = 0
    start = 0
    for end, at in enumerate(global_times):
        while global_times[start] <= at - SATURATION_WINDOW:
            start += 1
        peak = max(peak, end - start + 1)
    share = peak / SATURATION_WINDOW / GLOBAL_BUDGET

    requests: dict[str, int] = report["requests"]
    events = report["pushes"] + report["listed"] + requests["fetch"]
    imagine_acks = ack_latencies(emu, imagines)
    click_acks = ack_latencies(emu, clicks)
    failed = sum(1 for j in jobs if j[3] != JobStatus.SUCCESS.value)
    return {
        "jobs (of them failed)": f"{total} ({failed})",
        "interactions expired unanswered (3 s)": str(sum(1 for i in (*imagines, *clicks) if i.errors)),
        "/imagine burst sent over, ms": ms(_span(imagines)),
        "/imagine burst acknowledged in, ms": ms(acknowledged_in(emu, imagines)),
        "/imagine ack p50 / p99 / max, ms": spread(imagine_acks, (0.5, 0.99, 1.0)),
        "click ack p50 / p99 / max, ms": spread(click_acks, (0.5, 0.99, 1.0)),
        "backend done → final p50 / p99, ms": spread(after_done, (0.5, 0.99)),
        "end-to-end / backend-only, p50": f"{percentile(ratios, 0.5):.2f}",
        "Discord first writes / progress edits / finals per job": (
            f"{firsts / total:.2f} / {progress / total:.2f} / {finals / total:.2f}"
        ),
        "channel posts per job; finals via the interaction": (
            f"{posts / total:.2f}; {finals_hooked / max(finals, 1):.0%}"
        ),
        "Discord writes outside the global budget": f"{hooked / max(all_writes, 1):.0%}",
        "Discord 429s received": str(len(run.rate_limited)),
        f"emulator stalls over {STALL * 1000:.0f} ms (longest, ms)": (
            f"{len(run.stalls)} ({max(run.stalls, default=0) * 1000:.0f})"
        ),
        "Discord violations": str(len(emu.violations)),
        "most tasks at once on one account (max_jobs)": (
            f"{busiest_account(jobs, tasks)} ({run.knobs.max_jobs})"
        ),
        "backend submits / job": f"{requests['submit'] / total:.2f}",
        "backend fetch requests / job": f"{(requests['fetch'] + requests['list']) / total:.2f}",
        "backend tasks fetched / job": f"{(requests['fetch'] + report['listed']) / total:.2f}",
        "bot CPU ms / job": f"{used / total * 1000:.1f}",
        "bot CPU ms / backend event (all work)": f"{used / max(events, 1) * 1000:.2f}",
        "bot CPU ms / backend push, while jobs run": (
            "n/a" if math.isnan(run.push_cpu) else f"{run.push_cpu * 1000:.2f}"
        ),
        "bot peak RSS, MiB": f"{rss:.0f}",
        f"global budget used, busiest {SATURATION_WINDOW:.0f} s": f"{share:.0%}",
    }


def busiest_account(jobs: list[tuple[Any, ...]], tasks: dict[str, list[float | None]]) -> int:
    """The most tasks the fake service ran at once for one account (by name: the processes'
    accounts of one name are one service account), from its submit and end times."""
    edges: dict[str, list[tuple[float, int]]] = {}
    for _, _, task_id, _, account in jobs:
        submitted, done = tasks.get(task_id, (None, None)) if task_id else (None, None)
        if submitted is not None and account is not None:
            edges.setdefault(account, []).extend([(submitted, 1), (done if done else math.inf, -1)])
    busiest = 0
    for changes in edges.values():
        running = 0
        for _, change in sorted(changes):  # an end before a start at the same instant
            running += change
            busiest = max(busiest, running)
    return busiest


# ------------------------------------------------------------------------------------ main


async def run_one(knobs: Knobs, cluster: Cluster | None) -> Result:
    with tempfile.TemporaryDirectory(prefix="mjbot-bench-") as tmp:
        run = Run(knobs, Path(tmp), cluster)
        await run.start()
        try:
            imagines, clicks, before, after = await run.drive()
            report = await run.proxy.report()
        except BaseException:
            kept = Path(tempfile.gettempdir()) / "mjbot-bench-bot.log"
            kept.write_bytes(run.log_path.read_bytes())
            print(f"the bot's whole log: {kept}", file=sys.stderr)
            raise
        finally:
            await run.stop()
        try:
            server = await run.server_used()
            jobs, prompts = await read_jobs(run.store)
            rows = measure(
                run, jobs, prompts, report, imagines, clicks, after.cpu - before.cpu, after.peak_rss_mib
            )
            rows["jobs per server"] = " / ".join(
                str(n)
                for _, n in await run.store.rows(
                    f"SELECT guild_id, COUNT(*) FROM jobs WHERE {_MEASURED} GROUP BY 1 ORDER BY 1"
                )
            )
            rows |= server_rows(server, len(jobs))
            await print_failures(run.store)
        finally:
            await run.store.close()
        print_rate_limits(run)
    return Result(knobs, rows)


def server_rows(server: tuple[float, int], jobs: int) -> dict[str, str]:
    """PostgreSQL's share of the work per job (its processes share the bots' machine)."""
    cpu, transactions = server
    if math.isnan(cpu):
        return {"PostgreSQL transactions / job": "n/a", "PostgreSQL CPU ms / job": "n/a"}
    return {
        "PostgreSQL transactions / job": f"{transactions / max(jobs, 1):.1f}",
        "PostgreSQL CPU ms / job": f"{cpu / max(jobs, 1) * 1000:.1f}",
    }


async def print_failures(store: StoreAt) -> None:
    """Why jobs failed, most common first (to stderr: the table stays one table)."""
    reasons = await store.rows(
        f"""SELECT error_kind, substr(error_detail, 1, 100), COUNT(*) FROM jobs
            WHERE status = 'failure' AND {_MEASURED} GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 5"""
    )
    for kind, detail, count in reasons:
        print(f"  failed x{count}: {kind}: {detail}", file=sys.stderr)


def print_rate_limits(run: Run) -> None:
    """Which requests Discord answered 429, with when (to stderr, as the failures)."""
    for call in run.rate_limited:
        print(
            f"  429 at {call.at - run.started:.1f} s ({call.scope} limit): {call.method} {call.route}",
            file=sys.stderr,
        )


def _column(knobs: Knobs) -> str:
    processes = f", {knobs.processes} processes" if knobs.processes > 1 else ""
    return f"{knobs.jobs} jobs, {knobs.store}{processes}"


def table(results: Sequence[Result]) -> str:
    head = ["", *(_column(r.knobs) for r in results)]
    names = list(results[0].rows)
    body = [[name, *(r.rows[name] for r in results)] for name in names]
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(head), rule, *(line(row) for row in body)])


def parse(argv: Sequence[str] | None = None) -> tuple[list[Knobs], argparse.Namespace]:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[200, 1000], help="one run (column) each")
    parser.add_argument("--users", type=int, help="members sending them (default: jobs / 5)")
    parser.add_argument("--channels", type=int, help="channels they are sent in (default: jobs / 20)")
    parser.add_argument("--clicks", type=float, default=0.2, help="share of results whose U1 is clicked")
    parser.add_argument("--duration", type=float, default=60.0, help="backend seconds per task (mean)")
    parser.add_argument("--spread", type=float, default=0.5, help="± this fraction of the duration")
    parser.add_argument(
        "--progress-steps",
        type=int,
        default=6,
        help="progress updates per task between its start and its end (Midjourney shows 6)",
    )
    parser.add_argument("--mode", choices=("push", "poll"), default="push", help="webhook push, or poll only")
    parser.add_argument("--fault-rate", type=float, default=0.02, help="share of backend tasks that fail")
    parser.add_argument("--poll-interval", type=float, default=5.0, help="JobSettings.poll_interval_seconds")
    parser.add_argument("--progress-edit", type=float, default=3.0, help="JobSettings.progress_edit_seconds")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds a run may take")
    parser.add_argument(
        "--warmup", type=int, default=64, help="/imagine sent and finished before the measured burst"
    )
    parser.add_argument(
        "--store", nargs="+", choices=("sqlite", "postgres"), default=["sqlite"], help="one run (column) each"
    )
    parser.add_argument(
        "--processes",
        type=int,
        nargs="+",
        default=[1],
        help="bot processes, one shard each (more than 1: --store postgres only); one run (column) each",
    )
    parser.add_argument(
        "--max-jobs", type=int, default=ACCOUNT_JOBS, help="jobs each service account may run at once"
    )
    parser.add_argument(
        "--accounts", type=int, help="service accounts every server names (default: room for every job)"
    )
    args = parser.parse_args(argv)
    if all(p > 1 for p in args.processes) and "postgres" not in args.store:
        parser.error("several processes share one PostgreSQL: add --store postgres")
    knobs = [
        Knobs(
            jobs=jobs,
            users=args.users or max(1, math.ceil(jobs / 5)),
            channels=args.channels or max(1, math.ceil(jobs / 20)),
            clicks=round(jobs * args.clicks),
            duration=args.duration,
            spread=args.spread,
            progress_steps=args.progress_steps,
            push=args.mode == "push",
            fault_rate=args.fault_rate,
            poll_interval=args.poll_interval,
            progress_edit_seconds=args.progress_edit,
            timeout=args.timeout,
            warmup=args.warmup,
            store=store,
            processes=processes,
            accounts=args.accounts or math.ceil((jobs + round(jobs * args.clicks)) / args.max_jobs),
            max_jobs=args.max_jobs,
        )
        for jobs in args.jobs
        for store in args.store
        for processes in args.processes
        if processes == 1 or store == "postgres"
    ]
    return knobs, args


async def amain(argv: Sequence[str] | None = None) -> str:
    runs, args = parse(argv)
    cluster = None
    if "postgres" in args.store:
        binaries = server_binaries()
        if binaries is None:
            raise SystemExit(
                "--store postgres needs PostgreSQL's server binaries: apt-get install postgresql"
            )
        cluster = Cluster(binaries)
        cluster.start()
    try:
        results = [await run_one(knobs, cluster) for knobs in runs]
    finally:
        if cluster is not None:
            cluster.stop()
    k = runs[0]
    title = (
        f"mode {args.mode}, backend {k.duration:g} s ± {k.spread:.0%} in {k.progress_steps} progress steps, "
        f"fault rate {k.fault_rate:.0%}, "
        f"poll interval {k.poll_interval:g} s, warm-up {k.warmup} /imagine, "
        f"accounts of {k.max_jobs} jobs each, "
        + "; ".join(
            f"{r.jobs} jobs: {r.users} members, {r.channels} channels, {r.clicks} clicks, "
            f"{r.accounts} accounts"
            for r in runs
        )
    )
    return f"{title}\n{interpreter()}\n\n{table(results)}"


def interpreter() -> str:
    """What the bot process runs on (the benchmark's own interpreter, bench.bot_process's loop):
    the CPU figures depend on it (on this machine a job cost ~10 % more CPU on pyenv's build of
    CPython 3.11 than on Debian's, docs/performance.md)."""
    loop = "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio's loop"
    version = platform.python_version()
    return f"bot on {platform.python_implementation()} {version} ({sys.executable}), {loop}"


def main(argv: Sequence[str] | None = None) -> None:
    # The emulator on the bots' loop (uvloop where installed): on asyncio's own, its CPU per request,
    # which it adds to every latency it measures, is higher (docs/performance.md).
    print(run_loop(amain(argv)), flush=True)


if __name__ == "__main__":
    main()
