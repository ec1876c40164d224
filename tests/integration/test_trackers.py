"""Real trackers (issue 15) through the session's Mosquitto, OsmAnd ingress and vigil: an
OwnTracks phone publishing exactly what the app sends, Traccar Client requests in both
of its forms, and HTTP 200 meaning durable even while the writer is killed."""

from __future__ import annotations

import itertools
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
import ray

from tests.conftest import Vigil, restart, wait_for
from tests.integration.test_device_logins import Device, credentials

pytestmark = pytest.mark.integration
# Inside site-mg-road's campus; every test moves its own guard by its own small offset.
LAT, LON = 12.9716, 77.5946
OFFSETS = itertools.count(1)


def spot() -> tuple[float, float]:
    """A position no other test of this module reports."""
    n = next(OFFSETS)
    return round(LAT + n * 1e-5, 7), round(LON + n * 1e-5, 7)


def osmand(vigil: Vigil) -> str:
    return f"http://127.0.0.1:{vigil.settings.osmand_port}/"


def located(vigil: Vigil, guard: str, lat: float, source: str) -> list[tuple[Any, ...]]:
    sql = "select lon, accuracy, battery, speed from guard_locations where guard_id = ? "
    sql += "and abs(lat - ?) < 1e-9 and source = ?"
    return vigil.rows(sql, [guard, lat, source])


def on_the_noc(vigil: Vigil, guard: str, lat: float) -> bool:
    guards = ray.get(vigil.runtime.hub.snapshot.remote(1, 0))["guards"]
    return any(g["guard_id"] == guard and abs(g["lat"] - lat) < 1e-9 for g in guards)


# -- OwnTracks ---------------------------------------------------------------------------


def owntracks_location(lat: float, lon: float, tst: int) -> str:
    """A location as the OwnTracks app publishes it (owntracks.org/booklet/tech/json):
    every field the Android app sends, most of which vigil does not read."""
    return json.dumps(
        {
            "_type": "location",
            "BSSID": "b0:f2:8f:6f:7e:53",
            "SSID": "campus",
            "acc": 12,
            "alt": 921,
            "batt": 81,
            "bs": 1,
            "conn": "w",
            "created_at": tst,
            "lat": lat,
            "lon": lon,
            "m": 1,
            "t": "u",
            "tid": "p1",
            "tst": tst,
            "vac": 3,
            "vel": 18,
            "cog": 270,
        }
    )


def mosquitto_pub(vigil: Vigil, device: str, topic: str, payload: str) -> None:
    """`mosquitto_pub` with the device's credentials, as an installer would test a phone."""
    import subprocess

    username, password = credentials(vigil, device)
    args = ["mosquitto_pub", "-h", vigil.broker.host, "-p", str(vigil.broker.port), "-q", "1"]
    subprocess.run([*args, "-u", username, "-P", password, "-t", topic, "-m", payload], check=True)


def test_an_owntracks_location_moves_its_guard_and_its_lwt_takes_the_phone_offline(
    vigil: Vigil,
) -> None:
    lat, lon = spot()
    mosquitto_pub(
        vigil,
        "ot-phone-1",
        "owntracks/alice/phone1",
        owntracks_location(lat, lon, int(time.time())),
    )
    rows = wait_for(lambda: located(vigil, "ot-guard-1", lat, "owntracks"), 15, "the fix stored")
    assert rows == [(lon, 12.0, 81.0, pytest.approx(5.0))]  # 18 km/h is 5 m/s
    wait_for(lambda: on_the_noc(vigil, "ot-guard-1", lat), 10, "the guard moved on the NOC")
    battery = "select battery from device_telemetry where device_id = 'ot-phone-1' "
    battery += "and source = 'owntracks'"
    assert (81.0,) in wait_for(lambda: vigil.rows(battery), 10, "the battery as telemetry")

    lwt = json.dumps({"_type": "lwt", "tst": int(time.time()) - 3600})
    mosquitto_pub(vigil, "ot-phone-1", "owntracks/alice/phone1", lwt)
    offline = (
        "select online from device_status where device_id = 'ot-phone-1' and source = 'owntracks'"
    )
    assert wait_for(lambda: vigil.rows(offline), 15, "the last will stored") == [(False,)]
    wait_for(
        lambda: (
            [a for a in vigil.hub_alerts("ot-phone-1") if a["kind"] == "device_offline"]
            or [a for a in vigil.hub_alerts("ot-guard-1") if a["kind"] == "device_offline"]
        ),
        15,
        "device_offline on the NOC feed",
    )


