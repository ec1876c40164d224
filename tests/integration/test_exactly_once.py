"""Every message lands once: nothing lost, nothing duplicated; bad input becomes dead letters."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.conftest import Vigil, wait_for
from tests.publisher import publish_all

pytestmark = pytest.mark.integration

GUARDS = [f"sim-guard-{n:04d}" for n in range(10, 40)]
DEVICES = [f"sim-dev-{n:04d}" for n in range(10, 40)]
SENSORS = [f"load-smoke-{n}" for n in range(4)]
BASE_TS = 1_790_000_000.0


def mixed_traffic(total: int) -> list[tuple[str, str]]:
    """`total` valid messages over the five uplink kinds, each distinct (own seq)."""
    messages = []
    for seq in range(total):
        ts = BASE_TS + seq
        guard, device = GUARDS[seq % len(GUARDS)], DEVICES[seq % len(DEVICES)]
        match seq % 20:
            case 0:
                topic, body = f"device/{device}/alert", {"type": "tamper", "ts": ts, "seq": seq}
            case 1:
                messages.append((f"device/{device}/status", "online" if seq % 40 else "offline"))
                continue
            case 2 | 3 | 4:
                sensor = SENSORS[seq % len(SENSORS)]
                topic, body = (
                    f"sensor/{sensor}/reading",
                    {"kind": "smoke", "value": 0, "ts": ts, "seq": seq},
                )
            case 5 | 6 | 7 | 8:
                topic = f"device/{device}/telemetry"
                body = {
                    "battery": 80.0,
                    "signal": -70,
                    "temperature": 30.5,
                    "ts": ts,
                    "seq": seq,
                    "firmware": "1.4.2",
                }
            case _:
                topic = f"guard/{guard}/gps"
                body = {"lat": 12.9716, "lon": 77.5946, "accuracy": 5.0, "ts": ts, "seq": seq}
        messages.append((topic, json.dumps(body)))
    return messages


def stored(vigil: Vigil) -> dict[str, int]:
    in_ = lambda ids: "(" + ",".join(f"'{i}'" for i in ids) + ")"  # noqa: E731
    return {
        "guard_locations": vigil.count("guard_locations", f"guard_id IN {in_(GUARDS)}"),
        "device_telemetry": vigil.count("device_telemetry", f"device_id IN {in_(DEVICES)}"),
        "sensor_readings": vigil.count("sensor_readings", f"sensor_id IN {in_(SENSORS)}"),
        "device_events": vigil.count("device_events", f"device_id IN {in_(DEVICES)}"),
        "device_status": vigil.count("device_status", f"device_id IN {in_(DEVICES)}"),
    }


def test_ten_thousand_qos1_messages_end_as_exactly_ten_thousand_rows(vigil: Vigil) -> None:
    messages = mixed_traffic(10_000)
    expected = {
        "guard_locations": 5500,
        "device_telemetry": 2000,
        "sensor_readings": 1500,
        "device_events": 500,
        "device_status": 500,
    }
    assert sum(expected.values()) == len(messages)

    publish_all(vigil.publisher, messages)

    wait_for(lambda: sum(stored(vigil).values()) >= 10_000, 60, "10,000 rows in the lake")
    assert stored(vigil) == expected
    keys = vigil.rows(
        "SELECT count(*), count(DISTINCT msg_key) FROM guard_locations WHERE guard_id LIKE 'sim-%'"
    )
    assert keys[0][0] == keys[0][1]


def bad_messages(marker: str) -> dict[str, tuple[str, bytes]]:
    """One message per bad-input class of DESIGN.md, each carrying `marker`."""
    gps = "guard/guard-123/gps"
    return {
        "invalid_json": (gps, f"this is not json {marker}".encode()),
        "invalid_field": (gps, json.dumps({"lat": "north", "lon": 77.59, "m": marker}).encode()),
        "nan": (gps, f'{{"lat": NaN, "lon": 77.59, "m": "{marker}"}}'.encode()),
        "infinite": (gps, f'{{"lat": 1e999, "lon": 77.59, "m": "{marker}"}}'.encode()),
        "out_of_range": (gps, json.dumps({"lat": 91.5, "lon": 77.59, "m": marker}).encode()),
        "future_timestamp": (
            gps,
            json.dumps(
                {"lat": 12.97, "lon": 77.59, "timestamp": "2099-01-01T00:00:00Z", "m": marker}
            ).encode(),
        ),
        "oversized": (gps, (f'{{"m": "{marker}", "pad": "' + "x" * 20_000 + '"}').encode()),
        "unknown_topic": (f"guard/guard-123/heartbeat-{marker}", b"{}"),
        "unknown_entity": (f"guard/ghost-{marker}/gps", b'{"lat": 1, "lon": 2}'),
        "spoofed_id": (
            gps,
            json.dumps({"lat": 12.97, "lon": 77.59, "guard_id": 999, "m": marker}).encode(),
        ),
        "spoofed_tenant": (
            gps,
            json.dumps({"lat": 12.97, "lon": 77.59, "client_id": 2, "m": marker}).encode(),
        ),
    }


EXPECTED_REASON = {
    "invalid_json": "invalid_json",
    "invalid_field": "invalid_field",
    "nan": "invalid_json",  # NaN is not JSON (RFC 8259)
    "infinite": "invalid_field",
    "out_of_range": "invalid_field",
    "future_timestamp": "future_timestamp",
    "oversized": "oversized",
    "unknown_topic": "unknown_topic",
    "unknown_entity": "unknown_entity",
    "spoofed_id": "spoofed_id",
    "spoofed_tenant": "spoofed_id",
}


def test_every_bad_input_class_is_one_dead_letter_and_valid_traffic_still_lands(
    vigil: Vigil,
) -> None:
    marker = uuid.uuid4().hex[:12]
    bad = bad_messages(marker)
    valid = [
        (
            "guard/sim-guard-0040/gps",
            json.dumps({"lat": 12.9716, "lon": 77.5946, "ts": BASE_TS + i, "seq": i}),
        )
        for i in range(300)
    ]
    traffic: list[tuple[str, str | bytes]] = []
    for i, message in enumerate(valid):
        traffic.append(message)
        if i % 25 == 0 and bad:
            traffic.append(bad.pop(next(iter(bad))))
    traffic.extend(bad.values())

    publish_all(vigil.publisher, traffic)

    mine = f"(topic LIKE '%{marker}%' OR payload LIKE '%{marker}%')"
    wait_for(lambda: vigil.count("dead_letters", mine) >= len(EXPECTED_REASON), 20, "dead letters")
    wait_for(
        lambda: vigil.count("guard_locations", "guard_id = 'sim-guard-0040'") == 300,
        20,
        "valid traffic stored",
    )
    rows = vigil.rows(f"SELECT topic, reason, detail, payload FROM dead_letters WHERE {mine}")
    reasons = sorted(reason for _, reason, _, _ in rows)
    assert reasons == sorted(EXPECTED_REASON.values())
    details = {reason: detail for _, reason, detail, _ in rows}
    assert "$.lat" in details["invalid_field"]
    assert "20" in details["oversized"]
    assert all(len(payload) <= 1024 for *_, payload in rows)
