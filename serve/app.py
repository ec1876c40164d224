"""The Serve application: a Starlette ingress in front of the Hub.

Routes: `/` the NOC page, `/api/live` guards and alerts now, `/healthz` liveness.
Starlette stays inside `serve/`; actors are reached through handles given to the
builder, and every actor call is awaited, never blocking the event loop.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import ray
from ray import serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

PAGE = files("serve").joinpath("static/noc.html").read_text()


class BadRequest(Exception):
    """A query parameter that does not parse; the response names it."""


def _int_param(request: Request, name: str, default: int | None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"query parameter {name!r} must be an integer, got {raw!r}") from None


def build_app(hub: Any) -> Starlette:
    async def index(_: Request) -> HTMLResponse:
        return HTMLResponse(PAGE)

    async def healthz(_: Request) -> JSONResponse:
        await hub.ping.remote()  # the Hub answers: the live path works
        return JSONResponse({"status": "ok"})

    async def live(request: Request) -> JSONResponse:
        try:
            client_id = _int_param(request, "client_id", None)
            since = _int_param(request, "since", 0)
        except BadRequest as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(await hub.snapshot.remote(client_id, since))

    return Starlette(
        routes=[
            Route("/", index),
            Route("/healthz", healthz),
            Route("/api/live", live),
        ]
    )


def noc_app(namespace: str, max_ongoing_requests: int = 200) -> Any:
    """The Serve application, bound and ready for `serve.run`."""

    def builder() -> Starlette:
        return build_app(ray.get_actor("vigil-hub", namespace=namespace))

    deployment: Any = serve.deployment(
        serve.ingress(builder)(), name="noc", max_ongoing_requests=max_ongoing_requests
    )
    return deployment.bind()
