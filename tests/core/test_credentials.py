"""Broker logins without a broker: derived passwords, rotation, each account's rights, the
plugin's file and the commands that change it (the broker itself: tests/integration/
test_device_logins.py)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from core.credentials import (
    INGEST,
    SECRET_FILE,
    Account,
    Credentials,
    changes,
    dynsec_config,
    sensor_login,
)
from core.fleet import Device, Fleet, Guard, Sensor

FLEET = Fleet(
    guards=[Guard(id="g-1", client_id=1, site_id="s", device_id="d:1")],
    devices=[Device(id="d:1", client_id=1), Device(id="button", client_id=1)],
    sensors=[Sensor(id="smoke-1", site_id="s", kind="smoke")],
)


def test_passwords_are_stable_distinct_and_a_rotation_changes_only_its_own(
    tmp_path: Path,
) -> None:
    first = Credentials(tmp_path)
    before = {login: first.password(login) for login in ("d:1", "button", INGEST)}
    assert len(set(before.values())) == 3 and all(len(p) >= 40 for p in before.values())
    assert {login: Credentials(tmp_path).password(login) for login in before} == before
    rotated = first.rotate("d:1")
    assert rotated != before["d:1"] and Credentials(tmp_path).password("d:1") == rotated
    assert Credentials(tmp_path).password("button") == before["button"]
    assert Credentials(tmp_path / "other").password("d:1") not in (before["d:1"], rotated)
    secret = tmp_path / SECRET_FILE
    assert secret.stat().st_mode & 0o077 == 0 and len(bytes.fromhex(secret.read_text())) >= 32


def test_a_device_may_publish_its_own_topics_and_its_guards_fix_and_read_its_commands(
    tmp_path: Path,
) -> None:
    accounts = Credentials(tmp_path).fleet_accounts(FLEET)
    tracker, sensor = accounts["d:1"], accounts[sensor_login("smoke-1")]
    assert set(tracker.publish) == {
        "device/d:1/telemetry",
        "device/d:1/alert",
        "device/d:1/status",
        "device/d:1/cmd/ack",
        "guard/g-1/gps",
    }
    assert tracker.subscribe == ("device/d:1/cmd",)
    assert "guard/g-1/gps" not in accounts["button"].publish
    assert sensor.publish == ("sensor/smoke-1/reading",) and sensor.subscribe == ()


def test_an_owntracks_phone_may_also_publish_its_own_owntracks_topics_and_read_its_commands(
    tmp_path: Path,
) -> None:
    phone = Device(id="p-1", client_id=1, owntracks="ravi/pixel")
    accounts = Credentials(tmp_path).fleet_accounts(FLEET.adding(devices=[phone]))
    mine = accounts["p-1"]
    assert {"owntracks/ravi/pixel", "owntracks/ravi/pixel/event"} <= set(mine.publish)
    assert set(mine.subscribe) == {"device/p-1/cmd", "owntracks/ravi/pixel/cmd"}
    assert not any(t.startswith("owntracks/") for t in accounts["d:1"].publish)


def test_the_plugins_file_holds_hashes_that_match_and_never_a_password(tmp_path: Path) -> None:
    accounts = list(Credentials(tmp_path).fleet_accounts(FLEET).values())
    config = dynsec_config(accounts)
    written = json.dumps(config)
    assert not any(account.password in written for account in accounts)
    for account, client in zip(accounts, config["clients"], strict=True):
        salt = base64.b64decode(client["salt"])
        digest = hashlib.pbkdf2_hmac(
            "sha512", account.password.encode(), salt, client["iterations"]
        )
        assert base64.b64decode(client["password"]) == digest
    assert config["defaultACLAccess"]["publishClientSend"] is False
    assert config["defaultACLAccess"]["subscribe"] is False


ACCOUNTS = st.dictionaries(
    st.sampled_from(["a", "b", "c", "d"]),
    st.tuples(
        st.lists(st.sampled_from(["x/1", "x/2", "y/#"]), max_size=2, unique=True),
        st.lists(st.sampled_from(["z/1", "z/2"]), max_size=1),
    ),
)


def _accounts(spec: dict[str, tuple[list[str], list[str]]]) -> dict[str, Account]:
    return {n: Account(n, f"pw-{n}", tuple(p), tuple(s)) for n, (p, s) in spec.items()}


@given(ACCOUNTS, ACCOUNTS)
def test_changes_turn_any_accounts_into_any_others_touching_only_what_changed(
    before_spec: dict[str, tuple[list[str], list[str]]],
    after_spec: dict[str, tuple[list[str], list[str]]],
) -> None:
    before, after = _accounts(before_spec), _accounts(after_spec)
    held = {name: (a.publish, a.subscribe) for name, a in before.items()}
    touched = set()
    for command in changes(before, after):  # played on a model of the plugin's clients
        name = command.get("username") or command["rolename"]
        touched.add(name)
        if command["command"] == "deleteClient":
            held.pop(name, None)
        elif command["command"] == "createRole":
            acls = command["acls"]
            held[name] = (
                tuple(a["topic"] for a in acls if a["acltype"] == "publishClientSend"),
                tuple(a["topic"] for a in acls if a["acltype"] == "subscribePattern"),
            )
    assert held == {name: (a.publish, a.subscribe) for name, a in after.items()}
    unchanged = {n for n in before.keys() & after.keys() if before_spec[n] == after_spec[n]}
    assert not touched & unchanged
