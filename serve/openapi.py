"""The OpenAPI 3.1 document, made from the endpoint list itself (so it cannot drift)."""

from __future__ import annotations

import re
from typing import Any

from serve.endpoints import Endpoint

_TYPES = {"string": {"type": "string"}, "integer": {"type": "integer"}}
_TIME = {"type": "string", "description": "ISO 8601, or epoch seconds"}
_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "field": {"type": "string"}},
}


def document(endpoints: list[Endpoint], version: str = "0.1.0") -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    components: dict[str, Any] = {}
    for e in endpoints:
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"{(\w+)}", e.path)
        ]
        params += [
            {
                "name": p.name,
                "in": "query",
                "required": False,
                "schema": _TIME if p.kind == "time" else _TYPES.get(p.kind, _TYPES["string"]),
                "description": p.doc,
            }
            for p in e.query
        ]
        operation: dict[str, Any] = {
            "summary": e.summary,
            "tags": [e.tag],
            "operationId": f"{e.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', e.path.lower())}",
            "parameters": params,
            "security": [{"bearer": []}],
            "x-role": str(e.role),
            "responses": {
                str(e.status): {"description": "OK"},
                **{
                    str(code): {
                        "description": text,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        },
                    }
                    for code, text in _ERRORS.items()
                },
            },
        }
        if e.body is not None:
            body = dict(e.body)
            components |= body.pop("$defs", {})
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": body}},
            }
        paths.setdefault(e.path, {})[e.method.lower()] = operation
    schemas = {"Error": _ERROR, **components}
    return {
        "openapi": "3.1.0",
        "info": {"title": "vigil NOC API", "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


_ERRORS = {
    400: "Malformed input; `field` names it",
    401: "No token, or not a valid one",
    403: "The token's role or tenant may not do this",
    404: "No such entity (or another tenant's)",
    409: "Conflicts with the current state",
    422: "Refused: the change would break the fleet; `field` names why",
}
