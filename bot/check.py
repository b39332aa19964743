"""``mjbot check``: the config is valid, the store opens and takes a write, and every config-file
account answers and accepts its credentials (the probe of ``/setup account test``). One table;
the exit status is 1 when a row failed."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

from bot.backends import create_backend
from bot.config import AccountSettings, Settings
from bot.domain import Account
from bot.http_client import make_http_client
from bot.jobs.guild_setup import PROBE_OK, probe
from bot.store import open_store

HEADINGS = ("CHECK", "SERVER", "SERVICE", "CAPACITY", "RESULT")


@dataclass(frozen=True)
class Row:
    check: str
    server: str
    service: str
    capacity: str
    ok: bool
    detail: str

    def cells(self) -> tuple[str, ...]:
        result = f"{'OK  ' if self.ok else 'FAIL'} {self.detail}"
        return (self.check, self.server, self.service, self.capacity, result)


async def run_checks(settings: Settings) -> list[Row]:
    rows = [Row("config", "-", "-", "-", True, f"valid; config-file accounts: {len(settings.accounts)}")]
    rows.append(await _check_store(settings))
    async with make_http_client() as http:
        rows += await asyncio.gather(*(_check_account(acc, http) for acc in settings.accounts))
    return rows


async def _check_store(settings: Settings) -> Row:
    path = settings.store.where
    try:
        store, _ = await open_store(settings.store)
        try:
            problem = await store.writable()
        finally:
            await store.close()
    except Exception as exc:  # whatever stops the bot's own start: a bad path, a corrupt file, a bad key
        problem = f"cannot open {path} ({type(exc).__name__})"
    return Row("store", "-", "-", "-", problem is None, problem or f"{path} opens and takes writes")


async def _check_account(acc: AccountSettings, http: httpx.AsyncClient) -> Row:
    account = Account(
        id=0,
        guild_id=acc.guild_id,
        name=acc.name,
        kind=acc.kind,
        base_url=acc.base_url,
        secret=acc.secret.get_secret_value(),
        max_jobs=acc.max_jobs,
        channel_id=acc.channel_id,
        options=acc.options,
    )
    try:
        problem = await probe(create_backend(account, http))
    except ValueError as exc:  # a backend kind this build cannot run
        problem = str(exc)
    return Row(
        f"account {acc.name}",
        str(acc.guild_id),
        acc.kind.value,
        f"{acc.max_jobs} jobs",
        problem is None,
        problem or PROBE_OK,
    )


def table(rows: list[Row]) -> str:
    lines = [HEADINGS, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADINGS) - 1)]
    return "\n".join(
        "  ".join([*(cell.ljust(w) for cell, w in zip(line[:-1], widths, strict=True)), line[-1]])
        for line in lines
    )


async def check(settings: Settings) -> int:
    rows = await run_checks(settings)
    print(table(rows))
    return 0 if all(row.ok for row in rows) else 1
