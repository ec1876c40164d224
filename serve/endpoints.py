"""The API's machinery: every endpoint declared once, with the role it needs.

An `Endpoint` names its method, path, role and handler, and the msgspec struct of its
request body; `routes` wraps each handler so that it runs only for a valid token of a
sufficient role, and so that every error becomes a JSON answer naming the field. The
status is the error's own (`core.errors.VigilError.http_status`): 400 (malformed), 401
(no or bad token), 403 (role or tenant), 404 (unknown, or another tenant's), 409
(conflict), 422 (refused). The same list produces the OpenAPI document (serve/openapi.py),
request schemas from the body structs, and the tests walk it to check that no endpoint
is left open.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec
from ray.exceptions import RayTaskError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core.errors import VigilError
from serve.tokens import AuthError, Principal, Revocations, Role, verify

log = logging.getLogger("vigil.api")
#: The largest request body taken by default (Settings.api_max_body_bytes).
MAX_BODY_BYTES = 1 << 20

Body = TypeVar("Body", bound=msgspec.Struct)


class ApiError(VigilError):
    """An answer other than 200 decided by a handler: its status, and the `field` that was
    wrong (a path or query parameter, a body field)."""

    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.http_status = status
        self.field = field
        self.message = message

    def __reduce__(self) -> Any:  # pickled across Ray calls with all three
        return (type(self), (self.http_status, self.field, self.message))


class ErrorBody(msgspec.Struct):
    """What every answer other than 2xx holds."""

    error: str  # what was wrong, naming the field
    field: str  # the key, parameter or body field; "" when the message says it all


#: Where msgspec's ValidationError says the problem is (`... - at `$.features[0].id``),
#: and which field it names itself (`Object missing required field `operator``).
_AT = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
_NAMED = re.compile(r"(?:missing required|contains unknown) field `(?P<name>[^`]+)`")


def field_of(error: msgspec.ValidationError) -> str:
    """The body field a msgspec ValidationError is about, as `features[0].geometry`;
    `body` for the body as a whole (not an object, say)."""
    message = str(error)
    at, named = _AT.search(message), _NAMED.search(message)
    path = at["path"] if at else ""
    if named:
        path = f"{path}.{named['name']}" if path else named["name"]
    return path or "body"


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
            seconds = float(raw)
        except ValueError:
            pass
        else:
            if not math.isfinite(seconds):
                raise ApiError(400, name, f"expected a finite time, got {raw!r}")
            return int(seconds * 1e6)
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
        """The body as plain JSON (for a handler that hands it on to be checked there)."""
        body = await self.request.body()
        try:
            return json.loads(body)
        except ValueError as exc:
            raise ApiError(400, "body", f"not JSON: {exc}") from None

    async def body(self, kind: type[Body], empty: Body | None = None) -> Body:
        """The body decoded as the struct `kind` (its endpoint's `body`); `empty` stands
        for no body at all, when the endpoint allows one. 400 names the field."""
        raw = await self.request.body()
        if empty is not None and not raw.strip():
            return empty
        try:
            return msgspec.json.decode(raw, type=kind)
        except msgspec.ValidationError as exc:
            raise ApiError(400, field_of(exc), str(exc)) from None
        except msgspec.DecodeError as exc:
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
    #: The request body's struct: its JSON Schema is the OpenAPI request schema.
    body: type[msgspec.Struct] | None = None
    #: The body may hold any of the struct's fields (a PATCH), none of them required.
    partial: bool = False
    status: int = 200
    extra: dict[str, Any] = field(default_factory=dict)


def routes(
    endpoints: list[Endpoint],
    secret: str,
    max_body: int = MAX_BODY_BYTES,
    revoked: Revocations | None = None,
) -> list[Route]:
    """Starlette routes (one per path, its methods dispatched) for `endpoints`; a body
    larger than `max_body` bytes is a 413."""
    by_path: dict[str, dict[str, Endpoint]] = {}
    for endpoint in endpoints:
        by_path.setdefault(endpoint.path, {})[endpoint.method] = endpoint
    return [
        Route(path, _dispatch(methods, secret, max_body, revoked), methods=list(methods))
        for path, methods in by_path.items()
    ]


async def _read_body(request: Request, limit: int) -> None:
    """Read the body, refusing it (413) as soon as it is larger than `limit`: a declared
    length first, then what actually arrives. Starlette's `request.body()` returns it."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "body", f"larger than {limit} bytes ({declared})")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "body", f"larger than {limit} bytes")
        chunks.append(chunk)
    request._body = b"".join(chunks)  # what request.body() hands out


def principal_of(
    request: Any, secret: str, in_query: bool = False, revoked: Revocations | None = None
) -> Principal:
    """Who is calling, from the Authorization header; `in_query`: also from `?token=`
    (a WebSocket, which a browser cannot give headers). REST takes the header only: a
    token in a URL ends up in proxies' and browsers' logs."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        token = request.query_params.get("token", "") if in_query else ""
        if not token:
            raise AuthError("no bearer token (Authorization: Bearer <token>)")
    elif scheme.lower() != "bearer" or not token:
        raise AuthError("Authorization header must be 'Bearer <token>'")
    return verify(secret, token.strip(), revoked)


def _dispatch(
    methods: dict[str, Endpoint], secret: str, max_body: int, revoked: Revocations | None
) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        endpoint = methods[request.method]
        try:
            principal = principal_of(request, secret, revoked=revoked)
            principal.require(endpoint.role)
            if request.method in ("POST", "PUT", "PATCH"):  # a stranger's body is never read
                await _read_body(request, max_body)
            result = await endpoint.handler(Call(request, principal))
        except Exception as exc:  # every failure becomes an answer naming what was wrong
            return error_response(exc)
        if isinstance(result, Response):
            return result
        return JSONResponse(result, status_code=endpoint.status)

    return handle


def error_response(exc: Exception) -> Response:
    """The answer to a failed call: a VigilError's own status and message (raised here
    or in an actor), 500 naming only the type for anything else (a bug: logged)."""
    cause = exc.cause if isinstance(exc, RayTaskError) and exc.cause is not None else exc
    if isinstance(cause, VigilError):
        status, body = cause.http_status, ErrorBody(str(cause), cause.field)
        if status >= 500:
            log.error("%s: %s", type(cause).__name__, cause)
    else:
        log.exception("internal error", exc_info=cause)
        status, body = 500, ErrorBody(f"internal error: {type(cause).__name__}", "")
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return Response(
        msgspec.json.encode(body), status, headers=headers, media_type="application/json"
    )
