"""The Serve application: one Starlette ingress for the NOC page, the API and /ws.

Routes: `/` the NOC page (and `/static/`), `/api/...` REST (serve/routes/, every
endpoint with the role it needs), `/api/openapi.json`, `/ws` the live feed,
`/metrics` Prometheus text for the whole of vigil, `/healthz` liveness.

`noc_app(settings)` binds a deployment whose replicas reach every actor by name (the
builder, cli/runtime.py, starts them). Starlette stays
inside `serve/`; every actor call is awaited and DuckDB runs in worker threads, so
nothing blocks a replica's event loop.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from ray import serve
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from core import names
from core.settings import Settings
from serve import openapi, websocket
from serve.endpoints import Endpoint, routes
from serve.fanout import Fanout
from serve.feed import LiveFeed
from serve.headers import SecurityHeaders
from serve.history import History
from serve.metrics import metrics_endpoint
from serve.routes import alerts, commands, fleet, history, live, training
from serve.services import Services
from serve.tasks import Tasks
from serve.tokens import Revocations, load_secret

STATIC = files("serve").joinpath("static")
PAGE = STATIC.joinpath("noc.html").read_text()
RESOURCES = (fleet, live, alerts, history, commands, training)


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
    revoked = Revocations(settings.data_dir)

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
            Route("/metrics", metrics_endpoint(settings)),
            WebSocketRoute(
                "/ws", websocket.endpoint(services.hub, feed, fanout, services.secret, revoked)
            ),
            *routes(endpoints, services.secret, settings.api_max_body_bytes, revoked),
            Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
        ]
    )
    app.add_middleware(SecurityHeaders, ws_port=settings.ws_port)
    if settings.cors_allowed:  # other origins' pages: only those configured, bearer tokens
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_allowed,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
    app.state.fanout = fanout
    return app


def connect(settings: Settings, secret: str) -> Services:
    """Handles to the running actors, by name (inside a replica)."""

    def actor(name: str) -> Any:
        return names.peer(name, settings)

    return Services(
        settings=settings,
        secret=secret,
        hub=actor(names.HUB),
        router=actor(names.ROUTER),
        registry=actor(names.REGISTRY),
        commands=actor(names.COMMANDS),
        shards=[actor(names.shard(i)) for i in range(settings.shards)],
        history=History(settings.data_dir, settings.lake_uri),
        training=actor(names.TRAINING),
    )


def http_options(settings: Settings, host: str = "127.0.0.1") -> dict[str, Any]:
    """Serve's proxy options: https/wss when a certificate is configured."""
    options: dict[str, Any] = {"host": host, "port": settings.http_port}
    if settings.tls_certfile:
        options |= {"ssl_certfile": settings.tls_certfile, "ssl_keyfile": settings.tls_keyfile}
    return options


def noc_app(settings: Settings) -> Any:
    """The Serve application over the running actors (cli/runtime.py starts them), bound
    and ready for `serve.run` (call it on the driver)."""
    secret = load_secret(settings)

    def builder() -> Starlette:
        return build_app(connect(settings, secret))

    deployment: Any = serve.deployment(
        serve.ingress(builder)(),
        name="noc",
        num_replicas=settings.serve_replicas,
        max_ongoing_requests=settings.serve_max_ongoing_requests,
        graceful_shutdown_timeout_s=2,  # live-feed sockets never drain by themselves
        ray_actor_options={"num_cpus": 0},  # I/O bound, like vigil's actors
    )
    return deployment.bind()
