"""Two Ray nodes on this machine; the worker node is removed while a stream flows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def test_losing_a_worker_node_loses_no_acknowledged_message_and_alerts_keep_flowing() -> None:
    # Its own process: a driver can belong to one Ray cluster, and the session has one.
    run = subprocess.run(
        [sys.executable, "-m", "tests.ops.multinode"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    assert run.returncode == 0 and lines, run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(lines[-1])

    assert any(n.startswith(("vigil-ingest", "vigil-shard")) for n in result["on_worker_before"])
    assert not result["any_left_on_worker"]
    assert {
        "vigil-writer",
        "vigil-shard-0",
        "vigil-shard-1",
        "vigil-ingest-0",
        "vigil-ingest-1",
    } <= set(result["alive_after"])
    assert (result["rows"], result["distinct_keys"]) == (20_000, 20_000)
    assert result["panic_alerts"] >= 1
