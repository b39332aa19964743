"""The engine's parts alone, on a real SQLite store in a temporary file and a real account pool
(no backend is called unless a test says so)."""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.config import JobSettings
from bot.domain import BackendKind, Job, JobKind
from bot.jobs.accounts import AccountPool
from bot.jobs.calls import CallCounter
from bot.jobs.dispatch import Dispatcher, ModelSlot
from bot.jobs.rules import Rules
from bot.jobs.tracking import Tracker
from bot.metrics import Metrics
from bot.store import Store

GUILD = 1
CHANNEL = 10


class Seen:
    """A JobObserver that keeps every job it was told about."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []

    def job_changed(self, job: Job) -> None:
        self.jobs.append(job)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "jobs.sqlite3")
    yield s
    await s.close()


@pytest.fixture
async def pool() -> AsyncIterator[AccountPool]:
    async with httpx.AsyncClient() as http:
        yield AccountPool(http)


async def add_account(
    store: Store,
    pool: AccountPool,
    name: str,
    kind: BackendKind = BackendKind.MJ_PROXY,
    max_jobs: int = 2,
    options: dict[str, str] | None = None,
) -> int:
    """A config-file account of ``kind`` in GUILD, known to ``pool``."""
    account_id = await store.upsert_config_account(
        guild_id=GUILD,
        name=name,
        kind=kind,
        base_url="http://127.0.0.1:9",
        max_jobs=max_jobs,
        channel_id=None,
        options=options or {},
    )
    accounts = await store.list_accounts()
    pool.sync(accounts, {a.id: "secret" for a in accounts})
    return account_id


async def queue(store: Store, owner_id: int, kind: JobKind = JobKind.IMAGINE, **fields: Any) -> Job:
    """A QUEUED job of ``owner_id`` in GUILD's CHANNEL."""
    return await store.create_job(
        guild_id=GUILD,
        channel_id=CHANNEL,
        owner_id=owner_id,
        kind=kind,
        prompt=f"a cat of {owner_id}",
        hook_secret=secrets.token_urlsafe(24),
        deadline=time.time() + 600,
        **fields,
    )


async def _no_model_slot(job: Job, account_id: int) -> ModelSlot | None:
    return None


async def _no_load() -> Counter[tuple[int, str]]:
    return Counter()


def make_tracker(store: Store, pool: AccountPool, seen: Seen) -> Tracker:
    """A tracker that adds no buttons of its own and asks for no dispatch pass."""
    calls = CallCounter(pool, Metrics())
    return Tracker(
        store, pool, seen, JobSettings(), calls, result_buttons=lambda job, snap: [], wake=lambda g: None
    )


def make_dispatcher(
    store: Store,
    pool: AccountPool,
    seen: Seen,
    start: Callable[[Job, int], Awaitable[None]],
    tracker: Tracker | None = None,
    owns: Callable[[int], bool] = lambda guild_id: True,
) -> Dispatcher:
    """A dispatcher whose dispatched jobs go to ``start``; no AIMG model limits."""
    tracker = tracker or make_tracker(store, pool, seen)
    rules = Rules(store, pool)
    return Dispatcher(
        store,
        pool,
        seen,
        rules,
        tracker,
        start=start,
        model_slot=_no_model_slot,
        model_load=_no_load,
        owns=owns,
    )
