"""DuckDB over the lake: one view per table, for the API's history and for notebooks.

from storage.catalog import connect
con = connect("data")
con.execute("select count(*) from guard_locations").fetchone()
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from core.schemas import SCHEMAS
from storage.lake import dataset_glob

_DUCK_TYPES = {
    "string": "VARCHAR",
    "double": "DOUBLE",
    "int64": "BIGINT",
    "bool": "BOOLEAN",
    "timestamp[us, tz=UTC]": "TIMESTAMPTZ",
}


def connect(
    root: str | Path, con: duckdb.DuckDBPyConnection | None = None
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with a view per lake table (empty where nothing is written yet)."""
    root = Path(root)
    con = con or duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for table, schema in SCHEMAS.items():
        if any((root / table).glob("date=*/*.parquet")):
            source = (
                f"read_parquet('{dataset_glob(root, table)}', hive_partitioning = true, "
                "union_by_name = true)"
            )
        else:
            columns = ", ".join(f"NULL::{_DUCK_TYPES[str(f.type)]} AS {f.name}" for f in schema)
            source = f"(SELECT {columns}, NULL::DATE AS date WHERE false)"
        con.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM {source}")
    return con


def count(root: str | Path, table: str, where: str = "true", params: list | None = None) -> int:
    """Rows of `table` matching `where` (a convenience for tests and the CLI)."""
    con = connect(root)
    try:
        row = con.execute(f"SELECT count(*) FROM {table} WHERE {where}", params or []).fetchone()
        return int(row[0]) if row else 0
    finally:
        con.close()
