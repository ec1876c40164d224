"""One training run, start to end, without Ray: plan, learn chunk by chunk, evaluate.

`fit(spec, report)` is what the Ray Train worker runs (training/job.py); `report` gets
a progress dict after every chunk and answers True when the run should stop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import msgspec

from actors.rules.anomaly import FEATURES, Model
from core.errors import VigilError
from training.evaluation import Evaluation, baseline
from training.features import Features
from training.learner import Learner, dump_estimators
from training.source import LakeSource


class RunSpec(msgspec.Struct, frozen=True, kw_only=True):
    """What a run trains on and how; the API's body fills the tunables."""

    run_id: str
    data_dir: str
    lake_uri: str = ""
    namespace: str = "vigil"
    client_id: int | None = None  # None: every tenant's data
    holdout: float = 0.25  # the last quarter of the time range is held out
    chunk_rows: int = 2000
    clusters: int = 1  # k-means centres; see docs/training.md for the sweep behind 1 and 0.98
    quantile: float = 0.98
    start: int | None = None  # µs; default: the data's own range
    end: int | None = None


class RunCancelled(VigilError):
    """The run was cancelled while it was training."""


Report = Callable[[dict[str, Any]], bool]


def fit(spec: RunSpec, report: Report) -> dict[str, Any]:
    """Train and evaluate; returns {model_json, estimators, meta}."""
    started = time.monotonic()
    source = LakeSource(spec.data_dir, spec.lake_uri, spec.client_id)
    try:
        plan = source.plan(spec.holdout, spec.start, spec.end)
        learners = {f: Learner(f, spec.clusters, spec.quantile) for f in FEATURES}
        features = Features()
        done, loss = 0, {}

        def tell(phase: str, metrics: dict[str, Any]) -> None:
            progress = {
                "phase": phase,
                "rows_done": done,
                "rows_total": plan.total,
                "progress": done / plan.total if plan.total else 1.0,
                "metrics": metrics,
            }
            if report(progress):
                raise RunCancelled(f"run {spec.run_id} was cancelled at {done} rows")

        for family, learner in learners.items():
            for rows in source.chunks(family, plan.start, plan.split, spec.chunk_rows):
                x, groups, _, _ = features.of(family, rows)
                value = learner.partial_fit(x, groups)
                done += len(rows)
                if value is not None:
                    loss[family] = round(value, 4)
                tell("train", {f"loss_{f}": v for f, v in loss.items()})
        families = {f: fam for f, lrn in learners.items() if (fam := lrn.finish()) is not None}
        if not families:
            raise ValueError("too few training rows to fit any model (widen the time range)")
        model = Model(version="", families=families)
        evaluation = Evaluation()
        for family in FEATURES:
            for rows in source.chunks(family, plan.split, plan.end, spec.chunk_rows):
                x, groups, kinds, labels = features.of(family, rows)
                judged = families.get(family)
                for row, group, kind, label in zip(x, groups, kinds, labels, strict=True):
                    values = tuple(float(v) for v in row)
                    score = judged.score(str(group), values) if judged else None
                    flagged = score is not None and judged is not None and score > judged.threshold
                    evaluation.add(
                        label, {"model": flagged, "baseline": baseline(family, kind, values)}
                    )
                done += len(rows)
                tell("evaluate", evaluation.metrics())
        metrics = evaluation.metrics() | {f"loss_{f}": v for f, v in loss.items()}
        meta = {
            "run_id": spec.run_id,
            "metrics": metrics,
            "data_range": {"start": plan.start, "split": plan.split, "end": plan.end},
            "rows": {f: {"train": a, "holdout": b} for f, (a, b) in plan.rows.items()},
            "thresholds": {f: fam.threshold for f, fam in families.items()},
            "params": msgspec.to_builtins(spec),
            "seconds": round(time.monotonic() - started, 2),
        }
        return {
            "model_json": model.to_json(),
            "estimators": dump_estimators(learners),
            "meta": meta,
        }
    finally:
        source.close()
