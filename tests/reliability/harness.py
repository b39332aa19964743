"""Crash and fault runs: the bot in a subprocess that can be killed -9, and the tally of what happened.

The Discord emulator and the fake midjourney-proxy run in the test's process (they are "the outside
world" and survive the bot's crashes); the bot runs in `tests.reliability.crashbot` against the same
SQLite store across restarts. :func:`tally` then compares three records that do not depend on the
bot's own word: the store, the emulator's channel and the fake backend's request log.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import sqlite3
import sys
import urllib.parse
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bot.domain import JobStatus
from sandbox.discord import DiscordEmulator
from sandbox.fake_mj_proxy import FakeMjProxy
from sandbox.runner import Sandbox

REPO = Path(__file__).resolve().parents[2]
#: The fake backend's API secret: it must never show up in a log line or a Discord payload.
PROXY_SECRET = "proxy-secret-9f8e7d6c5b4a"


def bot_spec(box: Sandbox, *, member_burst: int, hold_submits: bool = False) -> dict[str, Any]:
    """What the child process needs to run the bot the in-process sandbox would run."""
    settings = json.loads(box.settings.model_dump_json())
    # model_dump_json masks secrets; the child needs the real ones.
    settings["discord"]["token"] = box.emulator.world.token
    for account in settings["accounts"]:
        account["secret"] = box.proxy.secret
    settings["store"]["secret_key"] = None
    if box.settings.store.url is not None:
        settings["store"]["url"] = box.settings.store.url.get_secret_value()
    return {
        "api_base": box.emulator.api_base,
        "gateway_url": box.emulator.gateway_url,
        "settings": settings,
        "member_burst": member_burst,
        "hold_submits": hold_submits,
    }


class BotProcess:
    """The bot in a child process; :meth:`kill` is a real SIGKILL (no cleanup of any kind)."""

    def __init__(
        self, box: Sandbox, log_path: Path, *, member_burst: int = 10_000, guild_id: int | None = None
    ) -> None:
        """``guild_id``: with several processes, the guild whose shard this one runs (it is up
        when that guild's shard is connected, down when it no longer is)."""
        self._box = box
        self._guild_id = guild_id
        self._log_path = log_path
        self._member_burst = member_burst
        self._proc: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] | None = None
        self.starts = 0
        self.kills = 0
        #: Start the bot with its job submits blocked (a kill point between acknowledgement and job).
        self.hold_submits = False

    async def start(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109 (explicit deadline)
        emu = self._box.emulator
        self._log = self._log_path.open("ab")
        spec = json.dumps(
            bot_spec(self._box, member_burst=self._member_burst, hold_submits=self.hold_submits)
        )
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.reliability.crashbot",
            spec,
            cwd=REPO,
            stdout=self._log,
            stderr=self._log,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.starts += 1
        proc = self._proc

        def ready() -> bool | None:
            if proc.returncode is not None:
                raise RuntimeError(f"the bot exited with {proc.returncode}; see {self._log_path}")
            return True if self._connected() else None

        await emu.wait_for(ready, timeout=timeout)
        # READY is sent on IDENTIFY; give discord.py a moment to build its guild cache from it.
        await asyncio.sleep(0.3)

    async def kill(self) -> None:
        """SIGKILL, then wait until the emulator has seen the gateway connection drop."""
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._proc.pid, signal.SIGKILL)
        await self._proc.wait()
        self._proc = None
        self.kills += 1
        if self._log is not None:
            self._log.close()
            self._log = None
        emu = self._box.emulator
        await emu.wait_for(lambda: True if not self._connected() else None, timeout=10)

    def _connected(self) -> bool:
        gateway = self._box.emulator.gateway
        return bool(gateway.connected if self._guild_id is None else gateway.holds(self._guild_id))

    async def terminate(self, timeout: float = 15.0) -> int:  # noqa: ASYNC109 (explicit deadline)
        """SIGTERM (a graceful shutdown), then the exit code once the process has ended."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self._proc.wait(), timeout)
        self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None


async def until(predicate: Callable[[], object], timeout: float = 10.0) -> None:  # noqa: ASYNC109
    """Wait for a condition outside the emulator (its own wait_for wakes on Discord changes only)."""
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 (the fakes have no event for every condition)
            await asyncio.sleep(0.02)


@dataclass
class Tally:
    """One fault run's outcome. ``lost``, ``duplicated`` and ``crashes`` must be 0."""

    commands: int = 0
    unanswered: int = 0
    acked_silent: int = 0
    refused: int = 0
    jobs: int = 0
    finished: int = 0
    failed_clearly: int = 0
    lost: int = 0
    duplicated: int = 0
    orphans: int = 0
    crashes: int = 0
    kills: int = 0
    backend_submits: int = 0
    problems: list[str] = field(default_factory=list)

    def row(self) -> dict[str, int]:
        return {
            "commands sent (slash + clicks)": self.commands,
            "commands never acked (bot was down)": self.unanswered,
            "/imagine acked, killed before its confirmation": self.acked_silent,
            "/imagine refused with a sentence (member or queue limit)": self.refused,
            "jobs created": self.jobs,
            "finished": self.finished,
            "failed with a clear message": self.failed_clearly,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "orphan 'Waiting to start' messages (publisher gap)": self.orphans,
            "kill -9": self.kills,
            "backend submits": self.backend_submits,
            "crashes": self.crashes,
        }


