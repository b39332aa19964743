"""The security probes and the fault points at CI size (`bench/faults.py` runs them at size)."""

from __future__ import annotations

import base64
import urllib.parse
from pathlib import Path

import pytest

from tests.reliability.fault_points import FAULT_POINTS, fault_points
from tests.reliability.harness import found_in
from tests.reliability.probes import security_probes


async def test_hostile_inputs_stall_nothing_leak_nothing_and_reach_no_private_address(tmp_path: Path) -> None:
    report = await security_probes(tmp_path)
    assert [p for p in report.probes if not p.ok] == []
    assert report.stalls == 0, (report.worst_lag, report.slowest_info)
    assert report.leaks == []
    assert report.canary_requests == 0
    secrets, payloads, lines = report.scanned
    assert secrets > 20 and payloads > 50 and lines > 50  # the scan read what the run made


#: What a fault point's note must start with: the fault was injected and met.
MET = {"final": "3 finals refused", "early-ack": "3 acknowledgements"}


@pytest.mark.parametrize(
    "point",
    # "database" times mjbot's start-up against a deadline, as test_startup.py does.
    [pytest.param(p, marks=pytest.mark.serial) if p == "database" else p for p in FAULT_POINTS],
)
async def test_every_fault_point_leaves_nothing_hanging_and_loses_nothing(tmp_path: Path, point: str) -> None:
    # The broken database: one run of each kind (garbage, truncated, read-only).
    [row] = await fault_points(tmp_path, 3, only=[point])
    assert (row.hanging, row.lost, row.problems) == (0, 0, []), row
    assert row.started + row.note.count("not run") == 3 and row.finished + row.failed == row.started, row
    assert row.note.startswith(MET.get(point, "")), row


def test_the_secret_scan_finds_secrets_url_encoded_and_in_base64_at_any_alignment() -> None:
    secret = "sk-secret/with+odd=chars"
    for before in ("", "x", "xy", "Basic user:"):
        assert found_in([secret], base64.b64encode(f"{before}{secret}tail".encode()).decode()) == [secret]
        assert found_in([secret], base64.urlsafe_b64encode(f"{before}{secret}".encode()).decode()) == [secret]
    assert found_in([secret], "?key=" + urllib.parse.quote(secret, safe="")) == [secret]
    assert found_in([secret], "sk-secret") == []
