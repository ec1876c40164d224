"""The Ray Train job: one CPU worker running `training.fitting.fit` in a plain Python loop.

Ray Train V2's `DataParallelTrainer` (no torch) runs `train_loop` on its worker. After
every chunk the loop calls `ray.train.report` with the numbers (Ray Train's own record
of the run) and hands the same progress to the desk (actors/desk.py), which streams
it to the user and the NOC page and answers whether the run was cancelled.

Cancelling aborts the run's Ray Train controller, which stops its worker group; the
controller's handle reaches the desk through a controller callback (`ControllerCallback`
is a developer-level hook: `RunConfig.callbacks` passes any `RayTrainCallback` to the
controller, see ray/train/v2/api/data_parallel_trainer.py `_create_default_callbacks`).
"""

from __future__ import annotations

import os
from typing import Any

import msgspec
import ray
import ray.train
from ray.train import FailureConfig, RunConfig, ScalingConfig
from ray.train.v2._internal.execution.callback import ControllerCallback
from ray.train.v2.api.data_parallel_trainer import DataParallelTrainer

from core import names
from training.fitting import RunSpec, fit

DESK = names.TRAINING


def train_loop(config: dict[str, Any]) -> None:
    """Runs on the Ray Train worker."""
    spec = msgspec.convert(config["spec"], RunSpec)
    desk = ray.get_actor(DESK, namespace=spec.namespace)
    worker = {"worker_pid": os.getpid(), "worker_node": ray.get_runtime_context().get_node_id()}
    ray.get(desk.progress.remote(spec.run_id, {"phase": "start", **worker}))

    def report(progress: dict[str, Any]) -> bool:
        numbers = {k: v for k, v in progress.items() if isinstance(v, int | float)}
        numbers |= {k: v for k, v in progress["metrics"].items() if isinstance(v, int | float)}
        ray.train.report(numbers)
        return bool(ray.get(desk.progress.remote(spec.run_id, progress)))

    result = fit(spec, report)
    ray.get(desk.finished.remote(spec.run_id, result))


class ControllerHandle(ControllerCallback):
    """Tells the desk which controller runs `run_id`, so that a cancel can abort it."""

    def __init__(self, run_id: str, namespace: str) -> None:
        self.run_id = run_id
        self.namespace = namespace

    def after_controller_start(self, train_run_context: Any) -> None:
        desk = ray.get_actor(DESK, namespace=self.namespace)
        controller = ray.get_runtime_context().current_actor
        ray.get(desk.attach.remote(self.run_id, controller))


def trainer(spec: RunSpec, storage_path: str, worker_cpus: float) -> DataParallelTrainer:
    """One worker, a fraction of a CPU (vigil's own actors take none), no retries."""
    return DataParallelTrainer(
        train_loop,
        train_loop_config={"spec": msgspec.to_builtins(spec)},
        scaling_config=ScalingConfig(
            num_workers=1, use_gpu=False, resources_per_worker={"CPU": worker_cpus}
        ),
        run_config=RunConfig(
            name=spec.run_id,
            storage_path=storage_path,
            failure_config=FailureConfig(max_failures=0),
            callbacks=[ControllerHandle(spec.run_id, spec.namespace)],  # type: ignore[list-item]
        ),
    )
