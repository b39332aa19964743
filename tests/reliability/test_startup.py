"""Start-up never hangs or misleads: the real `mjbot` command in a subprocess, and the bot in process
for what an admin then sees. Every failure ends the process with one sentence on stderr."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.crypto import SECRET_LOST
from bot.store import Store
from sandbox.discord import DiscordEmulator
from sandbox.fake_mj_proxy import FakeMjProxy
from sandbox.runner import Sandbox
from tests.e2e.conftest import Running
from tests.e2e.test_setup import _add_account, _reply
from tests.reliability.harness import REPO

#: The rule is 5 s; the rest is a loaded test machine's interpreter start (~1.5 s idle).
EXIT_SECONDS = 8.0
#: These time whole processes from their start: run alone, after the parallel tests (dev.py).
pytestmark = pytest.mark.serial
#: `mjbot`'s own entry point, with discord.py pointed at the emulator (argv: REST, gateway, args).
LAUNCH = (
    "import sys, discord.http, discord.gateway, yarl; "
    "discord.http.Route.BASE = sys.argv[1]; "
    "discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(sys.argv[2]); "
    "from bot.cli import main; sys.argv[1:] = sys.argv[3:]; sys.exit(main())"
)
_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


@dataclass
class Exit:
    code: int | None  # None: still running at the deadline (then killed)
    seconds: float
    stdout: str
    stderr: str

    def sentence(self) -> str:
        """What `mjbot` printed besides log lines: it must be one line and no traceback."""
        assert "Traceback" not in self.stderr, self.stderr
        said = [line for line in self.stderr.splitlines() if line.strip() and not _LOG_LINE.match(line)]
        assert len(said) == 1, self.stderr
        return said[0]


def _clean_env(**extra: str) -> dict[str, str]:
    # Without PYTHONUNBUFFERED: stdout to a file or pipe is block-buffered, as under a supervisor.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MJBOT_") and k != "PYTHONUNBUFFERED"}
    return {**env, **extra}


async def _run_mjbot(emu: DiscordEmulator, store_path: Path, **extra: str) -> Exit:
    """`mjbot` with a token for the emulator and ``store_path`` as its database."""
    env = _clean_env(
        MJBOT_DISCORD_TOKEN=emu.world.token,
        MJBOT_DISCORD_DEV_GUILD_ID=str(emu.world.guild.id),
        **{"MJBOT_STORE_PATH": str(store_path), "MJBOT_WEB_PORT": "0", **extra},
    )
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        LAUNCH,
        emu.api_base,
        emu.gateway_url,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), EXIT_SECONDS)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        return Exit(None, time.monotonic() - started, out.decode(), err.decode())
    return Exit(proc.returncode, time.monotonic() - started, out.decode(), err.decode())


@pytest.fixture
async def emulator() -> AsyncIterator[DiscordEmulator]:
    emu = DiscordEmulator()
    await emu.start(port=0)
    yield emu
    await emu.stop()


def _real_database(path: Path) -> None:
    """A database the bot made, with enough rows that a truncated copy loses whole pages."""

    async def make() -> None:
        store = await Store.open(path)
        for n in range(200):
            await store.audit(1, 1, "configure", f"change number {n} " + "x" * 200)
        await store.close()

    asyncio.run(make())


def _garbage(tmp: Path) -> Path:
    db = tmp / "mjbot.sqlite3"
    db.write_bytes(os.urandom(8192))
    return db


def _truncated(tmp: Path) -> Path:
    db = tmp / "mjbot.sqlite3"
    _real_database(db)
    with db.open("r+b") as f:
        f.truncate(db.stat().st_size // 2)
    return db


def _under_a_file(tmp: Path) -> Path:
    (tmp / "data").write_text("a file where the database's directory should be")
    return tmp / "data" / "mjbot.sqlite3"


@contextlib.contextmanager
def _immutable(path: Path) -> Iterator[None]:
    """Read-only even for root (tests run as root, who ignores permission bits)."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed: no way to make a file read-only for root")
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"chattr +i is not permitted here ({made.stderr.strip()})")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@pytest.mark.parametrize(
    ("make", "cause"),
    [
        (_garbage, "not a database"),
        (_truncated, "corrupt or truncated"),
        (_under_a_file, "not a directory"),
    ],
    ids=["garbage", "truncated", "directory-is-a-file"],
)
async def test_an_unusable_database_ends_start_up_with_one_sentence(
    emulator: DiscordEmulator, tmp_path: Path, make: Callable[[Path], Path], cause: str
) -> None:
    db = await asyncio.to_thread(make, tmp_path)
    ended = await _run_mjbot(emulator, db)
    assert ended.code is not None, f"still running after {EXIT_SECONDS} s:\n{ended.stderr}"
    assert ended.code != 0
    said = ended.sentence()
    assert str(db) in said and cause in said


async def test_a_read_only_database_ends_start_up_with_one_sentence(
    emulator: DiscordEmulator, tmp_path: Path
) -> None:
    db = tmp_path / "mjbot.sqlite3"
    await asyncio.to_thread(_real_database, db)
    with _immutable(db):
        ended = await _run_mjbot(emulator, db)
    assert ended.code is not None, f"still running after {EXIT_SECONDS} s:\n{ended.stderr}"
    assert ended.code != 0
    said = ended.sentence()
    assert str(db) in said and "read-only" in said


async def test_a_garbage_key_file_ends_start_up_with_one_sentence(
    emulator: DiscordEmulator, tmp_path: Path
) -> None:
    db = tmp_path / "mjbot.sqlite3"
    key_file = tmp_path / "mjbot-secret.key"
    key_file.write_text("this is not a Fernet key\n")
    ended = await _run_mjbot(emulator, db)
    assert ended.code is not None, f"still running after {EXIT_SECONDS} s:\n{ended.stderr}"
    assert ended.code != 0
    said = ended.sentence()
    assert str(key_file) in said and "not a valid key" in said


