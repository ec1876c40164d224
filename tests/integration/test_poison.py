"""No payload stops ingest (issue 11): poisons published through the real broker to both
ingest slots are dead letters with their reasons, what follows is stored, and
`vigil health` stays green because nothing is stuck."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import ray

from tests.conftest import Noc, Vigil, wait_for

DEEP = 5000
POISONS: list[tuple[str, bytes, str]] = [
    *(
        (topic, b"[" * DEEP + b"]" * DEEP, "too_deep")
        for topic in (
            "guard/poison-guard/gps",
            "device/poison-dev/telemetry",
            "device/poison-dev/alert",
            "device/poison-dev/status",
            "sensor/poison-smoke/reading",
            "device/poison-dev/cmd/ack",
        )
    ),
    ("guard/poison-guard/gps", b'{"lat":1,"lon":2,"seq":9223372036854775808}', "invalid_field"),
    ("device/poison-dev/telemetry", b'{"battery":50,"seq":99999999999999999999}', "invalid_field"),
    ("guard/poison-guard/gps", b'{"lat":12.97,"lon":77.59,"accuracy":1e308}', "invalid_field"),
    ("sensor/poison-smoke/reading", b'{"kind":"smoke","value":1e308}', "invalid_field"),
    ("device/poison-dev/alert", b'{"type":"panic","lat":1e308,"lon":1}', "invalid_field"),
    ("device/poison-dev/telemetry", b"\xff\xfe\xfd not utf-8", "invalid_json"),
    ("device/poison-dev/alert", b'{"type":"pan\xffic"}', "invalid_json"),
    # 1 MiB less what the broker's own packet limit (1 MiB) needs for the topic and header.
    ("device/poison-dev/telemetry", b'{"pad":"' + b"x" * ((1 << 20) - 512) + b'"}', "oversized"),
]  # fmt: skip


def slot_dead_letters(vigil: Vigil) -> list[int]:
    stats = ray.get([a.get_stats.remote() for a in vigil.runtime.ingest])
    return [sum(s["dead_letters"].values()) for s in stats]


def health(vigil: Vigil, noc: Noc, tmp: Any) -> subprocess.CompletedProcess[str]:
    """`vigil health` against the session's vigil, through a state file like `vigil up`'s."""
    state = {
        "ray_address": ray.get_runtime_context().gcs_address,
        "ray_auth_mode": os.environ.get("RAY_AUTH_MODE", "token"),
        "namespace": vigil.settings.namespace,
        "broker_url": vigil.settings.broker_url,
        "http_port": noc.settings.http_port,
        "lake": str(tmp / "lake-probe"),
        "actors": list(vigil.runtime.actors()),
        # Other tests of the session kill actors on purpose: a restart is not this test's.
        "health_restart_window_s": 0,
    }
    (tmp / "vigil.json").write_text(json.dumps(state))
    command = [sys.executable, "-m", "cli.main", "health", "--data", str(tmp)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_poisons_on_both_slots_are_dead_letters_and_the_stream_goes_on(
    vigil: Vigil, noc: Noc, tmp_path: Any
) -> None:
    before = slot_dead_letters(vigil)
    for topic, payload, _ in POISONS:
        for _ in range(2):  # the shared subscription alternates: each slot gets its share
            vigil.publish(topic, payload)
    for seq in range(90):
        body = {"lat": 12.9716, "lon": 77.5946, "accuracy": 5, "seq": 1000 + seq}
        vigil.publish("guard/poison-guard/gps", json.dumps(body))
    for seq in range(10):
        vigil.publish("device/poison-dev/alert", json.dumps({"type": "panic", "seq": 2000 + seq}))

    wait_for(
        lambda: vigil.count("guard_locations", "guard_id = 'poison-guard' AND seq >= 1000") == 90,
        30,
        "all 90 fixes stored",
    )
    wait_for(
        lambda: vigil.count("device_events", "device_id = 'poison-dev'") == 10,
        30,
        "all 10 panics stored",
    )
    rows = wait_for(
        lambda: (
            found
            if len(
                found := vigil.rows(
                    "SELECT topic, reason, detail FROM dead_letters WHERE topic LIKE '%poison-%'"
                )
            )
            >= 2 * len(POISONS)
            else None
        ),
        30,
        "every poison dead-lettered",
    )
    reasons: dict[tuple[str, str], int] = {}
    for topic, reason, _ in rows:
        reasons[(topic, reason)] = reasons.get((topic, reason), 0) + 1
    for topic, _, reason in POISONS:
        assert reasons.get((topic, reason), 0) >= 2, (topic, reason, reasons)
    after = slot_dead_letters(vigil)
    assert all(a > b for a, b in zip(after, before, strict=True)), "each slot had poisons"
    stats = ray.get([a.get_stats.remote() for a in vigil.runtime.ingest])
    assert all(not s["problems"] for s in stats), [s["problems"] for s in stats]

    result = health(vigil, noc, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "vigil-ingest-0" in result.stdout and "vigil-ingest-1" in result.stdout
