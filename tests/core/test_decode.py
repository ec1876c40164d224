"""The Decoder against the sample fleet: the seed example, every bad-input class, ids.

Times are microseconds since the epoch. The seed's timestamp, 2025-11-01T10:00:00Z,
is 1 761 991 200 s; messages are received one second later unless a test says otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.rules.entities import Entities
from actors.rules.pipeline import PIPELINE
from core.decode import MAX_DEPTH, Decoder
from core.errors import BadMessage
from core.fleet import FleetIndex, load_fleet
from core.records import (
    DeviceEvent,
    DeviceStatus,
    DeviceTelemetry,
    GuardLocation,
    Record,
    SensorReading,
)
from core.schemas import to_batch
from core.settings import Settings

FLEET = FleetIndex(load_fleet(Path("fleet/sample.yaml")))
SETTINGS = Settings()
DECODER = Decoder(FLEET, SETTINGS)

SEED_TOPIC = "guard/guard-123/gps"
SEED_PAYLOAD = (
    b'{"lat": 12.9716, "lon": 77.5946, "accuracy": 10.5, "guard_id": 123, '
    b'"client_id": 1, "timestamp": "2025-11-01T10:00:00Z"}'
)
SEED_TS = 1_761_991_200_000_000
RECEIVED = SEED_TS + 1_000_000

GPS = "guard/guard-123/gps"
TELEMETRY = "device/dev-123/telemetry"
READING = "sensor/smoke-mg-1/reading"
ALERT = "device/dev-123/alert"
STATUS = "device/dev-123/status"
UPLINK_TOPICS = (GPS, TELEMETRY, READING, ALERT, STATUS)


def decode(topic: str, payload: bytes | dict, received_at: int = RECEIVED) -> Record | None:
    if isinstance(payload, dict):
        payload = json.dumps(payload).encode()
    return DECODER.decode(topic, payload, received_at)


def refused(topic: str, payload: bytes | dict, received_at: int = RECEIVED) -> BadMessage:
    with pytest.raises(BadMessage) as caught:
        decode(topic, payload, received_at)
    return caught.value


# -- the seed example -------------------------------------------------------------------


def test_seed_example_decodes_to_the_guard_location_it_describes() -> None:
    record = DECODER.decode(SEED_TOPIC, SEED_PAYLOAD, RECEIVED)
    assert isinstance(record, GuardLocation)
    assert record.guard_id == "guard-123"
    assert record.client_id == 1
    assert record.ts == SEED_TS
    assert record.received_at == RECEIVED
    assert (record.lat, record.lon, record.accuracy) == (12.9716, 77.5946, 10.5)
    assert (record.speed, record.heading, record.battery, record.seq) == (None, None, None, None)
    assert record.entity_id == "guard-123"


def test_full_gps_payload_keeps_every_field() -> None:
    record = decode(
        GPS,
        {"lat": -1.5, "lon": 179.9, "speed": 1.2, "heading": 270, "battery": 55, "seq": 9},
    )
    assert isinstance(record, GuardLocation)
    assert (record.speed, record.heading, record.battery, record.seq) == (1.2, 270.0, 55.0, 9)


def test_epoch_seconds_ts_is_read_as_microseconds() -> None:
    record = decode(GPS, {"lat": 1, "lon": 1, "ts": 1_761_991_200.25})
    assert record is not None
    assert record.ts == SEED_TS + 250_000


def test_timestamp_with_an_offset_and_fraction_is_converted_to_utc_microseconds() -> None:
    record = decode(GPS, {"lat": 1, "lon": 1, "timestamp": "2025-11-01T15:30:00.000123+05:30"})
    assert record is not None
    assert record.ts == SEED_TS + 123


def test_naive_timestamp_is_taken_as_utc() -> None:
    record = decode(GPS, {"lat": 1, "lon": 1, "timestamp": "2025-11-01T10:00:00"})
    assert record is not None
    assert record.ts == SEED_TS


def test_message_without_a_time_is_stamped_with_its_arrival() -> None:
    record = decode(GPS, {"lat": 1, "lon": 1})
    assert record is not None
    assert record.ts == RECEIVED


# -- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [b"", b"not json", b'{"lat": 1, "lon": 1', b"\xff\xfe"])
def test_payload_that_is_not_json_is_invalid_json(payload: bytes) -> None:
    assert refused(GPS, payload).reason == "invalid_json"


@pytest.mark.parametrize(
    ("topic", "payload", "field"),
    [
        (GPS, {"lat": "12.9", "lon": 77.5}, "$.lat"),
        (GPS, {"lat": 12.9, "lon": [77.5]}, "$.lon"),
        (GPS, {"lat": 12.9, "lon": 77.5, "timestamp": "yesterday"}, "$.timestamp"),
        (GPS, {"lat": 12.9, "lon": 77.5, "seq": -1}, "$.seq"),
        (GPS, {"lon": 77.5}, "lat"),
        (TELEMETRY, {"battery": "full"}, "$.battery"),
        (TELEMETRY, {"signal": True}, "$.signal"),
        (READING, {"kind": 1, "value": 1}, "$.kind"),
        (READING, {"kind": "smoke", "value": [1]}, "$.value"),
        (ALERT, {"type": ""}, "$.type"),
        (ALERT, {"type": "panic", "lat": 12.9}, "$.lat"),
    ],
)
def test_wrong_types_are_invalid_field_naming_the_field(
    topic: str, payload: dict, field: str
) -> None:
    error = refused(topic, payload)
    assert error.reason == "invalid_field"
    assert field in error.detail


@pytest.mark.parametrize("topic", [GPS, TELEMETRY, READING, ALERT])
def test_a_json_value_that_is_not_an_object_is_invalid(topic: str) -> None:
    assert refused(topic, b"[1, 2]").reason == "invalid_field"


@pytest.mark.parametrize(
    "payload",
    [
        b'{"lat": NaN, "lon": 1}',
        b'{"lat": 1, "lon": Infinity}',
        b'{"lat": -Infinity, "lon": 1}',
        b'{"lat": 1e999, "lon": 1}',
        b'{"lat": 1, "lon": 1, "ts": 1e999}',
        b'{"lat": 1, "lon": 1, "accuracy": 1e999}',
    ],
)
def test_nan_and_infinite_numbers_are_rejected(payload: bytes) -> None:
    assert refused(GPS, payload).reason in ("invalid_json", "invalid_field")


def test_infinite_number_among_telemetry_extra_keys_is_rejected() -> None:
    assert refused(TELEMETRY, b'{"battery": 50, "rssi_raw": 1e999}').reason == "invalid_field"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"lat": 90.0001, "lon": 0}, "$.lat"),
        ({"lat": -91, "lon": 0}, "$.lat"),
        ({"lat": 0, "lon": 180.5}, "$.lon"),
        ({"lat": 0, "lon": -181}, "$.lon"),
    ],
)
def test_lat_lon_out_of_range_is_invalid_field_naming_it(payload: dict, field: str) -> None:
    error = refused(GPS, payload)
    assert error.reason == "invalid_field"
    assert field in error.detail


def test_alert_position_out_of_range_is_invalid_field() -> None:
    error = refused(ALERT, {"type": "panic", "lat": 95, "lon": 77.5})
    assert (error.reason, "$.lat" in error.detail) == ("invalid_field", True)


def test_lat_lon_at_the_limits_are_accepted() -> None:
    record = decode(GPS, {"lat": -90, "lon": 180})
    assert isinstance(record, GuardLocation)
    assert (record.lat, record.lon) == (-90.0, 180.0)


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        (GPS, {"lat": 1, "lon": 1, "timestamp": "2025-11-01T10:10:00Z"}),
        (GPS, {"lat": 1, "lon": 1, "ts": 1_761_991_201 + 301}),
        (TELEMETRY, {"battery": 50, "timestamp": "2030-01-01T00:00:00Z"}),
        (READING, {"kind": "smoke", "value": 1, "ts": 4_000_000_000}),
        (ALERT, {"type": "panic", "timestamp": "2099-12-31T23:59:59Z"}),
    ],
)
def test_timestamp_far_in_the_future_is_refused(topic: str, payload: dict) -> None:
    assert refused(topic, payload).reason == "future_timestamp"


def test_timestamp_within_the_allowed_clock_skew_is_accepted() -> None:
    record = decode(GPS, {"lat": 1, "lon": 1, "ts": 1_761_991_201 + 299})
    assert record is not None
    assert record.ts == RECEIVED + 299_000_000


def test_timestamp_before_2000_is_invalid_field() -> None:
    error = refused(GPS, {"lat": 1, "lon": 1, "ts": 0})
    assert (error.reason, "$.timestamp" in error.detail) == ("invalid_field", True)


def test_payload_over_the_size_limit_is_oversized_even_on_an_unknown_topic() -> None:
    big = b'{"lat": 1, "lon": 1, "pad": "' + b"x" * SETTINGS.max_payload_bytes + b'"}'
    assert refused(GPS, big).reason == "oversized"
    assert refused("nowhere/x/y", big).reason == "oversized"


def test_payload_of_exactly_the_size_limit_is_decoded() -> None:
    head = b'{"battery": 50, "pad": "'
    payload = head + b"x" * (SETTINGS.max_payload_bytes - len(head) - 2) + b'"}'
    assert len(payload) == SETTINGS.max_payload_bytes
    assert isinstance(decode(TELEMETRY, payload), DeviceTelemetry)


@pytest.mark.parametrize("topic", ["guard/guard-123/position", "weather/x/reading", "guard//gps"])
def test_unknown_topic_is_refused(topic: str) -> None:
    assert refused(topic, SEED_PAYLOAD).reason == "unknown_topic"


@pytest.mark.parametrize(
    "topic",
    [
        "guard/guard-999/gps",
        "device/dev-999/telemetry",
        "device/guard-123/alert",
        "sensor/smoke-zz/reading",
        "device/ghost/status",
    ],
)
def test_entity_missing_from_the_fleet_is_unknown_entity(topic: str) -> None:
    assert refused(topic, SEED_PAYLOAD).reason == "unknown_entity"


@pytest.mark.parametrize("topic", ["device/dev-123/cmd", "device/dev-123/cmd/ack"])
def test_vigils_own_downlink_traffic_decodes_to_nothing(topic: str) -> None:
    assert decode(topic, b'{"cmd_id": "c1", "type": "ping", "args": {}}') is None


# -- the topic's id is authoritative ----------------------------------------------------


@pytest.mark.parametrize("guard_id", [123, "123", "guard-123", "guard_123"])
def test_guard_id_naming_the_topics_guard_is_accepted(guard_id: int | str) -> None:
    record = decode(GPS, {"lat": 1, "lon": 1, "guard_id": guard_id})
    assert isinstance(record, GuardLocation)
    assert record.guard_id == "guard-123"


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        (GPS, {"lat": 1, "lon": 1, "guard_id": 124}),
        (GPS, {"lat": 1, "lon": 1, "guard_id": "guard-124"}),
        (TELEMETRY, {"battery": 50, "device_id": "dev-124"}),
        (ALERT, {"type": "panic", "device_id": "dev-124"}),
        (READING, {"kind": "smoke", "value": 1, "sensor_id": "smoke-yard-1"}),
        (READING, {"kind": "smoke", "value": 1, "site_id": "site-harbour-yard"}),
        (GPS, {"lat": 1, "lon": 1, "client_id": 2}),
        (GPS, {"lat": 1, "lon": 1, "client_id": "2"}),
        (TELEMETRY, {"battery": 50, "client_id": 2}),
        (READING, {"kind": "smoke", "value": 1, "client_id": 2}),
        (ALERT, {"type": "panic", "client_id": 2}),
    ],
)
def test_payload_naming_another_entity_or_tenant_is_spoofed(topic: str, payload: dict) -> None:
    assert refused(topic, payload).reason == "spoofed_id"


@pytest.mark.parametrize(
    "payload",
    [
        b'{"status": "offline", "client_id": 2}',
        b'{"status": "offline", "device_id": "dev-124"}',
    ],
)
def test_status_payload_naming_another_tenant_or_device_is_spoofed(payload: bytes) -> None:
    assert refused(STATUS, payload).reason == "spoofed_id"


def test_client_id_as_a_string_of_the_right_tenant_is_accepted() -> None:
    record = decode(GPS, {"lat": 1, "lon": 1, "client_id": "1"})
    assert isinstance(record, GuardLocation)
    assert record.client_id == 1


def test_tenant_comes_from_the_fleet_not_the_payload() -> None:
    record = decode("device/dev-201/telemetry", {"battery": 80})
    assert isinstance(record, DeviceTelemetry)
    assert record.client_id == 2


def test_reading_of_another_kind_than_the_sensor_is_invalid_field() -> None:
    error = refused(READING, {"kind": "door", "value": "open"})
    assert error.reason == "invalid_field"
    assert "'door'" in error.detail


# -- telemetry, readings, alerts, status ------------------------------------------------


def test_telemetry_keeps_known_fields_and_other_keys_as_json_in_extra() -> None:
    payload = {"battery": 87.5, "signal": -71, "temperature": 31.2, "fw": "1.4.2"}
    record = decode(TELEMETRY, payload | {"gps_fix": {"sats": 7}})
    assert isinstance(record, DeviceTelemetry)
    assert (record.battery, record.signal, record.temperature) == (87.5, -71.0, 31.2)
    assert record.extra is not None
    assert json.loads(record.extra) == {"fw": "1.4.2", "gps_fix": {"sats": 7}}


def test_telemetry_without_other_keys_has_no_extra() -> None:
    record = decode(TELEMETRY, {"battery": 50, "seq": 3, "client_id": 1, "device_id": "dev-123"})
    assert isinstance(record, DeviceTelemetry)
    assert record.extra is None


@pytest.mark.parametrize(
    ("value", "number", "text", "active"),
    [
        (True, 1.0, None, True),
        (False, 0.0, None, False),
        (1, 1.0, None, True),
        (0.0, 0.0, None, False),
        ("open", None, "open", True),
        ("closed", None, "closed", False),
        (None, None, None, False),
    ],
)
def test_sensor_value_may_be_a_bool_a_number_or_a_string(
    value: object, number: float | None, text: str | None, active: bool
) -> None:
    record = decode("sensor/door-mg-1/reading", {"kind": "door", "value": value})
    assert isinstance(record, SensorReading)
    assert record.value == number
    assert record.value_text == text
    assert record.active is active
    assert (record.site_id, record.client_id) == ("site-mg-road", 1)


def test_reading_naming_its_own_site_and_sensor_is_accepted() -> None:
    record = decode(READING, {"kind": "smoke", "value": 1, "site_id": "site-mg-road",
                              "sensor_id": "smoke-mg-1"})  # fmt: skip
    assert isinstance(record, SensorReading)
    assert record.critical


def test_device_alert_type_is_lowercased_and_keeps_its_position() -> None:
    record = decode(ALERT, {"type": "PANIC", "lat": 12.97, "lon": 77.59})
    assert isinstance(record, DeviceEvent)
    assert (record.type, record.lat, record.lon) == ("panic", 12.97, 77.59)
    assert record.critical


@pytest.mark.parametrize(
    ("payload", "online"),
    [
        (b"online", True),
        (b"offline", False),
        (b"  offline\n", False),
        (b'"online"', True),
        (b'"offline"', False),
        (b'{"status": "online"}', True),
        (b'{"status": "offline", "client_id": 1}', False),
    ],
)
def test_status_is_read_raw_as_a_json_string_or_as_an_object(payload: bytes, online: bool) -> None:
    record = decode(STATUS, payload)
    assert isinstance(record, DeviceStatus)
    assert record.online is online
    assert (record.device_id, record.client_id, record.ts) == ("dev-123", 1, RECEIVED)


@pytest.mark.parametrize(
    "payload", [b"", b"ONLINE", b"maybe", b'{"status": "away"}', b'{"status": 1}', b'{"stat']
)
def test_status_other_than_online_or_offline_is_invalid_field(payload: bytes) -> None:
    assert refused(STATUS, payload).reason == "invalid_field"


# -- de-duplication keys ----------------------------------------------------------------


def test_msg_key_is_entity_and_seq_when_the_device_counts() -> None:
    first = decode(GPS, {"lat": 1, "lon": 1, "seq": 42})
    again = decode(GPS, {"lat": 2, "lon": 2, "seq": 42}, received_at=RECEIVED + 5_000_000)
    assert first is not None and again is not None
    assert first.msg_key == again.msg_key == "guard-123#42"


def test_msg_key_is_stable_for_an_identical_redelivered_payload() -> None:
    first = DECODER.decode(SEED_TOPIC, SEED_PAYLOAD, RECEIVED)
    again = DECODER.decode(SEED_TOPIC, SEED_PAYLOAD, RECEIVED + 60_000_000)
    assert first is not None and again is not None
    assert first.msg_key == again.msg_key
    assert first.msg_key.startswith(f"guard-123@{SEED_TS}:")


def test_msg_key_differs_for_different_payloads_at_the_same_time() -> None:
    one = decode(GPS, {"lat": 1, "lon": 1, "timestamp": "2025-11-01T10:00:00Z"})
    two = decode(GPS, {"lat": 1, "lon": 2, "timestamp": "2025-11-01T10:00:00Z"})
    assert one is not None and two is not None
    assert one.msg_key != two.msg_key


# -- dead letters -----------------------------------------------------------------------


def test_dead_letter_keeps_reason_detail_topic_and_a_truncated_payload() -> None:
    payload = b'{"lat": "north", "pad": "' + b"y" * 5000 + b'"}'
    error = refused(GPS, payload)
    letter = DECODER.dead_letter(GPS, payload, error, RECEIVED)
    assert (letter.topic, letter.reason, letter.received_at) == (GPS, "invalid_field", RECEIVED)
    assert "$.lat" in letter.detail
    assert len(letter.payload) == SETTINGS.dead_letter_payload_bytes
    assert letter.payload == payload[: SETTINGS.dead_letter_payload_bytes].decode()


def test_dead_letter_of_binary_payload_is_text_and_bounded() -> None:
    payload = bytes(range(256)) * 20
    letter = DECODER.dead_letter("x" * 1000, payload, BadMessage("invalid_json", "d" * 900), 1)
    assert isinstance(letter.payload, str)
    assert len(letter.topic) == 256
    assert len(letter.detail) == 512
    assert len(letter.payload) <= SETTINGS.dead_letter_payload_bytes


# -- property: nothing but BadMessage ---------------------------------------------------


def _containers(inner: st.SearchStrategy) -> st.SearchStrategy:
    return st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    _containers,
    max_leaves=12,
)
fields = st.sampled_from(
    ["lat", "lon", "accuracy", "speed", "heading", "battery", "signal", "temperature", "kind",
     "value", "type", "status", "guard_id", "device_id", "sensor_id", "site_id", "client_id",
     "timestamp", "ts", "seq"]
)  # fmt: skip
timestamps = st.datetimes().map(lambda d: d.isoformat() + "Z")
contract_like = st.dictionaries(fields, json_values | timestamps, max_size=8).map(
    lambda d: json.dumps(d, allow_nan=True).encode()
)
payloads = st.binary(max_size=200) | contract_like | st.sampled_from([b"online", b"offline"])


poisons = st.one_of(
    st.integers(MAX_DEPTH + 1, 6000).flatmap(
        lambda n: st.sampled_from(
            [b"[" * n + b"]" * n, b'{"lat":1,"lon":2,"x":' + b"[" * n + b"]" * n + b"}"]
        )
    ),
    st.integers(2**63, 2**80).map(lambda n: b'{"lat":12.97,"lon":77.59,"seq":%d}' % n),
    st.integers(2**63, 2**80).map(lambda n: b'{"battery":50,"client_id":%d}' % n),
    st.sampled_from([b"1e308", b"-1e308", b"1e400"]).map(
        lambda v: (
            b'{"lat":1,"lon":2,"accuracy":%s,"kind":"smoke","value":%s,"type":"panic",'
            b'"battery":%s,"ts":%s}' % (v, v, v, v)
        )
    ),
    st.binary(min_size=1, max_size=64).map(lambda b: b'{"kind":"smoke","value":"\xff' + b + b'"}'),
)


@settings(database=None, max_examples=400, deadline=None)
@given(topic=st.sampled_from(UPLINK_TOPICS), payload=payloads | poisons)
def test_arbitrary_payloads_decode_or_raise_bad_message_only(topic: str, payload: bytes) -> None:
    """The oracle is the path a record really takes: Arrow, then every shard step."""
    try:
        record = DECODER.decode(topic, payload, RECEIVED)
    except BadMessage as error:
        letter = DECODER.dead_letter(topic, payload, error, RECEIVED)
        assert letter.reason == error.reason
        assert len(letter.payload) <= SETTINGS.dead_letter_payload_bytes
        to_batch("dead_letters", [letter])
    else:
        assert isinstance(record, Record)
        to_batch(record.TABLE, [record])  # every accepted record is storable...
        world = Entities(FLEET, SETTINGS)
        for step in PIPELINE[type(record)]:  # ...and goes through every rule
            step(world, record)


@pytest.mark.parametrize("topic", UPLINK_TOPICS)
def test_json_nested_deeper_than_the_limit_is_too_deep_on_every_topic(topic: str) -> None:
    for payload in (b"[" * 5000 + b"]" * 5000, b'{"a":' * (MAX_DEPTH + 1) + b"1" + b"}" * 33):
        assert refused(topic, payload).reason == "too_deep"


def test_nesting_within_the_limit_and_brackets_inside_strings_are_not_too_deep() -> None:
    record = decode(TELEMETRY, b'{"battery": 50, "note": "' + b"[" * 100 + b'", "x": [[1]]}')
    assert isinstance(record, DeviceTelemetry)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"lat": 12.97, "lon": 77.59, "seq": 9223372036854775808}',
        b'{"lat": 12.97, "lon": 77.59, "client_id": 9223372036854775808}',
        b'{"lat": 12.97, "lon": 77.59, "guard_id": -9223372036854775809}',
    ],
)
def test_integers_beyond_int64_are_invalid_field(payload: bytes) -> None:
    assert refused(GPS, payload).reason == "invalid_field"


def test_a_sensor_value_beyond_any_finite_float_is_invalid_field() -> None:
    error = refused(READING, b'{"kind": "smoke", "value": 1e400}')
    assert error.reason == "invalid_field" and "value" in error.detail
