"""A whole run without Ray on a labelled synthetic lake: progress, registry, and the
model against the fixed-threshold baseline on the held-out range."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from actors.rules.anomaly import Model
from simulator.lake import generate
from training.fitting import RunCancelled, RunSpec, fit
from training.registry import Registry, RegistryError


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("labelled-lake")
    generate(str(root), guards=20, days=4, fixes_per_day=4, sensors_per_site=4, anomaly_rate=0.3)
    return root


def test_the_model_beats_the_fixed_threshold_baseline_on_held_out_anomalies(lake: Path) -> None:
    reports: list[dict[str, Any]] = []
    result = fit(RunSpec(run_id="t", data_dir=str(lake), chunk_rows=1500), reports.append)
    m = result["meta"]["metrics"]
    print(
        f"\nheld out {m['holdout_rows']} rows, {m['holdout_anomalies']} anomalies; "
        f"model precision {m['model_precision']:.3f} recall {m['model_recall']:.3f}; "
        f"baseline precision {m['baseline_precision']:.3f} recall {m['baseline_recall']:.3f}"
    )
    assert m["holdout_anomalies"] > 20
    assert m["model_precision"] > m["baseline_precision"]
    assert m["model_recall"] > m["baseline_recall"]
    assert len(reports) >= 5 and reports[-1]["rows_done"] == reports[-1]["rows_total"]
    assert [r["rows_done"] for r in reports] == sorted(r["rows_done"] for r in reports)
    assert any("loss_sensor" in r["metrics"] for r in reports)
    Model.from_json(result["model_json"])  # the scorer decodes


def test_a_report_answering_true_cancels_the_run(lake: Path) -> None:
    with pytest.raises(RunCancelled, match="cancelled at 500 rows"):
        fit(RunSpec(run_id="t", data_dir=str(lake), chunk_rows=500), lambda _: True)


def test_registry_versions_count_up_and_promote_makes_one_live(tmp_path: Path) -> None:
    registry = Registry(str(tmp_path))
    model = Model(version="", families={}).to_json()
    first = registry.write(model, b"pickle", {"metrics": {"model_recall": 0.5}})
    second = registry.write(model, b"pickle", {"metrics": {}})
    assert (first, second) == ("v0001", "v0002") and registry.live() is None
    payload = registry.promote(first)
    assert Model.from_json(payload).version == "v0001"
    assert registry.live() == "v0001" and registry.live_payload() == payload
    assert registry.meta(first)["live"] and not registry.meta(second)["live"]
    with pytest.raises(RegistryError, match="v0009"):
        registry.promote("v0009")
