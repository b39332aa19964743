"""The fault suite at size: kill -9 runs, fuzzing, security probes and fault points (docs/reliability.md).

    uv run python -m bench.faults       # all: 100 jobs, 10 kill -9 points, 2000 fuzzed inputs, probes…
    uv run python -m bench.faults --jobs 30 --kills 3 --fuzz 200
    uv run python -m bench.faults --only security,faults --fault-jobs 20

Exit status 1 when anything was lost, duplicated, left hanging, crashed, leaked a secret, stalled
the event loop or reached a non-allowed address.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from tests.reliability.fault_points import FAULT_POINTS, FaultRow, fault_points
from tests.reliability.fuzz import FUZZERS
from tests.reliability.probes import ProbeReport, security_probes
from tests.reliability.scenarios import CrashRun, crash_run

PARTS = ("crash", "fuzz", "security", "faults")


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    print(line(cells[0]))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells[1:]:
        print(line(row))


async def _crash_and_fuzz(work: Path, args: argparse.Namespace, parts: set[str]) -> bool:
    rows: list[tuple[str, int]] = []
    problems: list[str] = []
    bad = False
    timing = []
    if "crash" in parts:
        started = time.monotonic()
        run = CrashRun(
            jobs=args.jobs, kills=args.kills, clicks=args.clicks, seed=args.seed,
            spread=args.spread, max_jobs=args.max_jobs, settle=180.0,
        )  # fmt: skip
        crash_dir = work / "crash"
        crash_dir.mkdir()
        result, leaks = await crash_run(crash_dir, run)
        timing.append(f"kill -9 run {time.monotonic() - started:.0f} s")
        rows += [*result.row().items(), ("secrets leaked (Discord payloads + log lines)", len(leaks))]
        problems += result.problems + leaks
        bad = bool(result.lost or result.duplicated or result.crashes or leaks)
    if "fuzz" in parts:
        fuzzed: dict[str, int] = {}
        started = time.monotonic()
        per_kind = max(1, args.fuzz // len(FUZZERS))
        for name, fuzz in FUZZERS.items():
            kind_dir = work / name.split()[0]
            kind_dir.mkdir()
            fuzzed[name] = await fuzz(kind_dir, per_kind)
        timing.append(f"fuzzing {time.monotonic() - started:.0f} s")
        rows += [*((f"inputs fuzzed: {name}", n) for name, n in fuzzed.items())]
        rows.append(("inputs fuzzed (total)", sum(fuzzed.values())))
    print(f"\nFault suite: seed {args.seed}, {', '.join(timing)}\n")
    _table(("what", "count"), rows)
    for problem in problems:
        print(f"  problem: {problem}")
    return bad


def _print_security(report: ProbeReport, seconds: float) -> bool:
    print(f"\nSecurity probes ({seconds:.0f} s)\n")
    _table(
        ("probe", "expected", "observed", "ok"),
        [(p.name, p.expected, p.observed, "yes" if p.ok else "**NO**") for p in report.probes],
    )
    secrets, payloads, lines = report.scanned
    print()
    lag = f"worst event-loop lag {report.worst_lag:.2f} s, slowest /info {report.slowest_info:.2f} s"
    scan = f"{secrets} secrets and tokens, {payloads} Discord requests, {lines} log lines"
    _table(
        ("must be 0", "count"),
        [
            (f"stalls over 1 s ({lag})", report.stalls),
            (f"secrets seen outside the store ({scan})", len(report.leaks)),
            ("requests to non-allowed addresses (canary on 127.0.0.1)", report.canary_requests),
        ],
    )
    for leak in report.leaks:
        print(f"  leak: {leak}")
    return not report.clean


def _print_faults(rows: list[FaultRow], n: int, seconds: float) -> bool:
    print(f"\nFault points: {n} jobs each ({seconds:.0f} s)\n")
    _table(
        ("fault point", "started", "finished", "failed with a message", "hanging", "lost", "what was met"),
        [(r.point, r.started, r.finished, r.failed, r.hanging, r.lost, r.note) for r in rows],
    )
    for row in rows:
        for problem in row.problems:
            print(f"  problem ({row.point}): {problem}")
    return not all(r.clean for r in rows)


async def _main(args: argparse.Namespace) -> int:
    parts = set(args.only.split(",")) if args.only else set(PARTS)
    if unknown := parts - set(PARTS):
        sys.exit(f"--only: unknown part(s) {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
    bad = False
    with tempfile.TemporaryDirectory(prefix="mjbot-faults-") as tmp:
        work = Path(tmp)
        if parts & {"crash", "fuzz"}:
            bad |= await _crash_and_fuzz(work, args, parts)
        if "security" in parts:
            (work / "security").mkdir()
            started = time.monotonic()
            report = await security_probes(work / "security")
            bad |= _print_security(report, time.monotonic() - started)
        if "faults" in parts:
            (work / "points").mkdir()
            started = time.monotonic()
            points = args.points.split(",") if args.points else None
            rows = await fault_points(work / "points", args.fault_jobs, points)
            bad |= _print_faults(rows, args.fault_jobs, time.monotonic() - started)
    return 1 if bad else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help=f"comma-separated parts to run: {','.join(PARTS)} (default: all)")
    parser.add_argument("--jobs", type=int, default=100, help="/imagine commands sent")
    parser.add_argument("--kills", type=int, default=10, help="kill -9 points at random moments")
    parser.add_argument("--clicks", type=int, default=20, help="U1-U4 clicks on finished grids")
    parser.add_argument("--spread", type=float, default=30.0, help="seconds the commands are spread over")
    parser.add_argument("--max-jobs", type=int, default=10, help="concurrent jobs of the backend account")
    parser.add_argument("--fuzz", type=int, default=2000, help="fuzzed inputs in all")
    parser.add_argument(
        "--fault-jobs", type=int, default=20, help="jobs per fault point (20 at most: 2 members x 10)"
    )
    parser.add_argument(
        "--points", help=f"comma-separated fault points: {','.join(FAULT_POINTS)} (default: all)"
    )
    parser.add_argument("--seed", type=int, default=1)
    sys.exit(asyncio.run(_main(parser.parse_args())))


if __name__ == "__main__":
    main()
