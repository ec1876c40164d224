"""Fuzzing: generated hostile input for every door vigil opens to the outside.

The MQTT decoder, the fleet file, every REST body and every fleet edit either accept
an input or refuse it with vigil's own error naming what was wrong (a dead-letter
reason, a key, a field, a 4xx); nothing else escapes, nothing is a 500. `make test`
runs 1,600 inputs; `make fuzz` (VIGIL_FUZZ=1) 100,000.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.rules import fleet_edits
from actors.rules.fleet_edits import TYPES, FleetEditError
from core.decode import Decoder
from core.errors import DEAD_LETTER_REASONS, BadMessage, ConfigError, VigilError
from core.fleet import FleetIndex, load_fleet, parse_fleet
from core.records import Record
from core.settings import Settings
from serve.endpoints import ApiError, Endpoint, field_of

#: Inputs per target: `make fuzz` sets VIGIL_FUZZ (4 targets x 25,000 = 100,000).
EXAMPLES = 25_000 if os.environ.get("VIGIL_FUZZ") else 400
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

FLEET = load_fleet(Path("fleet/sample.yaml"))
DECODER = Decoder(FleetIndex(FLEET), Settings())
RECEIVED = 1_761_991_201_000_000

# JSON of every shape, with the values that break careless code: huge and tiny numbers,
# NaN spelled out, empty and odd strings, deep nesting.
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["", "1", "-1", "1e400", "NaN", "2025-11-01T10:00:00Z", "guard-123"])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=25,
)
FIELDS = st.sampled_from(
    ["lat", "lon", "accuracy", "ts", "timestamp", "guard_id", "client_id", "battery",
     "signal", "temperature", "type", "status", "value", "kind", "device_id", "id"]
)  # fmt: skip
# Objects made mostly of the keys vigil reads, so the checks past the first are reached.
OBJECTS = st.dictionaries(FIELDS | st.text(max_size=8), JSON, max_size=8)
TOPICS = st.sampled_from(
    ["guard/guard-123/gps", "device/dev-123/telemetry", "device/dev-123/alert",
     "device/dev-123/status", "sensor/smoke-mg-1/reading", "device/dev-123/cmd/ack",
     "guard/guard-999/gps", "guard//gps", "device/dev-123", "x/y/z"]
) | st.text(max_size=40)  # fmt: skip
PAYLOADS = (
    OBJECTS.map(lambda o: json.dumps(o).encode())
    | JSON.map(lambda o: json.dumps(o).encode())
    | st.binary(max_size=200)
    | st.sampled_from([b"{", b'{"lat": NaN}', b'{"lat": 1e999}', b"[" * 500, b"\xff\xfe"])
)


@FUZZ
@given(topic=TOPICS, payload=PAYLOADS)
def test_the_decoder_takes_a_message_or_dead_letters_it_with_a_known_reason(
    topic: str, payload: bytes
) -> None:
    try:
        record = DECODER.decode(topic, payload, RECEIVED)
    except BadMessage as exc:
        assert exc.reason in DEAD_LETTER_REASONS and exc.reason != "internal", exc
        return
    assert record is None or isinstance(record, Record)


SECTIONS = st.sampled_from(["tenants", "sites", "guards", "devices", "sensors", "contacts"])
SAMPLE = msgspec.to_builtins(FLEET)


@FUZZ
@given(section=SECTIONS, index=st.integers(0, 3), key=FIELDS | st.text(max_size=8), value=JSON)
def test_a_fleet_file_loads_or_is_a_config_error_naming_the_key(
    section: str, index: int, key: str, value: Any
) -> None:
    raw = json.loads(json.dumps(SAMPLE))
    items = raw.setdefault(section, [])
    if items:
        items[index % len(items)][key] = value  # one field of a real entry made hostile
    else:
        items.append({key: value})
    try:
        parse_fleet(raw, source="fuzz.yaml")
    except ConfigError as exc:
        assert str(exc).startswith("fuzz.yaml: "), exc


def body_endpoints() -> list[Endpoint]:
    from serve.app import api_endpoints
    from serve.services import Services

    services = Services(Settings(), "s" * 32, None, None, None, None, [], None)  # type: ignore[arg-type]
    return [e for e in api_endpoints(services) if e.body is not None]


BODIES = [(e, e.body) for e in body_endpoints()]


@FUZZ
@given(pick=st.sampled_from(BODIES), body=OBJECTS | JSON)
def test_every_rest_body_decodes_or_is_a_400_naming_the_field(
    pick: tuple[Endpoint, Any], body: Any
) -> None:
    endpoint, kind = pick
    raw = json.dumps(body).encode()
    try:
        msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as exc:
        error = ApiError(400, field_of(exc), str(exc))
        assert error.http_status == 400 and error.field, (endpoint.path, exc)


@FUZZ
@given(
    collection=st.sampled_from(sorted(TYPES)),
    item_id=st.none() | st.sampled_from(["guard-123", "dev-123", "1", "site-mg-road", "x"]),
    body=OBJECTS | JSON,
    tenant=st.sampled_from([None, 1, 2]),
    create=st.booleans(),
)
def test_every_fleet_edit_applies_or_is_a_4xx_naming_the_field(
    collection: str, item_id: str | None, body: Any, tenant: int | None, create: bool
) -> None:
    try:
        fleet_edits.put(FLEET, collection, item_id, body, tenant, create)
    except FleetEditError as exc:
        assert 400 <= exc.http_status < 500 and exc.field, exc
    except VigilError as exc:  # only a refusal of vigil's own, with its status
        assert 400 <= exc.http_status < 500, exc
