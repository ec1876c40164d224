"""The OpenAPI 3.1 document, made from the endpoint list itself (so it cannot drift).

Request schemas are the JSON Schemas of the body structs (`msgspec.json.schema_components`),
the very types the handlers decode with, so the document and the check are one.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from serve.endpoints import Endpoint, ErrorBody

_TYPES = {"string": {"type": "string"}, "integer": {"type": "integer"}}
_TIME = {"type": "string", "description": "ISO 8601, or epoch seconds"}
REF = "#/components/schemas/{name}"


def document(endpoints: list[Endpoint], version: str = "0.1.0") -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    structs = list(dict.fromkeys([ErrorBody, *(e.body for e in endpoints if e.body)]))
    refs, components = msgspec.json.schema_components(structs, ref_template=REF)
    ref_of = dict(zip(structs, refs, strict=True))
    error = ref_of[ErrorBody]
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
                        "content": {"application/json": {"schema": error}},
                    }
                    for code, text in _ERRORS.items()
                },
            },
        }
        if e.body is not None:
            schema = ref_of[e.body]
            if e.partial:  # any of the struct's fields, none required
                whole = components[e.body.__name__]
                schema = {"type": "object", "properties": whole["properties"]}
            operation["requestBody"] = {
                "required": not e.partial and bool(components[e.body.__name__].get("required")),
                "content": {"application/json": {"schema": schema}},
            }
        paths.setdefault(e.path, {})[e.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "vigil NOC API", "version": version},
        "paths": paths,
        "components": {
            "schemas": components,
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
