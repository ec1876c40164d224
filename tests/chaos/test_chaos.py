"""The short chaos run inside `make test` (`make chaos` runs the long one): every kind of
vigil process killed with SIGKILL in turn, the broker restarted, the lake's disk filled,
under a sustained QoS 1 stream; every row of its table must be green."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def test_no_fault_loses_an_acknowledged_message_or_an_alarm(tmp_path: Path) -> None:
    out = tmp_path / "chaos.json"
    # 1,000 guards: a fleet too big to travel inline; restarted actors ask the registry for it.
    command = [sys.executable, "-m", "tests.chaos.run", "--guards", "1000", "--rate", "150"]
    command += ["--hold", "3", "--disk", "256m", "--json", str(out)]
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert out.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    rows = json.loads(out.read_text())
    failing = [r for r in rows if not r["ok"]]
    assert not failing and run.returncode == 0, run.stdout[-3000:]
    faults = {r["fault"].split(":")[0] for r in rows}
    assert {"shard", "storage writer", "broker restart", "lake disk full"} <= faults
