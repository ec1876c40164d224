"""Every record type's fields are its table's columns, of matching types.

`to_batch` reads a record's attributes by the schema's column names: a field added to a
record but not to its schema (or typed apart from it) would be dropped or fail at the
first write, not here.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pyarrow as pa
import pytest

from actors.notify.outbox import OutboxRow
from core.alerts import Alert, AlertEvent, AlertKind, NotificationAttempt, Severity
from core.records import MESSAGE_RECORDS, DeadLetter
from core.schemas import KEY_COLUMN, SCHEMAS, SORT_COLUMNS, TIME_COLUMN, TS, conform, to_batch

#: The record type each table holds. `anomaly_labels` has none: the simulator writes it
#: as numpy columns (simulator/lake.py).
RECORDS: dict[str, type[msgspec.Struct]] = {
    **{cls.TABLE: cls for cls in MESSAGE_RECORDS},
    DeadLetter.TABLE: DeadLetter,
    "device_alerts": Alert,
    "alert_events": AlertEvent,
    "notifications": NotificationAttempt,
    "notification_outbox": OutboxRow,
}
WITHOUT_RECORD = {"anomaly_labels"}


def arrow_type(info: msgspec.inspect.Type, column: str) -> tuple[pa.DataType, bool]:
    """The Arrow type a field of this msgspec type is written as, and if it may be null."""
    nullable = False
    if isinstance(info, msgspec.inspect.UnionType):
        rest = [t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)]
        assert len(rest) == 1, f"{column}: a union of several types"
        info, nullable = rest[0], True
    if isinstance(info, msgspec.inspect.IntType):
        return (TS if column in TIME_COLUMNS else pa.int64()), nullable
    simple: dict[type[Any], pa.DataType] = {
        msgspec.inspect.FloatType: pa.float64(),
        msgspec.inspect.StrType: pa.string(),
        msgspec.inspect.BoolType: pa.bool_(),
        msgspec.inspect.EnumType: pa.string(),  # StrEnums are written by value
        msgspec.inspect.LiteralType: pa.string(),
    }
    return simple[type(info)], nullable


#: Integer microseconds stored as timestamps.
TIME_COLUMNS = {"ts", "received_at", "raised_at"}


def test_every_table_has_a_record_type_or_says_why_not() -> None:
    assert set(RECORDS) | WITHOUT_RECORD == set(SCHEMAS)
    assert set(KEY_COLUMN) == set(TIME_COLUMN) == set(SORT_COLUMNS) == set(SCHEMAS)


@pytest.mark.parametrize("table", sorted(RECORDS))
def test_record_fields_are_the_tables_columns_with_matching_types(table: str) -> None:
    schema, record = SCHEMAS[table], RECORDS[table]
    info = msgspec.inspect.type_info(record)
    assert isinstance(info, msgspec.inspect.StructType)
    fields = {f.name: f for f in info.fields}
    assert sorted(fields) == sorted(schema.names), f"{table} vs {record.__name__}"
    for column in schema:
        expected, nullable = arrow_type(fields[column.name].type, column.name)
        assert column.type == expected, f"{table}.{column.name}: {column.type} vs {expected}"
        if nullable:
            assert column.nullable, f"{table}.{column.name} may be None"


@pytest.mark.parametrize("table", sorted(RECORDS))
def test_a_literal_record_becomes_one_row_of_its_table(table: str) -> None:
    record = RECORDS[table]
    values: dict[str, Any] = {}
    for field in msgspec.inspect.type_info(record).fields:  # type: ignore[attr-defined]
        arrow, _ = arrow_type(field.type, field.name)
        values[field.name] = {
            pa.int64(): 7,
            TS: 1_796_176_800_000_000,
            pa.float64(): 1.5,
            pa.string(): f"{field.name}-1",
            pa.bool_(): True,
        }[arrow]
        if isinstance(field.type, msgspec.inspect.EnumType | msgspec.inspect.LiteralType):
            values[field.name] = next(iter(_choices(field.type)))
    row = msgspec.convert(values, record)
    batch = to_batch(table, [row])
    assert batch.schema == SCHEMAS[table] and batch.num_rows == 1
    assert batch.to_pylist()[0]["msg_key" if "msg_key" in values else batch.schema.names[0]]


def _choices(info: Any) -> list[Any]:
    if isinstance(info, msgspec.inspect.EnumType):
        return [m.value for m in info.cls]
    return list(info.values)


def test_a_batch_written_before_a_column_existed_conforms_with_it_null() -> None:
    """A log segment of an older vigil: its alerts lack `device_id`; rolled or read, the
    column is there, null."""
    alert = Alert(
        alert_id="a1", kind=AlertKind.PANIC, severity=Severity.CRITICAL, entity_id="guard-1",
        client_id=1, site_id=None, ts=1_796_176_800_000_000, dedup_key="panic:guard-1",
    )  # fmt: skip
    old = to_batch("device_alerts", [alert]).drop_columns(["device_id"])
    batch = conform("device_alerts", old)
    assert batch.schema == SCHEMAS["device_alerts"]
    assert batch.to_pylist()[0]["device_id"] is None and batch.to_pylist()[0]["kind"] == "panic"
    fresh = to_batch("device_alerts", [alert])
    assert conform("device_alerts", fresh) is fresh
