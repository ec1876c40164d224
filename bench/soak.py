"""Soak: vigil under a steady paced load for ten minutes: does any process's memory keep
growing, and does the cost per message drift?

    .venv/bin/python bench/soak.py                          # 1,000 msg/s, 10 min, 2 min warm-up
    .venv/bin/python bench/soak.py --rate 1000 --seconds 600 --warmup 120 --every 30

bench/load.py's run (the same fleet, mix, publishers, NOC feed and lake checks), one step,
with the resident set size (RSS) of every process of vigil's tree (Ray's own included)
sampled every `--every` s after the warm-up. A process is "flat" when its RSS at the end
is within 10 % of its RSS at the end of the warm-up (or grew by less than 5 MB: a small
process's noise). The CPU per message is compared with bench/results/load.json's
2,000 msg/s figure when there is one (measured on this machine by bench/load.py).
JSON in bench/results/soak.json.
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

FLAT_PCT, NOISE_MB = 10.0, 5.0
console = Console()


def growth(series: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per process label: RSS at the first and the last sample, and whether it is flat."""
    first, last = series[0]["rss_mb"], series[-1]["rss_mb"]
    rows = []
    for label in sorted(set(first) & set(last), key=lambda k: -last[k]):
        was, now = first[label], last[label]
        pct = 100 * (now - was) / was if was else 0.0
        flat = pct <= FLAT_PCT or now - was < NOISE_MB
        peak = max(s["rss_mb"].get(label, 0.0) for s in series)
        rows.append(
            {"process": label, "rss_start_mb": was, "rss_end_mb": now, "rss_peak_mb": peak}
            | {"growth_pct": round(pct, 1), "flat": flat}
        )
    return rows


def reference_cpu() -> float | None:
    """CPU per message at 2,000 msg/s from bench/results/load.json, if measured."""
    path = load.RESULTS / "load.json"
    try:
        rows = json.loads(path.read_text())["rows"]
    except (OSError, KeyError, ValueError):
        return None
    at = [r["cpu_us_per_msg"] for r in rows if r.get("rate") == 2000]
    return float(at[0]) if at else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="msg/s offered")
    parser.add_argument("--seconds", type=float, default=600.0, help="of load, warm-up included")
    parser.add_argument("--warmup", type=float, default=120.0, help="s before memory counts")
    parser.add_argument("--every", type=float, default=30.0, help="s between memory samples")
    parser.add_argument("--guards", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=load.RESULTS / "soak.json")
    args = parser.parse_args()
    options = load.one_step(
        args.guards, args.seconds, "vigil-soak-", warmup=args.warmup, memory_every=args.every
    )
    try:
        result = load.run(options, [args.rate])
    finally:
        shutil.rmtree(options.tmp, ignore_errors=True)
    row = result["rows"][0]
    series = row["memory_rss_series"]
    processes = growth(series) if len(series) >= 2 else []
    reference = reference_cpu()
    out = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "rate": row["rate"],
        "seconds": args.seconds,
        "warmup_s": args.warmup,
        "cpu_us_per_msg": row["cpu_us_per_msg"],
        "cpu_us_per_msg_at_2000": reference,
        "p99_alert_ms": row["p99_alert_ms"],
        "critical_p99_ms": row["critical_p99_ms"],
        "lost": row["lost"],
        "alerts_right": row["alerts_right"],
        "rss_all_start_mb": round(sum(p["rss_start_mb"] for p in processes)),
        "rss_all_end_mb": round(sum(p["rss_end_mb"] for p in processes)),
        "not_flat": [p["process"] for p in processes if not p["flat"]],
        "processes": processes,
        "series": series,
    }
    table = Table(title=f"Soak: {row['rate']:g} msg/s for {args.seconds:g} s, RSS after warm-up")
    for column in ("process", "RSS start MB", "RSS end MB", "peak MB", "growth %", "flat"):
        table.add_column(column, justify="left" if column == "process" else "right")
    for p in processes[:20]:
        table.add_row(
            p["process"],
            f"{p['rss_start_mb']:.0f}",
            f"{p['rss_end_mb']:.0f}",
            f"{p['rss_peak_mb']:.0f}",
            f"{p['growth_pct']:+.1f}",
            "yes" if p["flat"] else "[red]no[/]",
        )
    console.print(table)
    at_2000 = f"{reference:.0f}" if reference is not None else "not measured"
    console.print(
        f"CPU {row['cpu_us_per_msg']:.0f} µs/msg (at 2,000 msg/s: {at_2000}); "
        f"alert p99 {row['p99_alert_ms']:.0f} ms, lost {row['lost']}; "
        f"not flat: {', '.join(out['not_flat']) or 'none'}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    console.print(f"written {args.out}")


if __name__ == "__main__":
    main()
