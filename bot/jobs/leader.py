"""The dispatcher lease (docs/scaling.md): of the processes sharing a store, the one holding it
assigns every server's queued jobs; it is confirmed every LEASE_CHECK_SECONDS and taken over by
another process when its holder dies. The news between processes reaches the dispatcher here:
a job assigned to this process's server, a server's queue with news, a job that ended, accounts
changed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from bot.jobs.dispatch import Dispatcher
from bot.store import Store
from bot.store.coordination import News
from bot.store.db import LEASE_CHECK_SECONDS

log = logging.getLogger(__name__)


class Leadership:
    """``sync_accounts`` reads the accounts from the store again (another process changed them)."""

    def __init__(
        self, store: Store, dispatcher: Dispatcher, sync_accounts: Callable[[], Awaitable[None]]
    ) -> None:
        self._store, self._dispatcher, self._sync_accounts = store, dispatcher, sync_accounts
        self._lease = store.dispatcher_lease()
        self._holding: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Take the lease if it is free (before anything is dispatched), listen for the news,
        and keep confirming or trying to take the lease."""
        self._dispatcher.lead(await self._lease.hold())
        await self._store.listen_dispatch(self._on_news, self._on_gap)
        await self._sync_accounts()  # those another process declared before this one listened
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

    def _on_news(self, news: News) -> None:
        if news.kind == "assigned":
            self._dispatcher.assigned(news.job_id, news.guild_id, news.account_id)
        elif news.kind == "refused":
            self._dispatcher.refused(news.job_id, news.guild_id, news.account_id)
        elif news.kind == "accounts":
            self._dispatcher.spawn(self._accounts_changed())
        elif self._dispatcher.leading and news.kind == "queue":
            self._dispatcher.wake(news.guild_id)
        elif self._dispatcher.leading and news.kind == "ended":
            self._dispatcher.wake_waiting()  # its slot is free

    async def _accounts_changed(self) -> None:
        await self._sync_accounts()
        self._dispatcher.wake_waiting()

    def _on_gap(self) -> None:
        # News may have been missed; assignments missed expire and are made again.
        self._dispatcher.spawn(self._accounts_changed())
