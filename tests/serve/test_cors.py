"""CORS: a page of a configured origin may call the API with its token; no other may."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import CORS_ORIGIN, Noc

pytestmark = pytest.mark.integration
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type",
}


def test_a_configured_origin_may_call_the_api_with_a_bearer_token(noc: Noc) -> None:
    allowed = httpx.options(f"{noc.url}/api/alerts", headers={"Origin": CORS_ORIGIN, **PREFLIGHT})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == CORS_ORIGIN
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    got = httpx.get(
        f"{noc.url}/api/me",
        headers={"Origin": CORS_ORIGIN, "Authorization": f"Bearer {noc.token()}"},
    )
    assert got.status_code == 200 and got.headers["access-control-allow-origin"] == CORS_ORIGIN


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "https://noc.example.com.evil.example", "null"]
)
def test_any_other_origin_is_not_let_in(noc: Noc, origin: str) -> None:
    refused = httpx.options(f"{noc.url}/api/alerts", headers={"Origin": origin, **PREFLIGHT})
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    got = httpx.get(
        f"{noc.url}/api/me", headers={"Origin": origin, "Authorization": f"Bearer {noc.token()}"}
    )
    assert "access-control-allow-origin" not in got.headers
