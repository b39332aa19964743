"""The dispatcher lease (docs/scaling.md): of the processes sharing a store, the one holding it
assigns every server's queued jobs; it is confirmed every LEASE_CHECK_SECONDS and taken over by
another process when its holder dies. The news between processes reaches the dispatcher here:
a job assigned to this process's server, a server's queue with news, a job that ended."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.jobs.dispatch import Dispatcher
from bot.store import Store
from bot.store.coordination import QUEUE_NEWS
from bot.store.db import LEASE_CHECK_SECONDS

log = logging.getLogger(__name__)


class Leadership:
    def __init__(self, store: Store, dispatcher: Dispatcher) -> None:
        self._store, self._dispatcher = store, dispatcher
        self._lease = store.dispatcher_lease()
        self._holding: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Take the lease if it is free (before anything is dispatched), listen for the news,
        and keep confirming or trying to take the lease."""
        self._dispatcher.lead(await self._lease.hold())
        await self._store.listen_dispatch(self._on_news, self._on_gap)
        self._holding = asyncio.create_task(self._hold())

    async def stop(self) -> None:
        """Give the lease up now, for another process to take at its next check."""
        if self._holding is not None:
            self._holding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._holding
        self._dispatcher.lead(False)
        await self._lease.release()

    async def _hold(self) -> None:
        while True:
            await asyncio.sleep(LEASE_CHECK_SECONDS)
            leading = await self._lease.hold()
            if leading != self._dispatcher.leading:
                log.info("This process %s the dispatcher.", "is now" if leading else "is no longer")
            self._dispatcher.lead(leading)

    def _on_news(self, job_id: int, guild_id: int, account_id: int | None) -> None:
        if account_id is not None:
            self._dispatcher.assigned(job_id, guild_id, account_id)
        elif not self._dispatcher.leading:
            return
        elif job_id == QUEUE_NEWS:
            self._dispatcher.wake(guild_id)
        else:
            self._dispatcher.wake_waiting()  # a job ended (or has a push relayed): maybe a free slot

    def _on_gap(self) -> None:
        # Queue news may have been missed; assignments missed expire and are made again.
        self._dispatcher.wake_waiting()