def test_another_phone_cannot_publish_on_an_owntracks_topic(vigil: Vigil) -> None:
    lat, lon = spot()
    stranger = Device(vigil, *credentials(vigil, "ot-phone-2"))
    try:
        payload = owntracks_location(lat, lon, int(time.time()))
        assert stranger.publish("owntracks/alice/phone1", payload) == 135  # not authorized
        assert stranger.publish("owntracks/alice/phone1/event", payload) == 135
        assert stranger.publish("owntracks/bob/phone2", payload) == 0  # its own
    finally:
        stranger.close()
    wait_for(lambda: located(vigil, "ot-guard-2", lat, "owntracks"), 15, "its own fix stored")
    assert located(vigil, "ot-guard-1", lat, "owntracks") == []


def test_owntracks_messages_vigil_does_not_read_are_dead_letters(vigil: Vigil) -> None:
    tag = f"card-{time.time_ns()}"
    mosquitto_pub(
        vigil, "ot-phone-2", "owntracks/bob/phone2", json.dumps({"_type": "card", "name": tag})
    )
    sql = "select reason, detail from dead_letters where payload like ?"
    rows = wait_for(lambda: vigil.rows(sql, [f"%{tag}%"]), 15, "the dead letter")
    assert rows[0][0] == "invalid_field" and "_type" in rows[0][1]


# -- Traccar Client (OsmAnd) ------------------------------------------------------------------


def test_traccar_client_requests_in_both_forms_land_like_any_fix(vigil: Vigil) -> None:
    auth = credentials(vigil, "tc-phone-1")
    lat, lon = spot()
    query = {
        "id": "tc-phone-1",
        "lat": str(lat),
        "lon": str(lon),
        "timestamp": str(int(time.time())),
    }
    query |= {"accuracy": "8.5", "speed": "10", "bearing": "90", "batt": "64", "altitude": "900"}
    answer = httpx.post(osmand(vigil), params=query, auth=auth, timeout=30)
    assert answer.status_code == 200, answer.text
    rows = wait_for(lambda: located(vigil, "tc-guard-1", lat, "osmand"), 10, "the query form")
    assert rows == [(lon, 8.5, 64.0, pytest.approx(5.144, abs=1e-3))]  # 10 knots

    lat2, lon2 = spot()
    body = {
        "location": {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "coords": {
                "latitude": lat2,
                "longitude": lon2,
                "accuracy": 4,
                "speed": 1.5,
                "heading": -1,
                "altitude": 920,
            },
            "is_moving": True,
            "odometer": 1234,
            "event": "motionchange",
            "battery": {"level": 0.5, "is_charging": False},
            "activity": {"type": "walking"},
        },
        "device_id": "tc-phone-1",
    }
    answer = httpx.post(osmand(vigil), json=body, auth=auth, timeout=30)
    assert answer.status_code == 200, answer.text
    rows = wait_for(lambda: located(vigil, "tc-guard-1", lat2, "osmand"), 10, "the JSON form")
    assert rows == [(lon2, 4.0, 50.0, 1.5)]
    wait_for(lambda: on_the_noc(vigil, "tc-guard-1", lat2), 10, "the guard moved on the NOC")