def tally(store_path: Path, emu: DiscordEmulator, proxy: FakeMjProxy, logs: list[Path]) -> Tally:
    """Compare the store, the channel and the backend's request log (the bot must be stopped)."""
    out = Tally()
    with contextlib.closing(sqlite3.connect(store_path)) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute("SELECT id, status, result_posted, message_id, error_detail FROM jobs").fetchall()
    out.jobs = len(rows)
    bot_id = emu.world.bot.id
    referenced = {r["message_id"] for r in rows if r["message_id"] is not None}
    for row in rows:
        status = JobStatus(row["status"])
        message = _message(emu, row["message_id"])
        if not status.terminal or not row["result_posted"] or message is None:
            out.lost += 1
            out.problems.append(f"job {row['id']}: {status.value}, posted={row['result_posted']}")
        elif status is JobStatus.SUCCESS and message.attachments and message.components:
            out.finished += 1
        elif status is not JobStatus.SUCCESS and (
            "(Failed)" in message.content or "(Cancelled)" in message.content
        ):
            out.failed_clearly += 1
        else:
            out.lost += 1
            out.problems.append(f"job {row['id']}: {status.value} shows {message.content[:80]!r}")
    # A job message nobody references is a second post for some job: a crash between the post and
    # the store write of its id. A second result or failure is a duplicate; a first "Waiting to
    # start" left behind is an orphan (the publisher posts before it records; docs/reliability.md). A
    # "thinking…" never filled in is no message of a job: the scenario counts its command as
    # acknowledged, then killed before its job was stored.
    for channel in emu.world.guild.channels:
        for message in emu.messages(channel.id):
            if message.loading and not message.content:
                continue
            if message.author_id == bot_id and not message.ephemeral and message.id not in referenced:
                if message.content.endswith("(Waiting to start)") and not message.attachments:
                    out.orphans += 1
                else:
                    out.duplicated += 1
                out.problems.append(f"message {message.id} belongs to no job: {message.content[:80]!r}")
    # Tasks the backend made, by the job they were made for (refused submits made none).
    states = Counter(proxy.task_json(task_id).get("state") for task_id in proxy.task_ids)
    out.backend_submits = sum(states.values())
    for state, n in states.items():
        if n > 1:
            out.duplicated += n - 1
            out.problems.append(f"{state} submitted {n} times")
    for path in logs:
        text = path.read_text(errors="replace") if path.exists() else ""
        out.crashes += text.count("Traceback (most recent call last)")
    return out


def _message(emu: DiscordEmulator, message_id: int | None) -> Any:
    if message_id is None:
        return None
    try:
        message = emu.message(message_id)
    except KeyError:
        return None
    return None if message.deleted else message


def encoded_forms(secret: str) -> list[str]:
    """``secret`` as written, URL-encoded and in base64 (standard and URL-safe, at each of the
    three alignments it can have inside a longer encoded text)."""
    forms = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}
    raw = secret.encode()
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw).decode()
        # Only the groups made of the secret's bytes alone: skip the first (shifted) and last (padded).
        start, end = (4 if shift else 0), (len(encoded) - (4 if (shift + len(raw)) % 3 else 0))
        middle = encoded[start:end]
        if len(middle) >= 8:
            forms |= {middle, middle.replace("+", "-").replace("/", "_")}
    return sorted(forms)


def found_in(secrets: list[str], text: str) -> list[str]:
    """The ``secrets`` that appear in ``text`` in any of their :func:`encoded_forms`."""
    return [s for s in secrets if s and any(form in text for form in encoded_forms(s))]


def secret_leaks(secrets: list[str], emu: DiscordEmulator, logs: list[Path]) -> list[str]:
    """Where any of ``secrets`` appears (as written or encoded): every recorded Discord call and
    every log line."""
    found = []
    for call in emu.calls:
        found += [f"Discord call {call!r:.80}" for _ in found_in(secrets, repr(call))]
    for path in logs:
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            found += [f"{path.name}:{number}" for _ in found_in(secrets, line)]
    return found
