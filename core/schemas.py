"""Arrow schemas of the lake's tables, defined once; column names are record field names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")
_S, _F, _I, _B = pa.string(), pa.float64(), pa.int64(), pa.bool_()

#: `source` (added later: older files lack it, it reads as null) names the protocol.
_MESSAGE = [("ts", TS), ("received_at", TS), ("msg_key", _S), ("source", _S)]

SCHEMAS: dict[str, pa.Schema] = {
    "guard_locations": pa.schema(
        [
            ("guard_id", _S),
            ("client_id", _I),
            ("lat", _F),
            ("lon", _F),
            ("accuracy", _F),
            ("speed", _F),
            ("heading", _F),
            ("battery", _F),
            ("seq", _I),
            *_MESSAGE,
        ]
    ),
    "device_telemetry": pa.schema(
        [
            ("device_id", _S),
            ("client_id", _I),
            ("battery", _F),
            ("signal", _F),
            ("temperature", _F),
            ("extra", _S),
            ("seq", _I),
            *_MESSAGE,
        ]
    ),
    "sensor_readings": pa.schema(
        [
            ("sensor_id", _S),
            ("client_id", _I),
            ("site_id", _S),
            ("kind", _S),
            ("value", _F),
            ("value_text", _S),
            ("seq", _I),
            *_MESSAGE,
        ]
    ),
    "device_events": pa.schema(
        [
            ("device_id", _S),
            ("client_id", _I),
            ("type", _S),
            ("lat", _F),
            ("lon", _F),
            ("seq", _I),
            *_MESSAGE,
        ]
    ),
    "device_status": pa.schema([("device_id", _S), ("client_id", _I), ("online", _B), *_MESSAGE]),
    "device_alerts": pa.schema(
        [
            ("alert_id", _S),
            ("kind", _S),
            ("severity", _S),
            ("entity_id", _S),
            ("client_id", _I),
            ("site_id", _S),
            ("ts", TS),
            ("lat", _F),
            ("lon", _F),
            ("dedup_key", _S),
            ("status", _S),
            ("detail", _S),
            ("device_id", _S),  # added later: older files lack it (it reads as null)
        ]
    ),
    "dead_letters": pa.schema(
        [("received_at", TS), ("topic", _S), ("reason", _S), ("detail", _S), ("payload", _S)]
    ),
    # Alert lifecycle (core.alerts.AlertEvent): one row per step, the alert's state is their fold.
    "alert_events": pa.schema(
        [
            ("alert_id", _S),
            ("event_id", _S),
            ("client_id", _I),
            ("type", _S),
            ("ts", TS),
            ("who", _S),
            ("note", _S),
            ("incident_id", _S),
            ("count", _I),
            ("tier", _I),
            ("ref", _S),
        ]
    ),
    # Delivery receipts (core.alerts.NotificationAttempt): one row per attempt.
    "notifications": pa.schema(
        [
            ("alert_id", _S),
            ("attempt_id", _S),
            ("client_id", _I),
            ("tier", _I),
            ("channel", _S),
            ("recipient", _S),
            ("attempt", _I),
            ("outcome", _S),
            ("error", _S),
            ("latency_ms", _F),
            ("delay_ms", _F),
            ("ts", TS),
        ]
    ),
    # Notifications to send (actors/notify/outbox.py): one row per delivery, written before
    # its first attempt, so a restarted notifier resumes it. No channel URL: those hold secrets.
    "notification_outbox": pa.schema(
        [
            ("alert_id", _S),
            ("delivery_id", _S),
            ("client_id", _I),
            ("tier", _I),
            ("channel", _S),
            ("recipient", _S),
            ("title", _S),
            ("body", _S),
            ("notify_type", _S),
            ("raised_at", TS),
            ("ts", TS),
        ]
    ),
    # Anomalies the simulator injected (simulator/anomalies.py): which rows are not normal,
    # for training's honest evaluation; `msg_key` names the row of `source` (a table).
    "anomaly_labels": pa.schema(
        [("entity_id", _S), ("source", _S), ("anomaly", _S), ("msg_key", _S), ("ts", TS)]
    ),
}

#: The column that de-duplicates each table's rows, and the one that picks its date partition.
KEY_COLUMN = {name: "msg_key" for name in SCHEMAS} | {
    "device_alerts": "alert_id",
    "dead_letters": "",
    "alert_events": "event_id",
    "notifications": "attempt_id",
    "notification_outbox": "delivery_id",
}
TIME_COLUMN = {name: "ts" for name in SCHEMAS} | {"dead_letters": "received_at"}
#: Compacted files are sorted by these, so one entity's history sits in few row groups.
SORT_COLUMNS = {name: [schema.names[0], TIME_COLUMN[name]] for name, schema in SCHEMAS.items()} | {
    "device_alerts": ["site_id", "ts"],
    "dead_letters": ["received_at"],
}


def conform(table: str, batch: pa.RecordBatch) -> pa.RecordBatch:
    """`batch` in the table's schema as it is now: a column added since the batch was
    written (a log segment of an older vigil) is null."""
    schema = SCHEMAS[table]
    if batch.schema.equals(schema):
        return batch
    columns = [
        batch.column(f.name) if f.name in batch.schema.names else pa.nulls(batch.num_rows, f.type)
        for f in schema
    ]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def to_batch(table: str, records: Sequence[Any]) -> pa.RecordBatch:
    """Columns of `records` (structs whose fields are the table's columns) as one batch."""
    schema = SCHEMAS[table]
    columns = [pa.array([getattr(r, f.name) for r in records], type=f.type) for f in schema]
    return pa.RecordBatch.from_arrays(columns, schema=schema)
