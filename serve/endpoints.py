"""The API's machinery: every endpoint declared once, with the role it needs.

An `Endpoint` names its method, path, role and handler; `routes` wraps each handler
so that it runs only for a valid token of a sufficient role, and so that every error
becomes a JSON answer naming the field: 400 (malformed), 401 (no or bad token), 403
(role or tenant), 404 (unknown, or another tenant's), 409 (conflict), 422 (refused).
The same list produces the OpenAPI document (serve/openapi.py), and the tests walk
it to check that no endpoint is left open.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ray.exceptions import RayTaskError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from actors.rules.fleet_edits import FleetEditError
from core.alerts import LifecycleError
from serve.tokens import AuthError, Forbidden, Principal, Role, verify

log = logging.getLogger("vigil.api")


class ApiError(Exception):
    """An answer other than 200: `status`, and the `field` that was wrong."""

    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.status = status
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Param:
    name: str
    kind: str = "string"  # string, integer, time (ISO 8601 or epoch seconds)
    doc: str = ""


@dataclass(frozen=True)
class Call:
    """What a handler gets: the request, who is calling, and typed parameters."""

    request: Request
    principal: Principal

    def path(self, name: str) -> str:
        return str(self.request.path_params[name])

    def text(self, name: str, default: str | None = None) -> str | None:
        return self.request.query_params.get(name, default)

    def integer(self, name: str, default: int | None = None, lo: int = 0, hi: int = 10**9) -> int:
        raw = self.request.query_params.get(name)
        if raw is None:
            if default is None:
                raise ApiError(400, name, "is required")
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ApiError(400, name, f"expected an integer, got {raw!r}") from None
        if not lo <= value <= hi:
            raise ApiError(400, name, f"must be between {lo} and {hi}, got {value}")
        return value

    def time_us(self, name: str, default: int) -> int:
        """A time as µs since the epoch, from ISO 8601 or epoch seconds."""
        raw = self.request.query_params.get(name)
        if raw is None:
            return default
        try:
            return int(float(raw) * 1e6)
        except ValueError:
            pass
        try:
            when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise ApiError(400, name, f"expected ISO 8601 or epoch seconds, got {raw!r}") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return int(when.timestamp() * 1e6)

    def tenant_filter(self) -> int | None:
        """The tenant to filter by: the caller's own, or `client_id` for an all-tenant admin."""
        if self.principal.tenant is not None:
            return self.principal.tenant
        raw = self.request.query_params.get("client_id")
        return None if raw is None else self.integer("client_id")

    async def json(self) -> Any:
        body = await self.request.body()
        try:
            return json.loads(body)
        except ValueError as exc:
            raise ApiError(400, "body", f"not JSON: {exc}") from None


Handler = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    role: Role
    handler: Handler
    summary: str
    tag: str
    query: tuple[Param, ...] = ()
    body: dict[str, Any] | None = None  # JSON schema of the request body
    status: int = 200
    extra: dict[str, Any] = field(default_factory=dict)


def routes(endpoints: list[Endpoint], secret: str) -> list[Route]:
    """Starlette routes (one per path, its methods dispatched) for `endpoints`."""
    by_path: dict[str, dict[str, Endpoint]] = {}
    for endpoint in endpoints:
        by_path.setdefault(endpoint.path, {})[endpoint.method] = endpoint
    return [
        Route(path, _dispatch(methods, secret), methods=list(methods))
        for path, methods in by_path.items()
    ]


def principal_of(request: Any, secret: str) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        token = request.query_params.get("token", "")
        if not token:
            raise AuthError("no bearer token (Authorization: Bearer <token>)")
    elif scheme.lower() != "bearer" or not token:
        raise AuthError("Authorization header must be 'Bearer <token>'")
    return verify(secret, token.strip())


def _dispatch(
    methods: dict[str, Endpoint], secret: str
) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        endpoint = methods[request.method]
        try:
            principal = principal_of(request, secret)
            principal.require(endpoint.role)
            result = await endpoint.handler(Call(request, principal))
        except Exception as exc:  # every failure becomes an answer naming what was wrong
            return error_response(exc)
        if isinstance(result, Response):
            return result
        return JSONResponse(result, status_code=endpoint.status)

    return handle


def error_response(exc: Exception) -> JSONResponse:
    cause = exc.cause if isinstance(exc, RayTaskError) and exc.cause is not None else exc
    if isinstance(cause, ApiError):
        status, field_name, message = cause.status, cause.field, cause.message
    elif isinstance(cause, FleetEditError):
        status, field_name, message = cause.status, cause.field, str(cause)
    elif isinstance(cause, AuthError):
        status, field_name, message = 401, "authorization", str(cause)
    elif isinstance(cause, Forbidden):
        status, field_name, message = 403, "role", str(cause)
    elif isinstance(cause, LifecycleError):
        status, field_name, message = 409, "status", str(cause)
    else:
        log.exception("internal error", exc_info=cause)
        status, field_name, message = 500, "", f"internal error: {type(cause).__name__}"
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        {"error": message, "field": field_name}, status_code=status, headers=headers
    )
