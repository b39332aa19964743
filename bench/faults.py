"""The fault suite at size: kill -9 runs and fuzzing, then one table (see docs/reliability.md).

    uv run python -m bench.faults                 # 100 jobs, 10 kill -9 points, 2000 fuzzed inputs
    uv run python -m bench.faults --jobs 30 --kills 3 --fuzz 200

Exit status 1 when anything was lost, duplicated, crashed or leaked a secret.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from tests.reliability.fuzz import FUZZERS
from tests.reliability.scenarios import CrashRun, crash_run


async def _main(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="mjbot-faults-") as tmp:
        work = Path(tmp)
        started = time.monotonic()
        run = CrashRun(
            jobs=args.jobs, kills=args.kills, clicks=args.clicks, seed=args.seed,
            spread=args.spread, max_jobs=args.max_jobs, settle=180.0,
        )  # fmt: skip
        crash_dir = work / "crash"
        crash_dir.mkdir()
        result, leaks = await crash_run(crash_dir, run)
        crash_seconds = time.monotonic() - started
        fuzzed: dict[str, int] = {}
        fuzz_started = time.monotonic()
        per_kind = max(1, args.fuzz // len(FUZZERS))
        for name, fuzz in FUZZERS.items():
            kind_dir = work / name.split()[0]
            kind_dir.mkdir()
            fuzzed[name] = await fuzz(kind_dir, per_kind)
        fuzz_seconds = time.monotonic() - fuzz_started
    rows = [
        *result.row().items(),
        ("secrets leaked (Discord payloads + log lines)", len(leaks)),
        *((f"inputs fuzzed: {name}", n) for name, n in fuzzed.items()),
        ("inputs fuzzed (total)", sum(fuzzed.values())),
    ]
    width = max(len(name) for name, _ in rows)
    print(
        f"\nFault suite: seed {args.seed}, kill -9 run {crash_seconds:.0f} s, fuzzing {fuzz_seconds:.0f} s\n"
    )
    print(f"| {'what':<{width}} | {'count':>6} |\n|{'-' * (width + 2)}|{'-' * 8}|")
    for name, value in rows:
        print(f"| {name:<{width}} | {value:>6} |")
    for problem in result.problems + leaks:
        print(f"  problem: {problem}")
    bad = result.lost or result.duplicated or result.crashes or leaks
    return 1 if bad else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100, help="/imagine commands sent")
    parser.add_argument("--kills", type=int, default=10, help="kill -9 points at random moments")
    parser.add_argument("--clicks", type=int, default=20, help="U1-U4 clicks on finished grids")
    parser.add_argument("--spread", type=float, default=30.0, help="seconds the commands are spread over")
    parser.add_argument("--max-jobs", type=int, default=10, help="concurrent jobs of the backend account")
    parser.add_argument("--fuzz", type=int, default=2000, help="fuzzed inputs in all")
    parser.add_argument("--seed", type=int, default=1)
    sys.exit(asyncio.run(_main(parser.parse_args())))


if __name__ == "__main__":
    main()
