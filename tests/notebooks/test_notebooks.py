"""The notebooks run green on a lake made by the simulator, and save their plots."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from simulator.lake import generate

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lake")
    generate(str(root), guards=20, days=3, fixes_per_day=96)
    return root


@pytest.mark.parametrize("name", ["fleet_overview", "patrol_track", "alert_stats"])
def test_notebook_runs_and_saves_its_plot(
    name: str, lake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIGIL_DATA", str(lake))
    monkeypatch.setenv("VIGIL_PLOTS", str(tmp_path))
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)

    NotebookClient(notebook, timeout=120, kernel_name="python3").execute()

    plot = tmp_path / f"{name}.png"
    assert plot.stat().st_size > 10_000
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []
