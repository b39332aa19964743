"""The load benchmark still works end to end (a tiny run; the timings are not checked here)."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

from tests.postgres import require_server_binaries

ROOT = Path(__file__).resolve().parents[2]
#: A run of seconds: 1 s tasks, a 4-job warm-up.
TINY = ("--duration", "1", "--clicks", "0.2", "--timeout", "40", "--warmup", "4")


@pytest.mark.timeout(60)
@pytest.mark.serial  # three processes against a deadline
@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_a_tiny_run_prints_the_table(store: str) -> None:
    if store == "postgres":
        require_server_binaries()
    # A real subprocess, as a developer runs it: the benchmark starts the bot as its own process.
    table = _run("--jobs", "10", "--channels", "2", "--store", store)
    assert f"| 10 jobs, {store} " in table
    # The interpreter the bot ran on is named: the CPU rows depend on it.
    assert f"bot on CPython {platform.python_version()} ({sys.executable})" in table
    for row in (
        "/imagine ack p50 / p99 / max, ms",
        "backend done → final p50 / p99, ms",
        "Discord first writes / progress edits / finals per job",
        "Discord writes outside the global budget",
        "Discord 429s received",
        "emulator stalls over 50 ms",
        "backend fetch requests / job",
        "bot CPU ms / job",
        "bot peak RSS, MiB",
        "global budget used",
    ):
        assert row in table
    # Every job and its click-started follow-up reached Discord (10 + 2 clicks), and the
    # warm-up's 4 jobs are not counted.
    assert "| 12 (" in table
    # Figures that are only consistent if writes were told apart right: a final is written after
    # its task ends, once per job, through the interaction (all within its 15 minutes).
    assert "-" not in _cell(table, "backend done → final p50 / p99, ms")
    assert _cell(table, "Discord first writes / progress edits / finals per job").endswith("/ 1.00")
    assert _cell(table, "channel posts per job; finals via the interaction").endswith("; 100%")


@pytest.mark.timeout(60)
@pytest.mark.serial  # four processes against a deadline
def test_two_processes_share_the_burst_on_one_postgres() -> None:
    """`--processes 2`: two bot processes, shards 0 and 1 of 2, one server each, one PostgreSQL;
    the burst is dealt over both servers and each process serves its own, on one service account
    both servers name, which runs 2 jobs at once and never more."""
    require_server_binaries()
    table = _run(
        "--jobs", "10", "--channels", "2", "--store", "postgres", "--processes", "2",
        "--accounts", "1", "--max-jobs", "2",
    )  # fmt: skip
    assert "| 10 jobs, postgres, 2 processes " in table
    # 10 /imagine and 2 clicks, every one reaching Discord, both servers' jobs (6 each: the
    # channels, so the members' commands, alternate between them).
    assert _cell(table, "jobs (of them failed)").startswith("12 (")
    assert _cell(table, "jobs per server") == "6 / 6"
    assert _cell(table, "Discord first writes / progress edits / finals per job").endswith("/ 1.00")
    assert _cell(table, "Discord 429s received") == "0"
    assert _cell(table, "most tasks at once on one account (max_jobs)") == "2 (2)"
    # The store was PostgreSQL's, and the bots' transactions were counted.
    assert float(_cell(table, "PostgreSQL transactions / job")) > 1


def _run(*args: str) -> str:
    """A tiny run of the benchmark as a developer starts it; its table."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.load", *TINY, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _cell(table: str, row: str) -> str:
    line = next(line for line in table.splitlines() if line.startswith(f"| {row} "))
    return line.split("|")[2].strip()
