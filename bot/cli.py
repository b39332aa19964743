"""The ``mjbot`` command.

mjbot                       run with MJBOT_… settings; the local sandbox when no token is set
mjbot run --config FILE     run with a config file (same rule: no token, sandbox)
mjbot sandbox [--no-demo]   the local sandbox: Discord emulator + fake backend + the bot
mjbot check [--config FILE] check the config, the store and every config-file account; exit 1 if not OK
mjbot store copy --to URL [--config FILE]
                            copy the SQLite store ([store] path) into an empty PostgreSQL database
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from bot.config import ConfigError, Settings, StartupError, load_settings
from bot.logs import LogFormat, log_handler, redact_handlers

T = TypeVar("T")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mjbot", description="Image generation inside Discord.")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="Run the bot (the sandbox when no Discord token is configured).")
    run.add_argument("--config", type=Path, help="TOML config file (see config.example.toml).")
    run.add_argument(
        "--shard-count", type=int, help="Gateway shards in all (default: Discord's recommendation)."
    )
    run.add_argument(
        "--shards", metavar="IDS", help="The shard ids this process runs, e.g. 0-3 (needs --shard-count)."
    )
    sandbox = sub.add_parser("sandbox", help="Run the bot against a local Discord emulator and fake backend.")
    check = sub.add_parser("check", help="Check the config, the store and every config-file account.")
    check.add_argument("--config", type=Path, help="TOML config file (see config.example.toml).")
    store = sub.add_parser("store", help="Store maintenance.")
    copy = store.add_subparsers(dest="store_command", required=True).add_parser(
        "copy", help="Copy the SQLite store ([store] path) into an empty PostgreSQL database."
    )
    copy.add_argument(
        "--to", required=True, metavar="URL", help="postgresql://user:password@host:port/database"
    )
    copy.add_argument("--config", type=Path, help="TOML config file (see config.example.toml).")
    # Also on `mjbot` itself (`mjbot --port 8800`); a subcommand's copy only overrides when given.
    for p, default in ((parser, True), (run, False), (sandbox, False)):
        p.add_argument(
            "--no-demo",
            action="store_true",
            default=False if default else argparse.SUPPRESS,
            help="Sandbox: skip the scripted /imagine demo.",
        )
        p.add_argument(
            "--port",
            type=int,
            default=8765 if default else argparse.SUPPRESS,
            help="Sandbox: port of the Discord emulator (the playground page uses the next one).",
        )
        p.add_argument(
            "--log-level",
            default="INFO" if default else argparse.SUPPRESS,
            help="DEBUG, INFO, WARNING or ERROR.",
        )
    for p, default in ((parser, True), (run, False), (sandbox, False), (check, False)):
        p.add_argument(
            "--log-format",
            choices=("text", "json"),
            default=None if default else argparse.SUPPRESS,
            help="Log lines as text or JSON ([log] format).",
        )
    return parser


def _setup_logging(level: str, log_format: LogFormat = "text") -> None:
    logging.basicConfig(level=level.upper(), handlers=[log_handler(log_format)])
    # httpx logs every request URL at INFO; keep request lines out of the log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    redact_handlers()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command or "run"
    config = getattr(args, "config", None) or (
        Path(os.environ["MJBOT_CONFIG"]) if "MJBOT_CONFIG" in os.environ else None
    )
    discord = {
        key: value for key in ("shard_count", "shards") if (value := getattr(args, key, None)) is not None
    }
    try:
        settings = load_settings(config, **({"discord": discord} if discord else {}))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    # `mjbot check` prints a table; only warnings and errors go to the log.
    log_format = args.log_format or settings.log.format
    _setup_logging("WARNING" if command in ("check", "store") else args.log_level, log_format)
    if command == "check":
        from bot.check import check

        return run_loop(check(settings))
    if command == "store":
        return _copy_store(settings, args.to)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            if command == "sandbox" or settings.discord.token is None:
                _run_sandbox(settings, args, asked=command == "sandbox")
            else:
                run_loop(_run(settings))
    except StartupError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


def _run_sandbox(settings: Settings, args: argparse.Namespace, *, asked: bool) -> None:
    """The bot's one way into the top-level ``sandbox`` package, imported on use: it is in a source
    checkout, not in the wheel or the container image."""
    try:
        from sandbox.runner import run_sandbox
    except ModuleNotFoundError as exc:
        if exc.name != "sandbox":
            raise
        raise StartupError(
            "This install has no sandbox (it runs from a source checkout: python3 dev.py); "
            "set a Discord token ([discord] token or MJBOT_DISCORD_TOKEN) to run the bot."
        ) from None
    if not asked:
        print(
            "No Discord token configured ([discord] token or MJBOT_DISCORD_TOKEN): "
            "starting the local sandbox instead.\n"
        )
    run_loop(run_sandbox(settings, port=args.port, demo=not args.no_demo))


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` on uvloop where it is installed (everywhere but Windows), else on asyncio's
    own loop. uvloop's loop and sockets are C: every webhook push, acknowledgement and edit passes
    through them several times, and with it the bot spends ~10 % less CPU per backend push
    (docs/performance.md). The bot's code is the same on either loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def _copy_store(settings: Settings, url: str) -> int:
    from bot.config import is_postgres_url, postgres_where
    from bot.store.copy import copy_store

    if not is_postgres_url(url):
        print("--to takes a postgresql://user:password@host:port/database URL.", file=sys.stderr)
        return 2
    if not settings.store.path.is_file():
        print(
            f"There is no SQLite store at {settings.store.path} ([store] path): nothing to copy.",
            file=sys.stderr,
        )
        return 1
    try:
        counts = run_loop(copy_store(settings.store.path, url))
    except StartupError as exc:
        print(exc, file=sys.stderr)
        return 1
    for table, count in counts.items():
        print(f"{table:<24}{count:>10}")
    print(
        f"Copied {sum(counts.values())} rows from {settings.store.path} to {postgres_where(url)}; "
        "set [store] url to it (and keep the secret key) to use it."
    )
    return 0


async def _run(settings: Settings) -> None:
    from bot.discord_side.app import MjBot

    assert settings.discord.token is not None
    bot = MjBot(settings)
    async with bot:
        await bot.serve(settings.discord.token.get_secret_value())


if __name__ == "__main__":
    sys.exit(main())
