"""The outbox: what a dispatch delivers, its idempotency key, and how a delivery resumes."""

from __future__ import annotations

import msgspec

from actors.notify.channels import IDEMPOTENCY_HEADER, send, with_key
from actors.notify.message import Dispatch
from actors.notify.outbox import Pending, delivery_key, plan, revive, to_row, wait_s
from core.alerts import AlertKind, make_alert
from core.fleet import Channel, Contact, FleetIndex, parse_fleet
from tests.receivers import HttpReceiver

FLEET = parse_fleet(
    {
        "tenants": [
            {
                "id": 1,
                "channels": [
                    {"id": "email", "url": "mailto://smtp.example.com?to={email}"},
                    {"id": "hook", "url": "json://hooks.example.com/vigil?secret=s3"},
                ],
            }
        ],
        "sites": [{"id": "site-a", "client_id": 1, "name": "MG Road campus"}],
        "guards": [{"id": "guard-1", "client_id": 1, "site_id": "site-a", "name": "Ravi"}],
        "contacts": [{"id": "op", "email": "op@example.com"}, {"id": "nobody"}],
    }
)
PANIC = make_alert(AlertKind.PANIC, entity_id="guard-1", client_id=1, site_id="site-a", ts=0)


def dispatch(tier: int = 1, people: tuple[str, ...] = ("op",)) -> Dispatch:
    return Dispatch(alert=PANIC, tier=tier, people=people, raised_at=1_000_000)


def test_tier_one_goes_to_each_person_with_an_address_and_once_to_the_webhook() -> None:
    deliveries, no_address = plan(dispatch(people=("op", "nobody")), FleetIndex(FLEET))
    assert [(d.route.channel, d.recipient) for d in deliveries] == [
        ("email", "op"),
        ("hook", "hook"),
    ]
    assert no_address == 1
    later, _ = plan(dispatch(tier=2), FleetIndex(FLEET))
    assert [d.route.channel for d in later] == ["email"]  # webhooks hear of an alert once


def test_the_idempotency_key_depends_on_the_delivery_only() -> None:
    first, _ = plan(dispatch(), FleetIndex(FLEET))
    again, _ = plan(dispatch(), FleetIndex(FLEET))
    assert [d.key for d in first] == [d.key for d in again]
    assert len({d.key for d in first}) == 2
    assert first[1].key == delivery_key(PANIC.alert_id, 1, "hook", "hook")


def test_a_webhook_url_carries_the_key_as_a_header_and_other_urls_stay_as_they_are() -> None:
    assert with_key("json://h.example.com/x?secret=s3", "k1") == (
        f"json://h.example.com/x?secret=s3&+{IDEMPOTENCY_HEADER}=k1"
    )
    assert (
        with_key("form://h.example.com/x", "k1")
        == f"form://h.example.com/x?+{IDEMPOTENCY_HEADER}=k1"
    )
    assert (
        with_key("mailto://smtp.example.com?to=a@b.c", "k1") == "mailto://smtp.example.com?to=a@b.c"
    )


def test_the_header_reaches_a_real_receiver() -> None:
    receiver = HttpReceiver().start()
    try:
        url = with_key(f"json://127.0.0.1:{receiver.port}/hook", "k-42")
        assert send(url, "t", "body-idem", "info", 5) is None
        [post] = receiver.find("body-idem", "/hook")
        assert post.headers[IDEMPOTENCY_HEADER.lower()] == "k-42"
    finally:
        receiver.stop()


def test_an_outbox_row_keeps_no_channel_url() -> None:
    deliveries, _ = plan(dispatch(), FleetIndex(FLEET))
    row = to_row(deliveries[1], now_us=5)
    assert "s3" not in msgspec.json.encode(row).decode()  # the webhook's secret
    assert row.delivery_id == deliveries[1].key


def test_a_resumed_delivery_continues_after_its_last_attempt_with_the_url_rendered_again() -> None:
    deliveries, _ = plan(dispatch(), FleetIndex(FLEET))
    pending = Pending(row=to_row(deliveries[1], 5), attempts=2, last_at=10_000_000)
    resumed = revive(pending, FleetIndex(FLEET))
    assert not isinstance(resumed, str)
    assert resumed.attempt == 3 and resumed.url == deliveries[1].url
    # 2nd failure waits base * 2 = 2 s; 0.5 s of it had passed when the notifier came back.
    assert wait_s(pending, now_us=10_500_000, base=1.0, cap=60.0) == 1.5
    assert wait_s(pending, now_us=99_000_000, base=1.0, cap=60.0) == 0.0
    never_tried = Pending(row=pending.row, attempts=0, last_at=None)
    assert wait_s(never_tried, now_us=0, base=1.0, cap=60.0) == 0.0


def test_a_delivery_whose_channel_left_the_fleet_says_so() -> None:
    deliveries, _ = plan(dispatch(), FleetIndex(FLEET))
    tenant = msgspec.structs.replace(
        FLEET.tenants[0], channels=[Channel(id="email", url="mailto://smtp.example.com?to={email}")]
    )
    fewer = FleetIndex(msgspec.structs.replace(FLEET, tenants=[tenant]))
    gone = revive(Pending(row=to_row(deliveries[1], 5), attempts=1, last_at=5), fewer)
    assert gone == "channel 'hook' of tenant 1 is no longer in the fleet"
    moved = msgspec.structs.replace(FLEET, contacts=[Contact(id="op")])
    why = revive(Pending(row=to_row(deliveries[0], 5), attempts=0, last_at=None), FleetIndex(moved))
    assert why == "recipient 'op' is no longer in the fleet or has no address"
