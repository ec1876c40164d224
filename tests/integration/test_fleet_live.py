"""Fleet edits made over the API reach the running router and notifier (issue 16, item 2).

Through the real path: REST -> registry -> every actor using the fleet; then a panic
published over MQTT -> ingest -> shard -> router -> notifier -> the session's real
webhook receiver and SMTP mailbox. Tenant 1 is the sample's (no channels); tenant 77 is
made here, entity by entity, the way a new user would.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import ray

from tests.conftest import Noc, wait_for
from tests.receivers import HttpReceiver, Mailbox
from tests.serve.apiclient import Api, fix, make_guard

pytestmark = pytest.mark.integration

PANIC = '{"type": "panic"}'
TENANT = 77
ESCALATE_AFTER_S = 2.0


def router_alerts(noc: Noc, tenant: int, guard: str) -> list[dict[str, Any]]:
    """The panics of `guard` (each test's guard panics once), as the router has them."""
    found = ray.get(noc.vigil.runtime.router.alerts.remote(tenant, None, 1000))
    return [a for a in found if a["entity_id"] == guard and a["kind"] == "panic"]


def patch(api: Api, path: str, body: Any) -> Any:
    response = api.call("PATCH", path, body)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_webhook_added_with_patch_receives_the_next_panic(
    noc: Noc, clients: dict[str, Api], webhooks: HttpReceiver
) -> None:
    admin = clients["admin1"]
    guard, device = make_guard(admin, 1, "site-mg-road", "livehook")
    before = admin.get("/api/tenants/1")["channels"]
    hook = {"id": "live-hook", "url": f"json://127.0.0.1:{webhooks.port}/hooks/live-1"}
    patch(admin, "/api/tenants/1", {"channels": [*before, hook]})
    try:
        noc.vigil.publish(f"device/{device}/alert", PANIC)
        post = wait_for(lambda: webhooks.find(guard, "/hooks/live-1"), 10, "the new webhook")[0]
        assert post.json["type"] == "failure"  # apprise's notify type for critical alerts
    finally:
        patch(admin, "/api/tenants/1", {"channels": before})


def test_an_edit_the_notifier_cannot_apply_is_refused_naming_the_field_and_not_saved(
    noc: Noc, clients: dict[str, Api]
) -> None:
    admin = clients["admin1"]
    before = admin.get("/api/tenants/1")
    bad = {"id": "bad", "url": "nosuch://127.0.0.1/x"}
    response = admin.call("PATCH", "/api/tenants/1", {"channels": [*before["channels"], bad]})
    assert response.status_code == 422, response.text
    assert f"channels[{len(before['channels'])}].url" in response.text
    response = admin.call(
        "PATCH", "/api/tenants/1", {"escalation": [{"after_s": 5, "notify": ["nobody"]}]}
    )
    assert response.status_code == 422 and "escalation[0].notify[0]" in response.text
    assert admin.get("/api/tenants/1") == before
    saved = (noc.vigil.data / "fleet_edits.json").read_text()
    assert "nosuch://" not in saved and '"nobody"' not in saved


@pytest.fixture(scope="module")
def tenant77(
    noc: Noc, clients: dict[str, Api], mailbox: Mailbox, webhooks: HttpReceiver
) -> Iterator[str]:
    """Tenant 77, made over the API: two sites each with its own on-call guard, a
    supervisor, a webhook and an email channel, and a tier 2 (the supervisor and whoever
    is on call) after ESCALATE_AFTER_S. Yields the mail domain of its people."""
    root = clients["platform"]
    email = f"mailto://127.0.0.1:{mailbox.port}?from=vigil@t77.example&to={{email}}&mode=insecure"
    root.post(
        "/api/tenants",
        {
            "id": TENANT,
            "name": "Tenant made live",
            "channels": [
                {"id": "hook", "url": f"json://127.0.0.1:{webhooks.port}/hooks/t77"},
                {"id": "email", "url": email},
            ],
        },
    )
    for site in ("a", "b"):
        root.post("/api/sites", {"id": f"t77-site-{site}", "client_id": TENANT})
    people = {"t77-on-a": "t77-site-a", "t77-on-b": "t77-site-b", "t77-sup": "t77-site-a"}
    for person, site in people.items():
        body = {"id": person, "client_id": TENANT, "site_id": site, "email": f"{person}@t77.test"}
        root.post("/api/guards", body)
    for site in ("a", "b"):
        patch(root, f"/api/sites/t77-site-{site}", {"roster": [{"on_call": [f"t77-on-{site}"]}]})
    chain = [{"after_s": ESCALATE_AFTER_S, "notify": ["t77-sup", "on_call"]}]
    patch(root, f"/api/tenants/{TENANT}", {"escalation": chain})
    yield "t77.test"


def mails_of(mailbox: Mailbox, alert_id: str, person: str) -> list[Any]:
    return mailbox.find(alert_id, f"{person}@t77.test")


def test_a_tenant_made_over_the_api_gets_its_alerts_notified_and_escalated(
    noc: Noc, clients: dict[str, Api], tenant77: str, mailbox: Mailbox, webhooks: HttpReceiver
) -> None:
    guard, device = make_guard(clients["platform"], TENANT, "t77-site-a", "t77new")
    started = time.monotonic()
    noc.vigil.publish(f"device/{device}/alert", PANIC)

    alert = wait_for(lambda: router_alerts(noc, TENANT, guard), 10, "the panic")[0]
    assert alert["site_id"] == "t77-site-a"
    alert_id = alert["alert_id"]
    wait_for(lambda: webhooks.find(alert_id, "/hooks/t77"), 10, "the tenant's webhook")
    (tier1,) = wait_for(lambda: mails_of(mailbox, alert_id, "t77-on-a"), 10, "tier 1 mail")
    assert "ESCALATED" not in tier1.subject
    sup = wait_for(
        lambda: mails_of(mailbox, alert_id, "t77-sup"), ESCALATE_AFTER_S + 15, "tier 2 mail"
    )
    assert "ESCALATED (tier 2" in sup[0].subject
    assert sup[0].at - started >= ESCALATE_AFTER_S
    both = wait_for(lambda: len(mails_of(mailbox, alert_id, "t77-on-a")) == 2, 10, "on call")
    assert both and not mailbox.find(alert_id, "t77-on-b@t77.test")


def test_a_guard_moved_to_another_site_raises_with_the_new_site_and_its_roster(
    noc: Noc, clients: dict[str, Api], tenant77: str, mailbox: Mailbox
) -> None:
    root = clients["platform"]
    guard, device = make_guard(root, TENANT, "t77-site-a", "t77mover")
    # A fix first: the shard holds the guard and its device, as it would a working guard.
    noc.vigil.publish(f"guard/{guard}/gps", fix(12.97, 77.59))
    wait_for(
        lambda: any(ray.get(s.guard_state.remote(guard)) for s in noc.vigil.runtime.shards),
        10,
        "the guard live on its shard",
    )
    patch(root, f"/api/guards/{guard}", {"site_id": "t77-site-b"})
    noc.vigil.publish(f"device/{device}/alert", PANIC)

    alert = wait_for(lambda: router_alerts(noc, TENANT, guard), 10, "the panic")[0]
    assert alert["site_id"] == "t77-site-b"
    alert_id = alert["alert_id"]
    wait_for(lambda: mails_of(mailbox, alert_id, "t77-on-b"), 10, "the new site's on call")
    wait_for(lambda: mails_of(mailbox, alert_id, "t77-sup"), ESCALATE_AFTER_S + 15, "tier 2")
    wait_for(lambda: len(mails_of(mailbox, alert_id, "t77-on-b")) == 2, 10, "tier 2 on call")
    assert not mails_of(mailbox, alert_id, "t77-on-a")  # the old site's roster hears nothing
