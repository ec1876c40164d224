"""Every VigilError is answered with its own HTTP status and message, in one place
(serve/endpoints.error_response); a body is decoded as its struct, 400 naming the field."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any

import httpx
import msgspec
import pytest
from ray.exceptions import RayTaskError
from starlette.applications import Starlette

from actors.rules.fleet_edits import FleetEditError
from core.alerts import LifecycleError
from core.errors import BadMessage, ConfigError, StartupError, VigilError
from serve.endpoints import ApiError, Call, Endpoint, error_response, field_of, routes
from serve.tokens import AuthError, Forbidden, Role, issue

SECRET = "s" * 32


class Inner(msgspec.Struct):
    id: str


class Order(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(min_length=1)]
    items: list[Inner] = []
    count: int = 1


def answer(exc: Exception) -> tuple[int, dict[str, Any]]:
    response = error_response(exc)
    return response.status_code, msgspec.json.decode(response.body)


@pytest.mark.parametrize(
    ("error", "status", "field"),
    [
        (ApiError(404, "alert_id", "no alert 'x'"), 404, "alert_id"),
        (FleetEditError("site_id", "unknown site 'x'"), 422, "site_id"),
        (FleetEditError("id", "'g' exists already", 409), 409, "id"),
        (AuthError("token expired"), 401, "authorization"),
        (Forbidden("role viewer may not do this"), 403, "role"),
        (LifecycleError("alert a is resolved"), 409, "status"),
        (BadMessage("invalid_field", "lat"), 400, ""),
        (ConfigError("fleet: sites[0].timezone"), 422, ""),
        (StartupError("gateway: port busy"), 503, ""),
        (VigilError("something of vigil's"), 500, ""),
    ],
)
def test_a_vigil_error_is_answered_with_its_status_and_message(
    error: VigilError, status: int, field: str
) -> None:
    assert answer(error) == (status, {"error": str(error), "field": field})


def test_an_error_raised_in_an_actor_keeps_its_status() -> None:
    wrapped = RayTaskError("put", "traceback", FleetEditError("client_id", "not yours", 403))
    assert answer(wrapped)[0] == 403


def test_anything_else_is_500_naming_only_its_type() -> None:
    assert answer(KeyError("secret-detail")) == (
        500,
        {"error": "internal error: KeyError", "field": ""},
    )


def test_401_asks_for_a_bearer_token() -> None:
    assert error_response(AuthError("no token")).headers["WWW-Authenticate"] == "Bearer"


def errors_of(raw: bytes) -> str:
    try:
        msgspec.json.decode(raw, type=Order)
    except msgspec.ValidationError as exc:
        return field_of(exc)
    raise AssertionError("decoded")


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"name": 5}', "name"),
        (b'{"name": ""}', "name"),
        (b"{}", "name"),
        (b'{"name": "a", "items": [{"id": "i"}, {}]}', "items[1].id"),
        (b'{"name": "a", "items": [{"id": 3}]}', "items[0].id"),
        (b"[1]", "body"),
        (b"7", "body"),
    ],
)
def test_a_validation_error_names_the_field(raw: bytes, field: str) -> None:
    assert errors_of(raw) == field


@pytest.fixture(scope="module")
def app() -> Starlette:
    async def order(call: Call) -> Any:
        body = await call.body(Order)
        return {"name": body.name, "count": body.count}

    endpoint = Endpoint("POST", "/api/orders", Role.OPERATOR, order, "Order", "t", body=Order)
    return Starlette(routes=routes([endpoint], SECRET))


def post(app: Starlette, content: bytes, token: str | None = None) -> httpx.Response:
    """POST /api/orders through the app in process (no server, no Ray)."""
    if token is None:
        token = issue(SECRET, "operator", 1)
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://vigil") as client:
            return await client.post("/api/orders", content=content, headers=headers)

    return asyncio.run(call())


def test_a_good_body_reaches_the_handler_decoded(app: Starlette) -> None:
    response = post(app, b'{"name": "kit", "count": 2}')
    assert response.status_code == 200 and response.json() == {"name": "kit", "count": 2}


@pytest.mark.parametrize(
    ("content", "field"),
    [(b'{"name": ""}', "name"), (b'{"name": "k", "count": "2"}', "count"), (b"{not", "body")],
)
def test_a_bad_body_is_400_naming_the_field(app: Starlette, content: bytes, field: str) -> None:
    response = post(app, content)
    assert response.status_code == 400 and response.json()["field"] == field, response.text
    assert field in response.json()["error"]


def test_no_token_is_401_before_the_body_is_read(app: Starlette) -> None:
    response = post(app, b"{not", token="")
    assert response.status_code == 401 and response.json()["field"] == "authorization"


def test_rest_takes_a_token_from_the_authorization_header_only(app: Starlette) -> None:
    token = issue(SECRET, "operator", 1)

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://vigil") as client:
            return await client.post(
                "/api/orders", params={"token": token}, content=b'{"name": "kit"}'
            )

    response = asyncio.run(call())
    assert response.status_code == 401 and response.json()["field"] == "authorization"


def every_route_with_a_body() -> list[Endpoint]:
    from core.settings import Settings
    from serve.app import api_endpoints
    from serve.services import Services

    services = Services(Settings(), SECRET, None, None, None, None, [], None)  # type: ignore[arg-type]
    return [e for e in api_endpoints(services) if e.method in ("POST", "PUT", "PATCH")]


@pytest.mark.parametrize(
    "endpoint", every_route_with_a_body(), ids=lambda e: f"{e.method} {e.path}"
)
def test_a_body_over_the_limit_is_413_on_every_route_that_takes_one(endpoint: Endpoint) -> None:
    """Refused before any handler runs (these have no actors behind them), whether the
    body declares its length or arrives in chunks."""
    app = Starlette(routes=routes([endpoint], SECRET, max_body=1000))
    path = re.sub(r"\{[^}]+\}", "x", endpoint.path)
    token = issue(SECRET, "admin", 1)
    headers = {"Authorization": f"Bearer {token}"}

    async def chunks() -> Any:
        for _ in range(3):
            yield b" " * 600

    async def call(content: Any) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://vigil") as client:
            return await client.request(endpoint.method, path, content=content, headers=headers)

    for content in (b"x" * 20_000_000, chunks()):
        response = asyncio.run(call(content))
        assert response.status_code == 413, response.text
        assert response.json()["field"] == "body"


@pytest.mark.parametrize("raw", ["inf", "-inf", "nan", "1e400", "Infinity"])
def test_a_time_that_is_not_finite_is_400_naming_the_parameter(raw: str) -> None:
    async def since(call: Call) -> Any:
        return {"since": call.time_us("since", 0)}

    endpoint = Endpoint("GET", "/api/since", Role.VIEWER, since, "Since", "t")
    app = Starlette(routes=routes([endpoint], SECRET))
    headers = {"Authorization": f"Bearer {issue(SECRET, 'viewer', 1)}"}

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://vigil") as client:
            return await client.get("/api/since", params={"since": raw}, headers=headers)

    response = asyncio.run(call())
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "since"
