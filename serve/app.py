"""The Serve application: one Starlette ingress for the NOC page, the API and /ws.

Routes: `/` the NOC page (and `/static/`), `/api/...` REST (serve/routes/, every
endpoint with the role it needs), `/api/openapi.json`, `/ws` the live feed,
`/metrics` Prometheus text for the whole of vigil, `/healthz` liveness.

`noc_app(settings, fleet)` composes it: it starts the two actors only the API uses
(the fleet registry and the command desk, named `vigil-fleet` and `vigil-commands`)
and binds a deployment whose replicas reach every actor by name. Starlette stays
inside `serve/`; every actor call is awaited and DuckDB runs in worker threads, so
nothing blocks a replica's event loop.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import ray
from ray import serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from actors.commands import CommandDesk
from actors.desk import desk as training_desk
from actors.gateway import WsGateway
from actors.registry import REGISTRY, FleetRegistry
from cli.runtime import RESILIENT, pinned
from core.fleet import Fleet, load_fleet
from core.settings import Settings
from serve import openapi, websocket
from serve.endpoints import Endpoint, routes
from serve.fanout import Fanout
from serve.feed import LiveFeed
from serve.history import History
from serve.metrics import metrics_endpoint
from serve.routes import alerts, commands, fleet, history, live, training
from serve.services import Services
from serve.tasks import Tasks
from serve.tokens import load_secret

STATIC = files("serve").joinpath("static")
PAGE = STATIC.joinpath("noc.html").read_text()
RESOURCES = (fleet, live, alerts, history, commands, training)
#: The driver's handles to the API's actors: Ray ends a non-detached actor, named or
#: not, once no handle to it is left.
API_ACTORS: dict[str, Any] = {}


def api_endpoints(services: Services) -> list[Endpoint]:
    """Every REST endpoint, in the order the OpenAPI document lists them."""
    return [e for resource in RESOURCES for e in resource.endpoints(services)]


def build_app(services: Services) -> Starlette:
    settings = services.settings
    endpoints = api_endpoints(services)
    document = openapi.document(endpoints)
    fanout = Fanout(settings.ws_queue)
    tasks = Tasks("noc replica")  # a dead feed loop ends the replica; Serve starts another
    feed = LiveFeed(services.hub, fanout, settings.ws_position_interval_s, tasks=tasks)

    async def index(_: Request) -> HTMLResponse:
        return HTMLResponse(PAGE)

    async def healthz(_: Request) -> JSONResponse:
        await services.hub.ping.remote()  # the Hub answers: the live path works
        if problems := tasks.problems():  # ...unless this replica's feed stopped pulling
            return JSONResponse({"status": "failing", "problems": problems}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def spec(_: Request) -> JSONResponse:
        return JSONResponse(document)

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/healthz", healthz),
            Route("/api/openapi.json", spec),
            Route("/metrics", metrics_endpoint(settings.namespace)),
            WebSocketRoute("/ws", websocket.endpoint(services.hub, feed, fanout, services.secret)),
            *routes(endpoints, services.secret),
            Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
        ]
    )
    app.state.fanout = fanout
    return app


def connect(settings: Settings, secret: str) -> Services:
    """Handles to the running actors, by name (inside a replica)."""

    def actor(name: str) -> Any:
        return ray.get_actor(name, namespace=settings.namespace)

    return Services(
        settings=settings,
        secret=secret,
        hub=actor("vigil-hub"),
        router=actor("vigil-router"),
        registry=actor(REGISTRY),
        commands=actor("vigil-commands"),
        shards=[actor(f"vigil-shard-{i}") for i in range(settings.shards)],
        history=History(settings.data_dir, settings.lake_uri),
        training=actor("vigil-training"),
    )


def start_api_actors(settings: Settings, fleet: Fleet, secret: str = "") -> None:
    """The registry (with the fleet the runtime started with), the command desk, the
    training desk and, with `ws_port`, the WebSocket gateway (actors/gateway.py)."""

    def actor(name: str) -> Any:
        return ray.get_actor(name, namespace=settings.namespace)

    named = {**RESILIENT, "namespace": settings.namespace, "get_if_exists": True}
    registry_class: Any = FleetRegistry
    desk_class: Any = CommandDesk
    registry = registry_class.options(name=REGISTRY, **named).remote(settings, pinned(fleet))
    desk = desk_class.options(name="vigil-commands", **named).remote(settings)
    trainer_desk = training_desk(settings)
    calls = [registry.get_stats.remote(), desk.get_stats.remote(), trainer_desk.get_stats.remote()]
    ray.get(calls, timeout=60)
    API_ACTORS.update({REGISTRY: registry, "vigil-commands": desk, "vigil-training": trainer_desk})
    if settings.ws_port:
        gateway_class: Any = WsGateway
        gateway = gateway_class.options(name="vigil-ws", **named).remote(settings, secret)
        # The gateway listens from its constructor (so again after a restart); this waits
        # for it, and fails naming the port when it cannot listen.
        ray.get(gateway.start.remote(), timeout=60)
        API_ACTORS["vigil-ws"] = gateway


def http_options(settings: Settings, host: str = "127.0.0.1") -> dict[str, Any]:
    """Serve's proxy options: https/wss when a certificate is configured."""
    options: dict[str, Any] = {"host": host, "port": settings.http_port}
    if settings.tls_certfile:
        options |= {"ssl_certfile": settings.tls_certfile, "ssl_keyfile": settings.tls_keyfile}
    return options


def noc_app(settings: Settings | str, fleet: Fleet | None = None) -> Any:
    """The Serve application, bound and ready for `serve.run` (call it on the driver)."""
    if isinstance(settings, str):  # the older noc_app(namespace) call
        settings = Settings(namespace=settings)
    secret = load_secret(settings)
    start_api_actors(settings, fleet or load_fleet(settings.fleet_path), secret)

    def builder() -> Starlette:
        return build_app(connect(settings, secret))

    deployment: Any = serve.deployment(
        serve.ingress(builder)(),
        name="noc",
        num_replicas=settings.serve_replicas,
        max_ongoing_requests=settings.serve_max_ongoing_requests,
        ray_actor_options={"num_cpus": 0},  # I/O bound, like vigil's actors
    )
    return deployment.bind()
