"""/api/training: start, list, watch and cancel training runs; list and promote models.

Runs belong to the tenant of whoever started them (their data is what the run reads);
another tenant's run reads as unknown (404). Promoting changes what every shard scores
with, for every tenant, so it needs an admin of all tenants.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, UnsetType

from serve.endpoints import ApiError, Call, Endpoint
from serve.services import Services
from serve.tokens import Forbidden, Role

_TIME = Meta(ge=0, le=2**62, description="µs since the epoch")


class TrainingRun(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A run's parameters; one left out takes the trainer's default (training/job.py)."""

    holdout: (
        Annotated[float, Meta(ge=0.01, le=0.9, description="share of the time range held out")]
        | UnsetType
    ) = UNSET
    chunk_rows: Annotated[int, Meta(ge=100, le=1_000_000)] | UnsetType = UNSET
    clusters: Annotated[int, Meta(ge=1, le=16)] | UnsetType = UNSET
    quantile: Annotated[float, Meta(ge=0.5, le=0.9999)] | UnsetType = UNSET
    start: Annotated[int, _TIME] | UnsetType = UNSET
    end: Annotated[int, _TIME] | UnsetType = UNSET


def endpoints(s: Services) -> list[Endpoint]:
    async def mine(call: Call) -> dict[str, Any]:
        run_id = call.path("run_id")
        found = await s.training.list_runs.remote(call.principal.tenant)
        run = next((r for r in found if r["run_id"] == run_id), None)
        if run is None:
            raise ApiError(404, "run_id", f"no training run {run_id!r}")
        return dict(run)

    async def start(call: Call) -> Any:
        run = await call.body(TrainingRun, empty=TrainingRun())
        params = msgspec.to_builtins(run)  # only the parameters given (UNSET is left out)
        return await s.training.start.remote(call.principal.user, call.principal.tenant, params)

    async def list_(call: Call) -> Any:
        return await s.training.list_runs.remote(call.principal.tenant)

    async def get(call: Call) -> Any:
        return await mine(call)

    async def cancel(call: Call) -> Any:
        run = await mine(call)
        return await s.training.cancel.remote(run["run_id"])

    async def models(call: Call) -> Any:
        found = await s.training.models.remote()
        return [m for m in found if call.principal.sees(m.get("client_id"))]

    async def promote(call: Call) -> Any:
        if call.principal.tenant is not None:
            raise Forbidden("promoting a model changes scoring for every tenant: admin of '*' only")
        version = call.path("version")
        try:
            return await s.training.promote.remote(version, call.principal.user)
        except Exception as exc:
            if "RegistryError" in type(getattr(exc, "cause", exc)).__name__:
                raise ApiError(404, "version", f"no model {version!r}") from None
            raise

    runs, one = "/api/training/runs", "/api/training/runs/{run_id}"
    return [
        Endpoint(
            "POST",
            runs,
            Role.ADMIN,
            start,
            "Start a training run",
            "training",
            body=TrainingRun,
            status=202,
        ),
        Endpoint("GET", runs, Role.VIEWER, list_, "Training runs, newest first", "training"),
        Endpoint("GET", one, Role.VIEWER, get, "One run and its latest progress", "training"),
        Endpoint("POST", one + "/cancel", Role.ADMIN, cancel, "Cancel a run", "training"),
        Endpoint("GET", "/api/training/models", Role.VIEWER, models, "Model versions", "training"),
        Endpoint(
            "POST",
            "/api/training/models/{version}/promote",
            Role.ADMIN,
            promote,
            "Make a model live in every shard",
            "training",
        ),
    ]
