#!/usr/bin/env python3
"""Bootstrap for a fresh machine that has only Python 3.11+.

    python3 dev.py            start the bot (the local sandbox when no Discord token is configured)
    python3 dev.py test       run the test suite
    python3 dev.py lint       ruff and mypy
    python3 dev.py -- ARGS    pass ARGS to the mjbot command (e.g. -- run --config mjbot.toml)

It installs uv (pinned) into .tools/ when uv is not on PATH, then lets uv build .venv from
uv.lock, so every machine runs the same locked dependencies.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

UV_VERSION = "0.13.9"
ROOT = Path(__file__).resolve().parent
TOOLS = ROOT / ".tools"
#: pytest's exit code when it selected no test.
NO_TESTS = 5


def uv() -> str:
    found = shutil.which("uv")
    if found:
        return found
    bindir = TOOLS / ("Scripts" if os.name == "nt" else "bin")
    exe = bindir / ("uv.exe" if os.name == "nt" else "uv")
    if not exe.exists():
        print(f"Installing uv {UV_VERSION} into {TOOLS} …", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(TOOLS)
        subprocess.run(
            [str(bindir / "python"), "-m", "pip", "install", "--quiet", f"uv=={UV_VERSION}"], check=True
        )
    return str(exe)


def test(pytest: list[str], args: list[str]) -> int:
    """pytest ``args`` in pytest-xdist workers, two per CPU (the tests mostly wait on sockets,
    subprocesses and timers), then the tests marked ``serial`` in one process: they time whole
    processes against a deadline, which other workers' load would eat into. ``-n``, ``--dist``,
    ``-m`` or ``-p no:xdist`` in ``args``: one plain pytest run."""
    if any(a.startswith(("-n", "--numprocesses", "--dist", "-m")) for a in args) or "no:xdist" in args:
        return subprocess.call([*pytest, *args], cwd=ROOT)
    workers = str(min(8, 2 * (os.cpu_count() or 1)))
    parallel = subprocess.call(
        [*pytest, "-n", workers, "--dist", "loadgroup", "-m", "not serial", *args], cwd=ROOT
    )
    if parallel not in (0, NO_TESTS) and ("-x" in args or "--exitfirst" in args):
        return parallel
    serial = subprocess.call([*pytest, "-m", "serial", *args], cwd=ROOT)
    if NO_TESTS in (parallel, serial):
        return serial if parallel == NO_TESTS else parallel  # one of them may select nothing
    return parallel or serial


def main(argv: list[str]) -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 - this script must run (and say why) on old Pythons
        print("mjbot needs Python 3.11 or newer.", file=sys.stderr)
        return 2
    command, rest = (argv[0], argv[1:]) if argv else ("run", [])
    tool = uv()
    # The venv uses the Python that runs this script; uv trusts the system's certificate store
    # (as pip does), so a machine with its own CA works too.
    os.environ.setdefault("UV_PYTHON", sys.executable)
    os.environ.setdefault("UV_SYSTEM_CERTS", "1")
    run = [tool, "run", "--locked", "--project", str(ROOT)]
    if command == "test":
        return test([*run, "pytest"], rest)
    if command == "lint":
        return subprocess.call([*run, "ruff", "check", "."], cwd=ROOT) or subprocess.call(
            [*run, "mypy"], cwd=ROOT
        )
    if command == "--":
        return subprocess.call([*run, "mjbot", *rest], cwd=ROOT)
    if command == "run":
        return subprocess.call([*run, "mjbot", *rest], cwd=ROOT)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
