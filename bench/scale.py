"""Scale: vigil with 1,000, 10,000 and 100,000 logical guards (each with its tracker, in
zoned sites) under the same paced load: memory of the shard processes, start-up time, and
what the load costs and how fast it alerts (bench/load.py's measures, one step per size).

    .venv/bin/python bench/scale.py                              # 1k, 10k, 100k at 1,000 msg/s
    .venv/bin/python bench/scale.py --sizes 1000,10000 --rate 2000 --seconds 30

With many guards a short run gives each guard few fixes, so few or no crossings (each
needs two fixes of one guard): the alert column then says so, and only panics are timed.
A size is "within" the goal when its shard PSS is at most 1.5 GB and its CPU per message
is within 10 % of the smallest size's (the same offered rate, so throughput is equal as
long as it is sustainable: every alert right, p99 <= 500 ms, nothing lost).
JSON in bench/results/scale.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import load  # noqa: E402

SHARD = "ray::EntityShard"
console = Console()


def one_size(guards: int, args: argparse.Namespace) -> dict[str, Any]:
    options = load_options(guards, args)
    try:
        result = load.run(options, [args.rate])
    finally:
        shutil.rmtree(options.tmp, ignore_errors=True)
    row = result["rows"][0]
    pss = row["memory_pss_mb_by_process"]
    return {
        "guards": guards,
        "ready_s": result["ready_s"],
        "shard_pss_mb": round(sum(mb for label, mb in pss.items() if label.startswith(SHARD))),
        "total_pss_mb": row["memory_pss_mb"],
        "rate": row["rate"],
        "cpu_us_per_msg": row["cpu_us_per_msg"],
        "p99_alert_ms": row["p99_alert_ms"],
        "critical_p99_ms": row["critical_p99_ms"],
        "lost": row["lost"],
        "alerts_right": row["alerts_right"],
        "sustainable": row["sustainable"],
        "idle_cpu_pct_one_core": result["idle_cpu_pct_one_core"],
        "alerts_expected": row["alerts_expected"],
        "geofence_alerts": row["geofence_alerts"],
        "pss_mb_largest": dict(list(pss.items())[:6]),
    }


def load_options(guards: int, args: argparse.Namespace) -> argparse.Namespace:
    """bench/load.py's options for one size: one step, no reference run."""
    return load.one_step(guards, args.seconds, f"vigil-scale-{guards}-", settle=args.settle)


def table(rows: list[dict[str, Any]]) -> Table:
    out = Table(title="Scale: logical guards under the same paced load, this machine")
    for column in (
        "guards",
        "vigil up until ready, s",
        "shard PSS MB",
        "all PSS MB",
        "msg/s",
        "CPU µs/msg",
        "alert p99 ms",
        "critical p99 ms",
        "lost",
        "sustainable",
    ):
        out.add_column(column, justify="right")
    for r in rows:
        out.add_row(
            f"{r['guards']:,}",
            f"{r['ready_s']:.1f}",
            f"{r['shard_pss_mb']:,}",
            f"{r['total_pss_mb']:,}",
            f"{r['rate']:g}",
            f"{r['cpu_us_per_msg']:.0f}",
            f"{r['p99_alert_ms']:.0f}" if r["geofence_alerts"] else "none crossed",
            f"{r['critical_p99_ms']:.0f}",
            str(r["lost"]),
            "yes" if r["sustainable"] else "no",
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="guards, comma-separated")
    parser.add_argument("--rate", type=float, default=1000.0, help="msg/s offered at each size")
    parser.add_argument("--seconds", type=float, default=30.0, help="of load per size")
    parser.add_argument("--settle", type=float, default=10.0, help="s idle after ready")
    parser.add_argument("--out", type=Path, default=load.RESULTS / "scale.json")
    args = parser.parse_args()
    rows = []
    for guards in (int(n) for n in args.sizes.split(",")):
        console.print(f"[bold]{guards:,} guards[/]")
        rows.append(one_size(guards, args))
    base = rows[0]["cpu_us_per_msg"]
    for row in rows:
        row["cpu_vs_smallest"] = round(row["cpu_us_per_msg"] / base, 2)
        row["within_goal"] = (
            row["shard_pss_mb"] <= 1536 and row["cpu_vs_smallest"] <= 1.1 and row["sustainable"]
        )
    Console(width=max(Console().width, 150)).print(table(rows))
    result = {
        "rows": rows,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    console.print(f"written {args.out}")


if __name__ == "__main__":
    main()
