"""Backend pushes between processes (docs/scaling.md): a push that reaches a process not running
the shard of its job's server is kept in the store and its owner told (LISTEN/NOTIFY); the owner
applies it, so only the owner writes to that server's channels."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Coroutine
from typing import Any

from bot.jobs.engine import JobEngine
from bot.shards import owns
from bot.store import Store

log = logging.getLogger(__name__)


class PushRelay:
    def __init__(self, store: Store, engine: JobEngine, shards: Collection[int], shard_count: int) -> None:
        self._store, self._engine = store, engine
        self._shards, self._shard_count = frozenset(shards), shard_count
        self._tasks: set[asyncio.Task[None]] = set()
        #: Set by stop(): pushes notified from then on stay kept for the next start.
        self._stopped = False

    def owns(self, guild_id: int) -> bool:
        return owns(guild_id, self._shards, self._shard_count)

    async def start(self) -> None:
        """Listen for pushes kept for this process, and apply those kept while it was away."""
        await self._store.listen_jobs(self._on_job, self._on_gap)
        await self._apply_kept()

    async def stop(self) -> None:
        self._stopped = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def hand_off(self, job_id: int, body: object) -> bool:
        """Keep the push for the job's owner when that is another process: whether it was."""
        job = await self._store.get_job(job_id)
        if job is None or self.owns(job.guild_id):
            return False
        await self._store.relay_push(job_id, job.guild_id, body)
        return True

    def _on_job(self, job_id: int, guild_id: int) -> None:
        if self.owns(guild_id):
            self._spawn(self._apply(job_id))

    def _on_gap(self) -> None:
        self._spawn(self._apply_kept())

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        if self._stopped:
            work.close()
            return
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            # The pushes stay kept: the next notification or gap applies them.
            log.warning("Relayed pushes not applied yet: %s: %s", type(exc).__name__, exc)

    async def _apply_kept(self) -> None:
        for job_id, guild_id in await self._store.relayed_jobs():
            if self.owns(guild_id):
                await self._apply(job_id)

    async def _apply(self, job_id: int) -> None:
        job = await self._store.get_job(job_id)
        for body in await self._store.take_relayed_pushes(job_id):
            if job is None or not await self._engine.tracking.on_push(job_id, job.hook_secret, body):
                log.info("job %s: a relayed push for a job that is gone was dropped", job_id)
