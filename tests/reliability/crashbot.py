"""The real bot in its own process, so a test can kill -9 it (`python -m tests.reliability.crashbot SPEC`).

SPEC is the JSON that :func:`tests.reliability.harness.bot_spec` writes: where the Discord emulator
and the fake backend listen, the store, the secrets. Everything else is the unmodified `MjBot`.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import discord.gateway
import discord.http
import yarl

from bot.cli import _setup_logging, run_loop
from bot.config import Settings
from bot.discord_side.app import MjBot
from bot.jobs.rules import MemberRate


class CrashBot(MjBot):
    def __init__(self, settings: Settings, member_burst: int, *, hold_submits: bool = False) -> None:
        # The emulator sends every guild at once, so waiting 2 s for more is pointless here.
        super().__init__(settings, guild_ready_timeout=0.05)
        self._member_burst = member_burst
        self._hold_submits = hold_submits

    async def setup_hook(self) -> None:
        await super().setup_hook()
        # The fault runs start many jobs per member on purpose; the flood limit has its own test.
        self.engine.member_rate = MemberRate(burst=self._member_burst, every=0.01)
        if self._hold_submits:
            # Test-only kill point: a command is acknowledged, its job is never stored.
            self.engine.submit = _never  # type: ignore[method-assign]


async def _never(*args: object, **kwargs: object) -> Any:
    await asyncio.Event().wait()


async def _run(spec: dict[str, Any]) -> None:
    discord.http.Route.BASE = spec["api_base"]
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(spec["gateway_url"])
    settings = Settings.model_validate(spec["settings"])
    bot = CrashBot(settings, spec["member_burst"], hold_submits=spec.get("hold_submits", False))
    await bot.serve(spec["settings"]["discord"]["token"])


def main() -> None:
    # The same logging as `mjbot` (bot/cli.py), so the secret scan reads what production writes.
    spec = json.loads(sys.argv[1])
    _setup_logging("INFO", spec["settings"]["log"]["format"])
    run_loop(_run(spec))


if __name__ == "__main__":
    main()
