"""Channels: URLs rendered per person, checked at start, delivered by apprise for real."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from actors.notify.channels import check_channels, render, routes, send
from actors.notify.message import Dispatch, compose
from core.alerts import AlertKind, make_alert
from core.errors import ConfigError
from core.fleet import Channel, Contact, FleetIndex, Guard, parse_fleet
from tests.receivers import HttpReceiver, Mailbox

FLEET = parse_fleet(
    {
        "tenants": [{"id": 1, "name": "Brightstar"}],
        "sites": [{"id": "site-a", "client_id": 1, "name": "MG Road campus"}],
        "guards": [{"id": "guard-1", "client_id": 1, "site_id": "site-a", "name": "Ravi"}],
    }
)


def with_channels(*urls: str):
    tenant = msgspec.structs.replace(
        FLEET.tenants[0], channels=[Channel(id=f"c{n}", url=u) for n, u in enumerate(urls)]
    )
    return msgspec.structs.replace(FLEET, tenants=[tenant])


def test_a_url_is_rendered_for_each_person_with_the_field_it_names() -> None:
    template = "mailto://smtp.example.com?to={email}"
    assert render(template, Contact(id="op", email="op+noc@example.com")) == (
        "mailto://smtp.example.com?to=op+noc@example.com"
    )
    assert render(template, Guard(id="g", client_id=1, site_id="s")) is None  # no email


def test_routes_say_which_channels_go_to_people_and_which_once_per_alert() -> None:
    fleet = with_channels("mailto://smtp.example.com?to={email}", "json://hooks.example.com/x")
    assert [(r.channel, r.per_person) for r in routes(fleet.tenants[0])] == [
        ("c0", True),
        ("c1", False),
    ]


def test_every_known_channel_url_passes_the_start_check() -> None:
    check_channels(
        with_channels(
            "mailto://user:pw@smtp.example.com:587?to={email}",
            "json://hooks.example.com/vigil",
            "smseagle://token@gateway.example.com/{phone}",
            "ntfy://ntfy.example.com/{push}",
        )
    )


def test_an_unknown_scheme_fails_the_start_check_naming_the_key() -> None:
    fleet = with_channels("json://hooks.example.com/x", "carrierpigeon://loft/{name}")
    with pytest.raises(ConfigError, match=r"tenants\[0\]\.channels\[1\]\.url: .*carrierpigeon"):
        check_channels(fleet, "fleet.yaml")


def test_a_message_is_formatted_once_with_who_where_and_the_alert_id() -> None:
    alert = make_alert(
        AlertKind.PANIC, entity_id="guard-1", client_id=1, site_id="site-a", ts=0, lat=12.97
    )
    title, body = compose(
        Dispatch(alert=alert, tier=2, people=("op",), raised_at=0, count=3), FleetIndex(FLEET)
    )
    assert (
        title
        == "ESCALATED (tier 2, not acknowledged) [CRITICAL] panic: guard-1 (Ravi), MG Road campus"
    )
    assert alert.alert_id in body and "repeated 3 times" in body
    assert "1970-01-01 00:00:00 UTC" in body


def test_send_delivers_to_a_real_smtp_server_and_webhook() -> None:
    mailbox, receiver = Mailbox().start(), HttpReceiver().start()
    try:
        mail_url = f"mailto://127.0.0.1:{mailbox.port}?from=v@test.example&to=op@test.example&mode=insecure"
        assert send(mail_url, "title", "body-1", "failure", 5) is None
        assert mailbox.find("body-1", "op@test.example")
        assert send(f"json://127.0.0.1:{receiver.port}/hook", "t", "body-2", "info", 5) is None
        assert receiver.find("body-2", "/hook")
    finally:
        mailbox.stop()
        receiver.stop()


def test_send_says_what_went_wrong() -> None:
    receiver = HttpReceiver().start()
    try:
        receiver.fail("body-3", times=None)
        error = send(f"json://127.0.0.1:{receiver.port}/hook", "t", "body-3", "info", 5)
        assert error is not None and "500" in error
    finally:
        receiver.stop()


def test_vigil_refuses_to_start_with_a_channel_apprise_cannot_use() -> None:
    from cli import runtime
    from core.settings import Settings

    fleet = with_channels("json://hooks.example.com/x", "smtp-ish://example.com")
    with pytest.raises(ConfigError, match=r"fleet.yaml: tenants\[0\]\.channels\[1\]\.url"):
        runtime.start(Settings(fleet_path=Path("fleet.yaml")), fleet)  # before any actor
