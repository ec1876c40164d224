"""The phones' protocols (core/trackers.py), pure: OwnTracks payloads and Traccar Client
requests become vigil's records in vigil's units, and hostile ones dead letters."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import DEAD_LETTER_REASONS, BadMessage
from core.fleet import Device, FleetIndex, load_fleet
from core.records import DeviceEvent, DeviceStatus, DeviceTelemetry, GuardLocation, Record
from core.schemas import to_batch
from core.settings import Settings
from core.topics import parse_topic
from core.trackers import OSMAND, OWNTRACKS, PhoneDecoder
from tests.core.test_fuzz import FUZZ, JSON, OBJECTS, PAYLOADS, SCALARS

BASE = load_fleet(Path("fleet/sample.yaml"))
FLEET = msgspec.structs.replace(
    BASE,
    devices=[
        msgspec.structs.replace(d, owntracks="ravi/pixel") if d.id == "dev-123" else d
        for d in BASE.devices
    ]
    + [Device(id="phone-loose", client_id=1, owntracks="nobody/phone")],
)
DECODER = PhoneDecoder(FleetIndex(FLEET), Settings())
TST = 1_761_991_200  # 2025-11-01T10:00:00Z
RECEIVED = (TST + 1) * 1_000_000


def owntracks(payload: dict | bytes, topic: str = "owntracks/ravi/pixel") -> list[Record]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return DECODER.records(topic, body, RECEIVED)


def by_type(records: list[Record]) -> dict[type, Record]:
    return {type(r): r for r in records}


def test_an_owntracks_location_is_its_guards_fix_and_its_battery_the_devices_telemetry() -> None:
    found = by_type(
        owntracks(
            {"_type": "location", "lat": 12.97, "lon": 77.59, "tst": TST, "acc": 9, "vel": 36}
            | {"cog": 90, "batt": 55, "tid": "rp", "conn": "m", "alt": 900}
        )
    )
    fix = found[GuardLocation]
    assert isinstance(fix, GuardLocation)
    assert (fix.guard_id, fix.client_id, fix.ts, fix.source) == (
        "guard-123",
        1,
        TST * 10**6,
        OWNTRACKS,
    )
    assert (fix.lat, fix.lon, fix.accuracy, fix.speed, fix.heading, fix.battery) == (
        12.97, 77.59, 9, 10.0, 90, 55
    )  # fmt: skip
    telemetry = found[DeviceTelemetry]
    assert isinstance(telemetry, DeviceTelemetry)
    assert (telemetry.device_id, telemetry.battery, telemetry.source) == ("dev-123", 55, OWNTRACKS)


def test_a_transition_is_a_fix_and_the_last_will_marks_the_device_offline() -> None:
    transition = {"_type": "transition", "lat": 12.9, "lon": 77.5, "tst": TST, "acc": 30}
    transition |= {"event": "leave", "desc": "office", "wtst": TST - 100, "t": "c"}
    (fix,) = owntracks(transition, "owntracks/ravi/pixel/event")
    assert isinstance(fix, GuardLocation) and fix.lat == 12.9
    (status,) = owntracks({"_type": "lwt", "tst": TST - 86_400})
    assert isinstance(status, DeviceStatus)
    assert (status.device_id, status.online, status.ts) == ("dev-123", False, RECEIVED)


def test_the_commands_vigil_sends_a_phone_are_not_read_back() -> None:
    assert owntracks({"_type": "cmd", "action": "reportLocation"}, "owntracks/ravi/pixel/cmd") == []


LOC = {"_type": "location", "lat": 1, "lon": 2, "tst": TST}
MINE = "owntracks/ravi/pixel"


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("owntracks/someone/else", LOC, "unknown_entity"),
        ("owntracks/nobody/phone", LOC, "unknown_entity"),  # a phone nobody carries
        (MINE, {"_type": "card", "name": "Ravi"}, "invalid_field"),
        (MINE, {**LOC, "lat": 91}, "invalid_field"),
        (MINE, {"_type": "location", "lat": 1, "lon": 2}, "invalid_field"),
        (MINE, {**LOC, "tst": TST + 3600}, "future_timestamp"),
        (f"{MINE}/waypoints", {"_type": "waypoints"}, "unknown_topic"),
        ("owntracks/ravi/../x", {"_type": "lwt", "tst": TST}, "unknown_topic"),
    ],
)
def test_what_vigil_cannot_use_is_a_dead_letter_naming_why(
    topic: str, payload: dict, reason: str
) -> None:
    with pytest.raises(BadMessage) as caught:
        owntracks(payload, topic)
    assert caught.value.reason == reason


def osmand(query: dict[str, str], body: bytes = b"", device: str = "dev-123") -> list[Record]:
    return DECODER.osmand(device, query, body, RECEIVED)


def test_a_traccar_client_query_in_its_units_and_its_alarm_on_the_critical_lane() -> None:
    query = {"id": "dev-123", "lat": "12.97", "lon": "77.59", "timestamp": str(TST * 1000)}
    query |= {"speed": "10", "bearing": "180", "accuracy": "5", "batt": "40", "alarm": "SOS"}
    found = by_type(osmand(query))
    fix, alarm = found[GuardLocation], found[DeviceEvent]
    assert isinstance(fix, GuardLocation) and isinstance(alarm, DeviceEvent)
    assert fix.ts == TST * 10**6 and fix.speed == pytest.approx(5.1444, abs=1e-4)
    assert (fix.heading, fix.accuracy, fix.battery, fix.source) == (180, 5, 40, OSMAND)
    assert (alarm.type, alarm.critical, alarm.lat) == ("sos", True, 12.97)
    assert found[DeviceTelemetry].source == OSMAND


@pytest.mark.parametrize(
    "timestamp", [str(TST), str(TST * 1000), "2025-11-01T10:00:00Z", "2025-11-01 10:00:00"]
)
def test_every_timestamp_form_traccar_reads(timestamp: str) -> None:
    (fix,) = osmand({"lat": "1", "lon": "2", "timestamp": timestamp})
    assert fix.ts == TST * 10**6


def test_the_json_form_and_its_list_of_kept_fixes() -> None:
    def one(second: int, level: float) -> dict:
        coords = {"latitude": 12.9, "longitude": 77.5, "accuracy": 3, "speed": -1, "heading": -1}
        stamp = f"2025-11-01T10:00:0{second}.000Z"
        return {"timestamp": stamp, "coords": coords, "battery": {"level": level}, "extras": {}}

    body = json.dumps({"location": [one(0, 0.5), one(1, -1)], "device_id": "dev-123"}).encode()
    found = osmand({}, body)
    fixes = [r for r in found if isinstance(r, GuardLocation)]
    assert [f.ts for f in fixes] == [TST * 10**6, (TST + 1) * 10**6]
    assert [(f.speed, f.heading) for f in fixes] == [(None, None), (None, None)]
    assert [r.battery for r in found if isinstance(r, DeviceTelemetry)] == [50.0]  # -1: unknown


def test_a_request_naming_another_device_is_spoofing_and_one_without_a_fix_is_invalid() -> None:
    with pytest.raises(BadMessage) as caught:
        osmand({"id": "dev-124", "lat": "1", "lon": "2"})
    assert caught.value.reason == "spoofed_id"
    with pytest.raises(BadMessage) as caught:
        osmand({})
    assert caught.value.reason == "invalid_field" and "lat" in caught.value.detail
    with pytest.raises(BadMessage) as caught:
        osmand({"lat": "1", "lon": "2"}, device="button-mg-1")  # carried by no guard
    assert caught.value.reason == "unknown_entity"


def test_a_phone_topic_is_the_phones_user_and_device() -> None:
    topic = parse_topic("owntracks/ravi/pixel/event")
    assert (topic.kind, topic.entity_id) == ("owntracks_event", "ravi/pixel")


def fits(records: list[Record]) -> None:
    """Every record a message becomes also fits its table."""
    for record in records:
        to_batch(record.TABLE, [record])


OWNTRACKS_TOPICS = st.sampled_from(
    ["owntracks/ravi/pixel", "owntracks/ravi/pixel/event", "owntracks/ravi/pixel/cmd",
     "owntracks/nobody/phone", "owntracks/x/y", "owntracks/ravi", "owntracks/ravi/pixel/info"]
)  # fmt: skip
OWNTRACKS_OBJECTS = st.fixed_dictionaries(
    {"_type": st.sampled_from(["location", "transition", "lwt", "card", ""]) | SCALARS},
    optional={
        k: SCALARS | JSON for k in ("lat", "lon", "tst", "acc", "vel", "cog", "batt", "event")
    },
)


@FUZZ
@given(
    topic=OWNTRACKS_TOPICS,
    payload=OWNTRACKS_OBJECTS.map(lambda o: json.dumps(o).encode()) | PAYLOADS,
)
def test_an_owntracks_message_is_records_or_a_dead_letter_with_a_known_reason(
    topic: str, payload: bytes
) -> None:
    try:
        fits(DECODER.records(topic, payload, RECEIVED))
    except BadMessage as exc:
        assert exc.reason in DEAD_LETTER_REASONS and exc.reason != "internal", exc


QUERY_KEYS = st.sampled_from(
    ["id", "deviceid", "lat", "lon", "timestamp", "accuracy", "speed", "bearing", "heading",
     "batt", "alarm", "hdop", "altitude"]
)  # fmt: skip
QUERY_VALUES = st.text(max_size=12) | st.sampled_from(
    ["dev-123", "12.97", "77.59", "-1", "nan", "inf", "1e400", str(TST), str(TST * 1000), "sos"]
)


@FUZZ
@given(
    query=st.dictionaries(QUERY_KEYS | st.text(max_size=6), QUERY_VALUES, max_size=8),
    body=OBJECTS.map(lambda o: json.dumps({"location": o}).encode()) | PAYLOADS,
)
def test_a_traccar_client_request_is_records_or_a_dead_letter_with_a_known_reason(
    query: dict[str, str], body: bytes
) -> None:
    try:
        fits(DECODER.osmand("dev-123", query, body, RECEIVED))
    except BadMessage as exc:
        assert exc.reason in DEAD_LETTER_REASONS and exc.reason != "internal", exc