# ------------------------------------------------------------------------- a lost secret key


async def _listing(box: Sandbox) -> str:
    emu = box.emulator
    return await _reply(
        box,
        await emu.slash(emu.world.admin.id, emu.channel("general").id, "setup", subcommand="account list"),
    )


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name == "bot.store"]


@pytest.mark.parametrize("key_change", ["deleted", "replaced"])
async def test_secrets_sealed_with_a_lost_key_mark_their_account_and_say_so(
    make_sandbox: Callable[..., Sandbox],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    key_change: str,
) -> None:
    key_file = tmp_path / "mjbot-secret.key"
    second = FakeMjProxy(secret="sk-second-1234", step_seconds=0.02)
    await second.start()
    try:
        async with Running(make_sandbox()) as box:
            assert "Added **second**" in await _add_account(box, "second", second, 2, "sk-second-1234")
            await box.stop_bot()
            if key_change == "deleted":
                key_file.unlink()
            else:
                key_file.write_bytes(Fernet.generate_key())
            other_key = key_file.read_bytes() if key_file.exists() else None
            caplog.clear()
            caplog.set_level(logging.WARNING)
            await box.start_bot()

            (warning,) = _warnings(caplog)
            assert "second" in warning and "/setup account secret" in warning
            assert ("new key was made" in warning) == (key_change == "deleted")
            if other_key is not None:
                assert key_file.read_bytes() == other_key  # a key that is there is never replaced
            listing = await _listing(box)
            assert f"out of rotation: {SECRET_LOST}" in listing

            emu = box.emulator
            admin, general = emu.world.admin.id, emu.channel("general").id
            reset = await _reply(
                box, await emu.slash(admin, general, "setup", subcommand="account reset", name="second")
            )
            assert "/setup account secret" in reset
            inter = await emu.slash(admin, general, "setup", subcommand="account secret", name="second")
            await emu.wait_for_response(inter)
            assert inter.modal is not None
            done = await emu.submit_modal(
                inter, inter.modal["custom_id"], {"Secret (API key, token or session id)": "sk-second-1234"}
            )
            assert "is replaced" in await _reply(box, done)
            assert SECRET_LOST not in await _listing(box)
            tested = await _reply(
                box, await emu.slash(admin, general, "setup", subcommand="account test", name="second")
            )
            assert tested.startswith("✅ second")
    finally:
        await second.stop()


# --------------------------------------------------------------------------------- the sandbox


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _sandbox_until(args: list[str], line: str, tmp: Path) -> tuple[Exit, bool]:
    """`mjbot ARGS` with no token and stdout to a file; whether ``line`` was in it in time."""
    out_path = tmp / "stdout.txt"
    started = time.monotonic()
    with out_path.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            *args,
            cwd=REPO,
            env=_clean_env(),
            stdout=out,
            stderr=subprocess.PIPE,
        )
        seen = False
        while time.monotonic() - started < 15 and proc.returncode is None:
            if line in out_path.read_text():
                seen = True
                break
            await asyncio.sleep(0.1)
        if proc.returncode is None:
            proc.terminate()
        _, err = await proc.communicate()
    return Exit(proc.returncode, time.monotonic() - started, out_path.read_text(), err.decode()), seen


async def test_the_sandbox_url_line_arrives_at_once_when_stdout_is_a_file(tmp_path: Path) -> None:
    ended, seen = await _sandbox_until(["--port", "0", "--no-demo"], "in your browser", tmp_path)
    assert seen, f"no URL line within 15 s:\n{ended.stdout}\n{ended.stderr}"
    assert re.search(r"Open http://127\.0\.0\.1:\d+ in your browser", ended.stdout)


async def test_a_taken_sandbox_port_ends_with_one_sentence_naming_the_option(tmp_path: Path) -> None:
    port = _free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        ended, _ = await _sandbox_until(["--port", str(port), "--no-demo"], "in your browser", tmp_path)
    assert ended.code is not None and ended.code != 0, ended.stderr
    said = ended.sentence()
    assert str(port) in said and "--port" in said


async def test_an_install_without_the_sandbox_says_to_set_a_token_when_none_is_set(tmp_path: Path) -> None:
    """The wheel and the container image carry `bot` and `cogs` only: `mjbot` with no token there
    ends in one sentence, not a traceback. Here: those two packages and the installed
    dependencies, without the checkout's root on the path (no site, so no editable-install path)."""
    for package in ("bot", "cogs"):
        (tmp_path / package).symlink_to(REPO / package)
    paths = sysconfig.get_paths()
    env = _clean_env(PYTHONPATH=os.pathsep.join([str(tmp_path), paths["purelib"], paths["platlib"]]))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-S",
        "-m",
        "bot.cli",
        "--port",
        "0",
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), EXIT_SECONDS)
    ended = Exit(proc.returncode, 0.0, out.decode(), err.decode())
    assert ended.code == 1, ended.stderr
    said = ended.sentence()
    assert "no sandbox" in said and "MJBOT_DISCORD_TOKEN" in said
    assert "starting the local sandbox" not in ended.stdout


async def test_a_taken_webhook_port_ends_start_up_with_one_sentence(
    emulator: DiscordEmulator, tmp_path: Path
) -> None:
    port = _free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        ended = await _run_mjbot(emulator, tmp_path / "mjbot.sqlite3", MJBOT_WEB_PORT=str(port))
    assert ended.code is not None and ended.code != 0, ended.stderr
    said = ended.sentence()
    assert f"127.0.0.1:{port}" in said and "[web]" in said
