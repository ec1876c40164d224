"""Lake throughput and query latency, next to references measured in the same run.

1. Writes: rows/s of `guard_locations` made durable by one StorageWriter actor (Arrow
   batches appended to its log and fsynced), and rows/s rolled into Parquet; the
   references are pyarrow alone doing the same I/O (IPC write + fsync; write_table).
2. Queries on a synthetic 10-million-row lake (simulator.lake): one guard's 24-hour
   track, and an hourly alert count per site for a month, through vigil's catalog
   (fresh snapshot per query, as the API does) and through a plain DuckDB glob.

    .venv/bin/python bench/lake.py                 # 10M rows (about a minute)
    .venv/bin/python bench/lake.py --rows 1000000  # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import ray

from actors.writer import StorageWriter
from core.records import GuardLocation
from core.schemas import to_batch
from core.settings import Settings
from simulator.lake import generate
from storage.catalog import Catalog

RESULTS = Path(__file__).resolve().parent / "results"
BATCH = 50_000
TRACK_SQL = """SELECT ts, lat, lon FROM {src} WHERE guard_id = ?
               AND ts >= TIMESTAMPTZ '{day} 00:00:00+00' AND ts < TIMESTAMPTZ '{day} 00:00:00+00'
               + INTERVAL 1 DAY ORDER BY ts"""
HOURLY_SQL = """SELECT site_id, date_trunc('hour', ts) AS hour, count(*) FROM {src}
                WHERE ts >= TIMESTAMPTZ '{start}' GROUP BY ALL ORDER BY ALL"""


def fixes(rows: int, offset: int) -> pa.RecordBatch:
    now = int(time.time() * 1e6)
    return to_batch(
        "guard_locations",
        [
            GuardLocation(
                ts=now + i,
                received_at=now + i,
                msg_key=f"g{i % 1000}#{offset + i}",
                guard_id=f"g{i % 1000}",
                client_id=1,
                lat=12.97,
                lon=77.59,
                accuracy=5.0,
            )
            for i in range(rows)
        ],
    )


def distinct(batch: pa.RecordBatch, n: int) -> pa.RecordBatch:
    """`batch` with its own msg_keys, so de-duplication keeps every row."""
    keys = pa.array([f"{k}/{n}" for k in batch["msg_key"].to_pylist()])
    return batch.set_column(batch.schema.get_field_index("msg_key"), "msg_key", keys)


def bench_writes(total: int, data: Path) -> dict[str, float]:
    batch = fixes(BATCH, 0)
    batches = [distinct(batch, n) for n in range(total // BATCH)]
    ray.init(address="local", include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    settings = Settings(data_dir=data, roll_seconds=3600, roll_rows=10**9, maintenance_s=3600)
    writer = StorageWriter.options(num_cpus=0).remote(settings)  # type: ignore[attr-defined]
    ray.get(writer.get_stats.remote())
    refs = [ray.put([("guard_locations", b)]) for b in batches]
    started = time.perf_counter()
    for ref in refs:
        ray.get(writer.append.remote(ref))
    durable = total / (time.perf_counter() - started)
    started = time.perf_counter()
    rolled = ray.get(writer.flush.remote())
    roll = rolled / (time.perf_counter() - started)
    ray.shutdown()
    # References: pyarrow alone, same bytes, same disk.
    path = data / "reference.arrows"
    started = time.perf_counter()
    with open(path, "wb") as sink, pa.ipc.new_stream(sink, batch.schema) as stream:
        for b in batches:
            stream.write_batch(b)
            sink.flush()
            os.fsync(sink.fileno())
    ipc = total / (time.perf_counter() - started)
    table = pa.Table.from_batches(batches)
    started = time.perf_counter()
    pq.write_table(table, data / "reference.parquet", compression="zstd")
    parquet = total / (time.perf_counter() - started)
    return {
        "writer_durable_rows_per_s": durable,
        "writer_roll_rows_per_s": roll,
        "pyarrow_ipc_fsync_rows_per_s": ipc,
        "pyarrow_parquet_rows_per_s": parquet,
    }


def timed(run, repeat: int = 15) -> dict[str, float]:  # type: ignore[no-untyped-def]
    run()  # warm the OS cache once, as a running service would be
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": statistics.median(samples), "max_ms": max(samples)}


def bench_queries(rows: int, data: Path) -> dict[str, object]:
    guards, days = 1000, 30
    per_day = max(1, rows // (guards * days))
    started = time.perf_counter()
    counts = generate(str(data), guards=guards, days=days, fixes_per_day=per_day)
    generated_s = time.perf_counter() - started
    catalog = Catalog(data)
    guard = "sim-guard-0500"
    (day,) = catalog.query("SELECT max(ts)::DATE FROM guard_locations")[0]
    (start,) = catalog.query("SELECT min(ts) FROM device_alerts")[0]
    glob = lambda t: f"read_parquet('{data}/{t}/**/*.parquet', hive_partitioning = true)"  # noqa: E731
    plain = duckdb.connect()
    plain.execute("SET TimeZone = 'UTC'")
    track = TRACK_SQL.format(src="guard_locations", day=day)
    hourly = HOURLY_SQL.format(src="device_alerts", start=start)
    result = {
        "lake_rows": counts,
        "generate_s": generated_s,
        "track_rows": len(catalog.query(track, [guard])),
        "track_catalog": timed(lambda: catalog.query(track, [guard])),
        "track_plain_duckdb": timed(
            lambda: plain.execute(
                TRACK_SQL.format(src=glob("guard_locations"), day=day), [guard]
            ).fetchall()
        ),
        "hourly_alerts_catalog": timed(lambda: catalog.query(hourly)),
        "hourly_alerts_plain_duckdb": timed(
            lambda: plain.execute(
                HOURLY_SQL.format(src=glob("device_alerts"), start=start)
            ).fetchall()
        ),
    }
    catalog.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows of the query lake")
    parser.add_argument("--write-rows", type=int, default=2_000_000)
    parser.add_argument("--out", type=Path, default=RESULTS / "lake.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vigil-lake-") as tmp:
        writes = bench_writes(args.write_rows, Path(tmp) / "writes")
        queries = bench_queries(args.rows, Path(tmp) / "lake")
    result = {"writes": writes, "queries": queries}
    print(f"\nwrites of guard_locations ({args.write_rows:,} rows, batches of {BATCH:,})")
    for name, rate in writes.items():
        print(f"  {name:<32} {rate:>14,.0f} rows/s")
    lake_rows = queries["lake_rows"]
    print(
        f"\nqueries on a lake of {lake_rows['guard_locations']:,} fixes and "  # type: ignore[index]
        f"{lake_rows['device_alerts']:,} alerts"
    )  # type: ignore[index]
    print(f"  {'query':<40} {'p50 ms':>8} {'max ms':>8}")
    for name in (
        "track_catalog",
        "track_plain_duckdb",
        "hourly_alerts_catalog",
        "hourly_alerts_plain_duckdb",
    ):
        figures = queries[name]
        print(f"  {name:<40} {figures['p50_ms']:>8.1f} {figures['max_ms']:>8.1f}")  # type: ignore[index]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
