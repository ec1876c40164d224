"""Training: the anomaly model against the fixed-threshold baseline, and how long it takes.

Writes a labelled synthetic lake (simulator.lake with injected anomalies), then runs
one training run through the real Ray Train job (TrainingDesk -> DataParallelTrainer,
one worker) and prints, on the held-out time range, precision and recall of the model
and of the fixed thresholds, recall per kind of anomaly, and the timing: from start()
to the first progress report, and to the end. The same run without Ray
(training.fitting.fit) gives the cost of Ray Train itself.

    .venv/bin/python bench/train.py                  # 100 trackers, 8 sensors, 14 days
    .venv/bin/python bench/train.py --days 30 --guards 300
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import ray

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from actors.desk import FINAL, TrainingDesk  # noqa: E402
from cli.runtime import NOT_RETRIED, spawn_one  # noqa: E402
from core import names  # noqa: E402
from core.settings import Settings  # noqa: E402
from simulator.lake import generate  # noqa: E402
from training.fitting import RunSpec, fit  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def _never(_: dict[str, Any]) -> bool:
    return False  # the run without Ray is never cancelled


def through_ray_train(data: Path, chunk_rows: int) -> dict[str, Any]:
    settings = Settings(data_dir=data, namespace="vigil-bench-train", train_poll_s=0.5)
    handle = spawn_one(settings, TrainingDesk, names.TRAINING, settings, **NOT_RETRIED)
    started = time.monotonic()
    run = ray.get(handle.start.remote("bench", None, {"chunk_rows": chunk_rows}))
    first = None
    while run["status"] not in FINAL:
        time.sleep(0.2)
        run = ray.get(handle.run.remote(run["run_id"]))
        if first is None and run["reports"]:
            first = time.monotonic() - started
    if run["status"] != "succeeded":
        raise SystemExit(f"run {run['status']}: {run['error']}")
    return {
        "metrics": run["metrics"],
        "reports": run["reports"],
        "rows": run["rows_total"],
        "first_report_s": round(first or 0.0, 1),
        "total_s": round(time.monotonic() - started, 1),
        "version": run["version"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--guards", type=int, default=100)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--sensors-per-site", type=int, default=4)
    parser.add_argument("--anomaly-rate", type=float, default=0.3)
    parser.add_argument("--chunk-rows", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        counts = generate(
            str(data),
            guards=args.guards,
            days=args.days,
            fixes_per_day=4,
            sensors_per_site=args.sensors_per_site,
            anomaly_rate=args.anomaly_rate,
        )
        started = time.monotonic()
        plain = fit(RunSpec(run_id="plain", data_dir=str(data), chunk_rows=args.chunk_rows), _never)
        plain_s = time.monotonic() - started
        ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR")
        try:
            result = through_ray_train(data, args.chunk_rows)
        finally:
            ray.shutdown()
    m = result["metrics"]
    print(f"lake: {json.dumps(counts)}")
    print(f"held out: {m['holdout_rows']:,} rows, {m['holdout_anomalies']:,} labelled anomalies")
    print(f"{'':10} {'precision':>9} {'recall':>7}  recall by kind")
    for who in ("model", "baseline"):
        kinds = ", ".join(f"{k} {v:.2f}" for k, v in m[f"{who}_recall_by_kind"].items())
        print(f"{who:10} {m[f'{who}_precision']:9.3f} {m[f'{who}_recall']:7.3f}  {kinds}")
    print(
        f"Ray Train: {result['rows']:,} rows, {result['reports']} reports, first report after "
        f"{result['first_report_s']} s, done in {result['total_s']} s; "
        f"the same fit without Ray: {plain_s:.1f} s"
    )
    RESULTS.mkdir(exist_ok=True)
    out = {
        "params": vars(args),
        "lake": counts,
        **result,
        "plain_fit_s": round(plain_s, 2),
        "plain_metrics": plain["meta"]["metrics"],
    }
    (RESULTS / "train.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
