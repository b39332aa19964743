"""The bot as its own process, pointed at a Discord emulator run elsewhere (``bench/load.py``).

``python -m bench.bot_process SETTINGS.json`` with ``MJBOT_BENCH_API_BASE`` (the emulator's REST
base, ``…/api/v10``) and ``MJBOT_BENCH_GATEWAY`` (its ``ws://…/gateway``) in the environment. The
settings file is a ``Settings`` dump with secrets in clear: it is written by the benchmark into
its own temporary directory. SIGTERM closes the bot cleanly. With ``MJBOT_BENCH_PROFILE=FILE`` the
whole run is profiled (cProfile) into FILE, to see where the bot's CPU goes under load. With
``MJBOT_BENCH_PROFILE_PUSHES=FILE`` only the stretch the benchmark measures CPU per push over is:
it sends SIGUSR1 when that stretch starts and SIGUSR2 when it ends.
"""

from __future__ import annotations

import asyncio
import cProfile
import logging
import os
import signal
import sys
from pathlib import Path

import discord.gateway
import discord.http
import yarl

from bot.cli import run_loop
from bot.config import Settings
from bot.discord_side.app import MjBot


def point_at_emulator(api_base: str, gateway_url: str) -> None:
    """What ``point_discord_py_at`` does, from URLs (the emulator object lives in another process)."""
    discord.http.Route.BASE = api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


async def run(settings: Settings) -> None:
    token = settings.discord.token
    if token is None:
        raise SystemExit("the settings have no Discord token")
    # The emulator sends its one guild at once; waiting 2 s for more is pointless (as in Sandbox).
    bot = MjBot(settings, guild_ready_timeout=0.05)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    window = os.environ.get("MJBOT_BENCH_PROFILE_PUSHES")
    if window:
        profiler = cProfile.Profile()

        def dump() -> None:
            profiler.disable()
            profiler.dump_stats(window)

        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGUSR1, profiler.enable)
        loop.add_signal_handler(signal.SIGUSR2, dump)
    runner = asyncio.create_task(bot.start(token.get_secret_value()))
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if runner.done():
        runner.result()  # raises why the bot died
        return
    await bot.close()
    await runner


def main() -> None:
    logging.basicConfig(level=os.environ.get("MJBOT_BENCH_LOG", "WARNING"), stream=sys.stderr)
    point_at_emulator(os.environ["MJBOT_BENCH_API_BASE"], os.environ["MJBOT_BENCH_GATEWAY"])
    settings = Settings.model_validate_json(Path(sys.argv[1]).read_text(encoding="utf-8"))
    profile = os.environ.get("MJBOT_BENCH_PROFILE")
    if not profile:
        run_loop(run(settings))
        return
    with cProfile.Profile() as profiler:
        run_loop(run(settings))
    profiler.dump_stats(profile)


if __name__ == "__main__":
    main()
