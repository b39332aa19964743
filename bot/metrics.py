"""The bot's Prometheus metrics, one registry per bot (tests run several bots in one process).

Labels are bounded and never carry a secret, token, id or prompt: ``service`` is a backend kind,
``reason`` an error kind, ``account`` an admin-chosen account name, ``route`` a Discord route
template (``PATCH /channels/{channel_id}/messages/{message_id}``). README "Operating it" lists them.
"""

from __future__ import annotations

import re
import time
from types import SimpleNamespace
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest

from bot.domain import BackendKind, ErrorKind, Job, JobStatus

#: ``service`` of a job that failed before any account took it.
NO_SERVICE = "none"
#: Discord's epoch (ms), for the time a snowflake encodes.
_DISCORD_EPOCH_MS = 1_420_070_400_000
#: A numeric path segment is named after the segment before it; anything else not listed as a
#: literal becomes a placeholder, so a token can never reach a label.
_ID_NAMES = {
    "channels": "{channel_id}",
    "messages": "{message_id}",
    "guilds": "{guild_id}",
    "webhooks": "{webhook_id}",
    "interactions": "{interaction_id}",
    "applications": "{application_id}",
    "commands": "{command_id}",
    "users": "{user_id}",
    "members": "{user_id}",
    "roles": "{role_id}",
}
_TOKEN_AFTER = {"{webhook_id}": "{webhook_token}", "{interaction_id}": "{interaction_token}"}
_LITERALS = frozenset(
    {
        *_ID_NAMES,
        "callback",
        "@original",
        "@me",
        "reactions",
        "typing",
        "pins",
        "threads",
        "gateway",
        "bot",
        "permissions",
        "bulk-delete",
        "bulk_delete",
        "attachments",
    }
)
_API_PREFIX = re.compile(r"^.*?/api/v\d+")
ACK_ROUTE = "POST /interactions/{interaction_id}/{interaction_token}/callback"
_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)
#: Ended jobs remembered until their final is published.
_TIMED_JOBS = 4096
_BACKEND_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0)


def discord_route(method: str, path: str) -> str:
    """``method`` and ``path`` as a route template: ids and tokens replaced by their names."""
    parts = []
    previous = ""
    for segment in _API_PREFIX.sub("", path).strip("/").split("/"):
        if segment.isdigit():
            name = _ID_NAMES.get(previous, "{id}")
        elif segment in _LITERALS:
            name = segment
        else:
            name = _TOKEN_AFTER.get(previous, "{param}")
        parts.append(name)
        previous = name if name.startswith("{") else segment
    return f"{method} /{'/'.join(parts)}"


def snowflake_time(snowflake: int) -> float:
    """Unix seconds a Discord snowflake was made at."""
    return ((snowflake >> 22) + _DISCORD_EPOCH_MS) / 1000


