"""TrainingDesk (`vigil-training`): starts runs, streams their progress, keeps the registry.

A run's `fit()` blocks until the run ends, so each runs on a thread of this (threaded)
actor and `start` returns at once. The worker's loop hands every chunk's progress to
`progress`, which sends it to the user who started the run (`broadcast_to_user`) and to
their tenant's NOC page (`broadcast_to_noc`, the training panel), and answers whether
the run was cancelled. A finished run's model becomes a new registry version;
`promote` makes a version live and hot-loads it into every shard.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import ray

from actors.hub import HIGH, broadcast_to_noc, broadcast_to_user
from core import names
from core.errors import VigilError
from core.settings import Settings
from training.fitting import RunSpec
from training.job import trainer
from training.registry import Registry

log = logging.getLogger("vigil.training")

FINAL = ("succeeded", "failed", "cancelled")
TUNABLES = {"holdout": float, "chunk_rows": int, "clusters": int, "quantile": float}


class RunNotFound(VigilError):
    """No run with that id (or not one the caller may see)."""


@dataclass
class Run:
    run_id: str
    user: str
    client_id: int | None
    status: str = "queued"  # queued, running, cancelling, succeeded, failed, cancelled
    phase: str = ""
    rows_done: int = 0
    rows_total: int = 0
    progress: float = 0.0
    metrics: dict[str, Any] = field(default_factory=dict)
    version: str | None = None
    error: str = ""
    reports: int = 0
    worker_pid: int | None = None
    started: float = field(default_factory=time.time)
    ended: float | None = None


@ray.remote(max_concurrency=16)  # type: ignore[call-overload]
class TrainingDesk:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.registry = Registry(settings.lake)
        self.runs: dict[str, Run] = {}
        self.controllers: dict[str, Any] = {}
        self._lock = threading.Lock()
        # Read by the trainer in this process and passed on to its controller and worker.
        os.environ["RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"] = str(settings.train_poll_s)
        os.environ["RAY_CHDIR_TO_TRIAL_DIR"] = "0"

    def start(self, user: str, client_id: int | None, params: dict[str, Any]) -> dict[str, Any]:
        unknown = set(params) - set(TUNABLES) - {"start", "end"}
        if unknown:
            raise ValueError(f"{sorted(unknown)[0]}: unknown training parameter")
        run = Run(uuid.uuid4().hex[:12], user, client_id)
        spec = RunSpec(
            run_id=run.run_id,
            data_dir=str(Path(self.settings.data_dir).resolve()),
            lake_uri=self.settings.lake_uri,
            namespace=self.settings.namespace,
            client_id=client_id,
            **{k: TUNABLES[k](v) for k, v in params.items() if k in TUNABLES},
            **{k: int(v) for k, v in params.items() if k in ("start", "end") and v is not None},
        )
        with self._lock:
            self.runs[run.run_id] = run
        self._send(run, "training_status", HIGH)
        threading.Thread(target=self._fit, args=(run, spec), daemon=True).start()
        return asdict(run)

    # -- called by the run's controller and worker ------------------------------------------

    def attach(self, run_id: str, controller: Any) -> None:
        self.controllers[run_id] = controller
        if self.runs[run_id].status == "cancelling":  # cancelled before the controller was up
            controller.abort.remote()

    def progress(self, run_id: str, progress: dict[str, Any]) -> bool:
        run = self.runs[run_id]
        with self._lock:
            if progress.get("phase") == "start":
                run.worker_pid = progress.get("worker_pid")
                if run.status == "queued":
                    run.status = "running"
            else:
                run.phase = progress["phase"]
                run.rows_done, run.rows_total = progress["rows_done"], progress["rows_total"]
                run.progress, run.metrics = progress["progress"], progress["metrics"]
                run.reports += 1
        self._send(run, "training_progress")
        return run.status == "cancelling"

    def finished(self, run_id: str, result: dict[str, Any]) -> str:
        run = self.runs[run_id]
        meta = result["meta"] | {"user": run.user, "client_id": run.client_id}
        version = self.registry.write(result["model_json"], result["estimators"], meta)
        with self._lock:
            run.version, run.metrics = version, meta["metrics"]
        return version

    # -- the API's calls ---------------------------------------------------------------------

    def cancel(self, run_id: str) -> dict[str, Any]:
        run = self._get(run_id)
        with self._lock:
            if run.status in FINAL:
                return asdict(run)
            run.status = "cancelling"
        controller = self.controllers.get(run_id)
        if controller is not None:
            controller.abort.remote()  # stops the worker group now, not at the next chunk
        self._send(run, "training_status", HIGH)
        return asdict(run)

    def run(self, run_id: str) -> dict[str, Any]:
        return asdict(self._get(run_id))

    def list_runs(self, client_id: int | None = None) -> list[dict[str, Any]]:
        runs = [r for r in self.runs.values() if client_id is None or r.client_id == client_id]
        return [asdict(r) for r in sorted(runs, key=lambda r: r.started, reverse=True)]

    def models(self) -> list[dict[str, Any]]:
        return [self.registry.meta(v) for v in reversed(self.registry.versions())]

    def promote(self, version: str, who: str) -> dict[str, Any]:
        """Make `version` live: the registry first (a restarted shard reads it), then every
        shard hot-loads it."""
        payload = self.registry.promote(version)
        shards = [names.peer(names.shard(i), self.settings) for i in range(self.settings.shards)]
        loaded: list[str | None] = ray.get(
            [s.load_model.remote(payload) for s in shards], timeout=60
        )
        log.info("%s promoted model %s", who, version)
        return {"version": version, "shards": loaded, "promoted_by": who}

    def get_stats(self) -> dict[str, Any]:
        statuses = [r.status for r in self.runs.values()]
        return {"runs": len(statuses)} | {s: statuses.count(s) for s in set(statuses)}

    # -- plumbing ----------------------------------------------------------------------------

    def _fit(self, run: Run, spec: RunSpec) -> None:
        storage = str(Path(self.settings.data_dir).resolve() / "_training")
        try:
            trainer(spec, storage, self.settings.train_worker_cpus).fit()
            outcome = "succeeded" if run.version else "failed"
            error = "" if run.version else "the run ended without a model"
        except Exception as exc:  # the run's failure is the run's status, never the desk's
            outcome = "cancelled" if run.status == "cancelling" else "failed"
            error = "" if outcome == "cancelled" else f"{type(exc).__name__}: {exc}"[:500]
            if outcome == "failed":
                log.exception("training run %s failed", run.run_id)
        with self._lock:
            run.status, run.error, run.ended = outcome, error, time.time()
            if outcome == "succeeded":
                run.progress = 1.0
        self.controllers.pop(run.run_id, None)
        self._send(run, "training_status", HIGH)

    def _get(self, run_id: str) -> Run:
        run = self.runs.get(run_id)
        if run is None:
            raise RunNotFound(f"run_id: no training run {run_id!r}")
        return run

    def _send(self, run: Run, type: str, priority: str = "normal") -> None:
        data = {k: v for k, v in asdict(run).items() if k != "worker_pid"}
        namespace = self.settings.namespace
        try:
            broadcast_to_user(run.client_id, run.user, type, data, priority, namespace=namespace)
            if run.client_id is not None:
                broadcast_to_noc(run.client_id, type, data, priority, namespace=namespace)
        except Exception:  # no Hub (a bench without vigil): progress stays in `run`
            log.debug("no hub for training progress", exc_info=True)
