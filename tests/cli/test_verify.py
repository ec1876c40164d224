"""`vigil verify` against the session's running vigil: it passes, and it fails naming the
check when an outcome cannot be found (a lake that is not vigil's)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.conftest import Noc
from tests.receivers import HttpReceiver, Mailbox

pytestmark = pytest.mark.integration


def verify(noc: Noc, *args: str) -> tuple[int, str]:
    argv = ["verify", "--broker", noc.vigil.publisher.url, "--url", noc.url, *args]
    result = CliRunner().invoke(app, argv, env={"COLUMNS": "200"})
    return result.exit_code, result.output


def tenants(noc: Noc) -> set[int]:
    headers = {"Authorization": f"Bearer {noc.token('admin', '*')}"}
    response = httpx.get(f"{noc.url}/api/tenants", headers=headers, timeout=10)
    return {t["id"] for t in response.json()}


def test_verify_passes_every_check_and_removes_what_it_made(
    noc: Noc, webhooks: HttpReceiver
) -> None:
    before = tenants(noc)
    hook = f"json://127.0.0.1:{webhooks.port}/hooks/verify"
    code, output = verify(noc, "--data", str(noc.vigil.data), "--notify", hook, "--timeout", "60")
    assert code == 0, output
    for name in ("lake: guard_locations rows", "alert: geofence_exit", "feed: panic"):
        assert name in output
    assert "notification: smoke" in output and "FAIL" not in output
    assert tenants(noc) == before  # the run's tenant is gone again
    assert webhooks.find("verify-", "/hooks/verify")  # the webhook really was posted


def test_with_a_tenant_admins_token_it_runs_in_that_tenant_and_pages_nobody(
    noc: Noc, mailbox: Mailbox
) -> None:
    """Tenant 9 has per-person email, SMS and push, a webhook, an on-call list and a tier 2
    after 2 s (tests/alerts_fleet.py): only the webhook hears of the run, and its critical
    alerts were acknowledged before any tier 2."""
    token = noc.token("admin", 9)
    code, output = verify(noc, "--token", token, "--data", str(noc.vigil.data))
    assert code == 0, output
    assert "(tenant 9)" in output and "notification: panic" in output
    run = re.search(r"run (\w+) as expected", output)
    assert run is not None
    headers = {"Authorization": f"Bearer {token}"}
    guard = f"verify-{run[1]}-guard"
    alerts = httpx.get(f"{noc.url}/api/alerts", params={"entity_id": guard}, headers=headers)
    (panic,) = [a for a in alerts.json() if a["kind"] == "panic"]
    assert panic["tier"] == 1 and panic["acknowledged_by"] and panic["status"] == "resolved"
    assert not mailbox.find(run[1])


def test_verify_fails_naming_the_lake_checks_when_the_lake_is_not_vigils(
    noc: Noc, tmp_path: Path
) -> None:
    token = noc.token("admin", "*")
    code, output = verify(noc, "--token", token, "--data", str(tmp_path), "--timeout", "10")
    assert code == 1, output
    assert "FAIL" in output and "lake: guard_locations rows" in output.split("failed:")[-1]
    assert "alert: panic" not in output.split("failed:")[-1]  # vigil itself did its part