class Metrics:
    """The counters and histograms; gauges are set at scrape time (:meth:`set_load`)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        reg = self.registry
        ProcessCollector(registry=reg)
        self.jobs_started = Counter(
            "mjbot_jobs_started", "Jobs a backend accepted.", ["service"], registry=reg
        )
        self.jobs_finished = Counter(
            "mjbot_jobs_finished", "Jobs that ended with a result.", ["service"], registry=reg
        )
        self.jobs_failed = Counter(
            "mjbot_jobs_failed", "Jobs that failed or were cancelled.", ["service", "reason"], registry=reg
        )
        self.jobs_running = Gauge("mjbot_jobs_running", "Jobs at a backend now.", registry=reg)
        self.jobs_queued = Gauge("mjbot_jobs_queued", "Jobs waiting for a free account.", registry=reg)
        self.account_in_use = Gauge(
            "mjbot_account_jobs_in_use",
            "Jobs each account runs now (its capacity in use).",
            ["guild_id", "account", "service"],
            registry=reg,
        )
        self.account_capacity = Gauge(
            "mjbot_account_capacity",
            "Jobs each account may run at once.",
            ["guild_id", "account", "service"],
            registry=reg,
        )
        self.backend_requests = Counter(
            "mjbot_backend_requests", "Calls to backends (submits and fetches).", ["service"], registry=reg
        )
        self.backend_errors = Counter(
            "mjbot_backend_errors", "Backend calls that failed.", ["service", "reason"], registry=reg
        )
        self.pushes = Counter("mjbot_pushes_received", "Backend webhook pushes received.", registry=reg)
        self.discord_writes = Counter(
            "mjbot_discord_writes", "Discord REST writes (not GET).", ["route"], registry=reg
        )
        self.discord_rate_limited = Counter(
            "mjbot_discord_rate_limited", "Discord answers with status 429.", ["route"], registry=reg
        )
        self.ack_seconds = Histogram(
            "mjbot_ack_seconds",
            "From an interaction's creation to Discord accepting its acknowledgement.",
            buckets=_LATENCY_BUCKETS,
            registry=reg,
        )
        self.backend_seconds = Histogram(
            "mjbot_backend_seconds",
            "From a backend accepting a job to the job ending.",
            ["service"],
            buckets=_BACKEND_BUCKETS,
            registry=reg,
        )
        self.publish_seconds = Histogram(
            "mjbot_final_publish_seconds",
            "From a job ending to its final message being on Discord.",
            buckets=_LATENCY_BUCKETS,
            registry=reg,
        )
        #: time.monotonic() of each job's accepted submit, and of its end (until published).
        self._submitted_at: dict[int, float] = {}
        self._ended_at: dict[int, float] = {}

    def render(self) -> bytes:
        return generate_latest(self.registry)

    # -------------------------------------------------------------------------------- jobs

    def job_started(self, job_id: int, service: BackendKind) -> None:
        self.jobs_started.labels(service.value).inc()
        self._submitted_at[job_id] = time.monotonic()

    def job_ended(self, job: Job, service: BackendKind | None) -> None:
        name = service.value if service is not None else NO_SERVICE
        if job.status is JobStatus.SUCCESS:
            self.jobs_finished.labels(name).inc()
        elif job.status is JobStatus.CANCELLED:
            self.jobs_failed.labels(name, "cancelled").inc()
        else:
            self.jobs_failed.labels(name, job.error_kind.value if job.error_kind else "unknown").inc()
        now = time.monotonic()
        started = self._submitted_at.pop(job.id, None)
        if started is not None:
            self.backend_seconds.labels(name).observe(now - started)
        self._ended_at[job.id] = now
        if len(self._ended_at) > _TIMED_JOBS:
            # A final that is never published (its message was gone for good) is forgotten.
            del self._ended_at[next(iter(self._ended_at))]

    def final_published(self, job_id: int) -> None:
        ended = self._ended_at.pop(job_id, None)
        if ended is not None:
            self.publish_seconds.observe(time.monotonic() - ended)

    def backend_call(self, service: BackendKind) -> None:
        self.backend_requests.labels(service.value).inc()

    def backend_failed(self, service: BackendKind, kind: ErrorKind) -> None:
        self.backend_errors.labels(service.value, kind.value).inc()

    def set_load(self, running: int, queued: int, accounts: list[tuple[int, str, str, int, int]]) -> None:
        """Scrape-time gauges; ``accounts`` as (guild id, name, service, in use, capacity)."""
        self.jobs_running.set(running)
        self.jobs_queued.set(queued)
        self.account_in_use.clear()
        self.account_capacity.clear()
        for guild_id, name, service, in_use, capacity in accounts:
            self.account_in_use.labels(str(guild_id), name, service).set(in_use)
            self.account_capacity.labels(str(guild_id), name, service).set(capacity)

    # ----------------------------------------------------------------------------- Discord

    def discord_trace(self) -> aiohttp.TraceConfig:
        """An aiohttp trace for discord.py's session (REST, webhooks, interaction callbacks).

        Its cost per Discord request (docs/performance.md) is bounded by the bot's own budget of
        50 requests/s; pushes, the hot path, only increment a counter."""
        trace = aiohttp.TraceConfig()
        trace.on_request_end.append(self._on_discord_response)
        return trace

    async def _on_discord_response(
        self, _session: aiohttp.ClientSession, _ctx: SimpleNamespace, params: Any
    ) -> None:
        method: str = params.method
        path: str = params.url.path
        route = discord_route(method, path)
        status: int = params.response.status
        if method != "GET":
            self.discord_writes.labels(route).inc()
        if status == 429:
            self.discord_rate_limited.labels(route).inc()
        elif route == ACK_ROUTE and status < 400:
            interaction_id = _API_PREFIX.sub("", path).split("/")[2]
            self.ack_seconds.observe(max(0.0, time.time() - snowflake_time(int(interaction_id))))
