"""The OpenAPI document: request schemas are the body structs' own JSON Schemas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from core.settings import Settings
from serve.app import api_endpoints
from serve.endpoints import Endpoint
from serve.history import History
from serve.openapi import document
from serve.routes.alerts import Assignment, Step
from serve.routes.commands import Command
from serve.routes.fleet import FeatureCollection
from serve.routes.training import TrainingRun
from serve.services import Services


@pytest.fixture(scope="module")
def endpoints(tmp_path_factory: pytest.TempPathFactory) -> list[Endpoint]:
    data = Path(tmp_path_factory.mktemp("lake"))
    settings = Settings(data_dir=data)
    services = Services(settings, "s" * 32, None, None, None, None, [], History(settings))
    return api_endpoints(services)


@pytest.fixture(scope="module")
def spec(endpoints: list[Endpoint]) -> dict[str, Any]:
    return document(endpoints)


def request_schema(spec: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    body = spec["paths"][path][method]["requestBody"]
    return dict(body["content"]["application/json"]["schema"])


def test_every_endpoint_with_a_body_has_its_structs_schema(
    endpoints: list[Endpoint], spec: dict[str, Any]
) -> None:
    with_body = [e for e in endpoints if e.body is not None]
    assert len(with_body) >= 10
    for e in with_body:
        schema = request_schema(spec, e.method.lower(), e.path)
        name = e.body.__name__  # type: ignore[union-attr]
        assert name in spec["components"]["schemas"], (e.method, e.path)
        if e.partial:
            assert "required" not in schema
            assert schema["properties"] == spec["components"]["schemas"][name]["properties"]
        else:
            assert schema == {"$ref": f"#/components/schemas/{name}"}, (e.method, e.path)
    without = [e for e in endpoints if e.body is None]
    for e in without:
        assert "requestBody" not in spec["paths"][e.path][e.method.lower()], (e.method, e.path)


def test_the_components_are_what_msgspec_makes_of_the_structs(spec: dict[str, Any]) -> None:
    structs = [Step, Assignment, Command, TrainingRun, FeatureCollection]
    _, made = msgspec.json.schema_components(structs, ref_template="#/components/schemas/{name}")
    for name, schema in made.items():
        assert spec["components"]["schemas"][name] == schema, name
    assignment = spec["components"]["schemas"]["Assignment"]
    assert assignment["required"] == ["operator"]
    assert assignment["properties"]["operator"]["minLength"] == 1
    run = spec["components"]["schemas"]["TrainingRun"]
    assert run["additionalProperties"] is False and run["properties"]["clusters"]["maximum"] == 16


def test_a_body_that_may_be_left_out_is_not_required(spec: dict[str, Any]) -> None:
    ack = spec["paths"]["/api/alerts/{alert_id}/acknowledge"]["post"]["requestBody"]
    assign = spec["paths"]["/api/alerts/{alert_id}/assign"]["post"]["requestBody"]
    assert ack["required"] is False and assign["required"] is True


def test_errors_are_described_by_the_error_struct(spec: dict[str, Any]) -> None:
    answers = spec["paths"]["/api/alerts"]["get"]["responses"]
    ref = answers["404"]["content"]["application/json"]["schema"]["$ref"]
    error = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(error["required"]) == {"error", "field"}