def test_a_wrong_login_gets_401_and_a_bad_request_a_4xx_naming_the_parameter(vigil: Vigil) -> None:
    lat, lon = spot()
    query = {"id": "tc-phone-2", "lat": str(lat), "lon": str(lon)}
    user, password = credentials(vigil, "tc-phone-2")
    for auth in [(user, password + "x"), ("tc-phone-3", password), ("nobody", "x")]:
        answer = httpx.post(osmand(vigil), params=query, auth=auth, timeout=30)
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"].startswith("Basic")
    assert httpx.post(osmand(vigil), params=query, timeout=30).status_code == 401

    answer = httpx.post(osmand(vigil), params={**query, "lat": "north"}, auth=(user, password))
    assert answer.status_code == 400 and "$.lat" in answer.json()["detail"]
    answer = httpx.post(osmand(vigil), params={**query, "id": "tc-phone-3"}, auth=(user, password))
    assert answer.status_code == 403 and answer.json()["error"] == "spoofed_id"
    letters = "select reason from dead_letters where topic = 'osmand/tc-phone-2'"
    assert {"invalid_field", "spoofed_id"} <= {r for (r,) in vigil.rows(letters)}
    assert located(vigil, "tc-guard-2", lat, "osmand") == []
    assert located(vigil, "tc-guard-3", lat, "osmand") == []


def test_an_sos_is_a_critical_alarm_and_the_sites_owntracks_phones_are_asked_where_they_are(
    vigil: Vigil,
) -> None:
    asked, subscribed = threading.Event(), threading.Event()
    phone = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    phone.username_pw_set(*credentials(vigil, "ot-phone-2"))
    phone.on_connect = lambda client, *_: client.subscribe("owntracks/bob/phone2/cmd", qos=1)
    phone.on_subscribe = lambda _c, _u, _m, codes, _p: codes[0].is_failure or subscribed.set()
    phone.on_message = lambda _c, _u, msg: (
        json.loads(msg.payload)
        == {
            "_type": "cmd",
            "action": "reportLocation",
        }
        and asked.set()
    )
    phone.connect(vigil.broker.host, vigil.broker.port)
    phone.loop_start()
    try:
        assert subscribed.wait(10), "the phone subscribed to its cmd topic"
        lat, lon = spot()
        query = {"id": "tc-phone-3", "lat": str(lat), "lon": str(lon), "alarm": "sos"}
        answer = httpx.post(
            osmand(vigil), params=query, auth=credentials(vigil, "tc-phone-3"), timeout=30
        )
        assert answer.status_code == 200, answer.text
        alerts = wait_for(
            lambda: [a for a in vigil.hub_alerts("tc-guard-3") if a["kind"] == "sos"],
            10,
            "the SOS on the NOC feed",
        )
        assert alerts[0]["severity"] == "critical"
        assert asked.wait(10), "ot-phone-2 was asked for its location"
    finally:
        phone.disconnect()
        phone.loop_stop()


def test_every_fix_answered_200_is_in_the_lake_though_the_writer_is_killed(vigil: Vigil) -> None:
    auth = credentials(vigil, "tc-phone-2")
    fixes = [spot() for _ in range(120)]
    answers: dict[float, int] = {}

    def send(fix: tuple[float, float]) -> None:
        query = {"id": "tc-phone-2", "lat": str(fix[0]), "lon": str(fix[1])}
        try:
            answers[fix[0]] = httpx.post(
                osmand(vigil), params=query, auth=auth, timeout=60
            ).status_code
        except httpx.HTTPError:
            answers[fix[0]] = 0

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(send, fix) for fix in fixes[:40]]
        restart(vigil.runtime.writer, sigkill=True)  # while requests are in flight
        futures += [pool.submit(send, fix) for fix in fixes[40:]]
        for future in futures:
            future.result()
    ok = sorted(lat for lat, status in answers.items() if status == 200)
    assert ok, f"no request answered 200: {answers}"
    sql = "select lat from guard_locations where guard_id = 'tc-guard-2' and source = 'osmand'"

    def missing() -> list[float]:
        stored = {round(lat, 7) for (lat,) in vigil.rows(sql)}
        return [lat for lat in ok if lat not in stored]

    # Durable before 200: each is in the writer's log; the wait is only for the lake's view.
    wait_for(lambda: not missing(), 20, "every fix answered 200 in the lake")
