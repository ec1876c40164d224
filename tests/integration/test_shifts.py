"""Shifts and the lone-worker watchdog through the real path (issue 14, items 1 and 2).

The roster is edited over the API (REST -> registry -> ingest and shards), fixes and
check-ins are published through the broker, alerts are read from the router and rows
from the lake. Shift times are literal clock times of a UTC site, a few seconds from now
(`HH:MM:SS`), so the deadlines fall within a test's patience.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import ray

from tests.conftest import Noc, Vigil, restart, wait_for
from tests.serve.apiclient import Api, fix, make_guard

pytestmark = pytest.mark.integration

SITE = "shift-yard"
YARD = {
    "id": "yard",
    "name": "Yard",
    "geometry": {
        "type": "Polygon",
        "coordinates": [[[77.60, 12.90], [77.61, 12.90], [77.61, 12.91], [77.60, 12.91],
                         [77.60, 12.90]]],
    },
}  # fmt: skip
INSIDE = (12.905, 77.605)
OUTSIDE = (12.95, 77.605)  # 5 km north
NORTH_100M = 100 / 111_195


@pytest.fixture(scope="module")
def admin(clients: dict[str, Api]) -> Api:
    admin = clients["admin1"]
    admin.post("/api/sites", {"id": SITE, "client_id": 1, "zones": [YARD]})
    return admin


def clock(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%H:%M:%S")


def shifts(admin: Api, *shifts: dict[str, Any]) -> None:
    response = admin.call("PATCH", f"/api/sites/{SITE}", {"shifts": list(shifts)})
    assert response.status_code == 200, response.text


def alerts_of(noc: Noc, guard: str, kind: str | None = None) -> list[dict[str, Any]]:
    found = ray.get(noc.vigil.runtime.router.alerts.remote(1, None, 5000))
    return [a for a in found if a["entity_id"] == guard and kind in (None, a["kind"])]


def the_alert(noc: Noc, guard: str, kind: str, timeout: float = 30) -> dict[str, Any]:
    return wait_for(lambda: alerts_of(noc, guard, kind), timeout, f"{kind} of {guard}")[0]


def dropped(vigil: Vigil) -> int:
    stats = ray.get([actor.get_stats.remote() for actor in vigil.runtime.ingest])
    return sum(s["off_duty_dropped"] for s in stats)


def us(at: datetime) -> int:
    return int(at.timestamp() * 1_000_000)


def test_an_off_duty_exit_raises_nothing_and_stores_nothing(
    vigil: Vigil, noc: Noc, admin: Api
) -> None:
    guard, _ = make_guard(admin, 1, SITE, "offduty")
    now = datetime.now(UTC)
    later = {"open": clock(now + timedelta(hours=2)), "close": clock(now + timedelta(hours=3))}
    shifts(admin, {"id": "later", "guards": [guard], "hours": later})
    before = dropped(vigil)
    vigil.publish(f"guard/{guard}/gps", fix(*INSIDE))
    vigil.publish(f"guard/{guard}/gps", fix(OUTSIDE[0], OUTSIDE[1] + 0.0001))  # off duty
    wait_for(lambda: dropped(vigil) - before == 2, 15, "both off-duty fixes dropped at ingest")
    now = datetime.now(UTC)
    on = {"open": clock(now - timedelta(minutes=1)), "close": clock(now + timedelta(hours=1))}
    shifts(admin, {"id": "now", "guards": [guard], "hours": on})
    vigil.publish(f"guard/{guard}/gps", fix(*INSIDE))
    vigil.publish(f"guard/{guard}/gps", fix(*OUTSIDE))
    exit_ = the_alert(noc, guard, "geofence_exit")
    assert exit_["lat"] == pytest.approx(OUTSIDE[0])  # the on-duty exit, not the one before
    wait_for(
        lambda: vigil.count("guard_locations", "guard_id = ?", [guard]) == 2, 20, "on-duty rows"
    )
    stored = vigil.rows("SELECT lon FROM guard_locations WHERE guard_id = ?", [guard])
    assert sorted(lon for (lon,) in stored) == [INSIDE[1], OUTSIDE[1]]  # never the off-duty
    assert [a["kind"] for a in alerts_of(noc, guard) if a["kind"] != "shift_started"] == [
        "geofence_exit"
    ]


def test_a_still_guard_is_a_lone_worker_at_n_seconds_through_a_shard_kill_and_moving_clears_it(
    vigil: Vigil, noc: Noc, admin: Api
) -> None:
    guard, device = make_guard(admin, 1, SITE, "lonely")
    absent, _ = make_guard(admin, 1, SITE, "absent")
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
    watch = {"still_after_s": 8, "moved_m": 25, "escalate_after_s": 3}
    hours = {"open": clock(start), "close": clock(start + timedelta(hours=1))}
    shifts(
        admin,
        {"id": "watch", "guards": [guard, absent], "hours": hours, "no_show_after_s": 2,
         "lone_worker": watch},
    )  # fmt: skip
    started = the_alert(noc, guard, "shift_started", 15)
    assert started["ts"] == us(start) and started["status"] == "open"
    vigil.publish(f"guard/{guard}/gps", fix(*INSIDE))
    no_show = the_alert(noc, absent, "shift_no_show", 15)
    assert (no_show["ts"], no_show["severity"]) == (us(start) + 2_000_000, "high")
    shard = vigil.runtime.shards[zlib.crc32(guard.encode()) % len(vigil.runtime.shards)]
    restart(shard, sigkill=True)  # the watchdog's clock must survive it
    lone = the_alert(noc, guard, "lone_worker")
    assert lone["ts"] == us(start) + 8_000_000  # N seconds after the shift began, on the dot
    unanswered = the_alert(noc, guard, "lone_worker_unanswered")
    assert (unanswered["ts"], unanswered["severity"]) == (lone["ts"] + 3_000_000, "critical")
    assert [a["kind"] for a in alerts_of(noc, guard)].count("lone_worker") == 1
    assert not alerts_of(noc, guard, "shift_no_show")  # it reported after the start
    vigil.publish(f"guard/{guard}/gps", fix(INSIDE[0] + NORTH_100M, INSIDE[1]))
    clear = the_alert(noc, guard, "lone_worker_clear")
    assert clear["detail"] == "moved 100 m"
    for kind in ("lone_worker", "lone_worker_unanswered"):
        wait_for(
            lambda k=kind: the_alert(noc, guard, k)["status"] == "resolved", 10, f"{kind} resolved"
        )
        ended = the_alert(noc, guard, kind)
        assert ended["resolved_by"] == "vigil"
        assert ended["timeline"][-1]["note"].startswith("ended: lone_worker_clear")
    # A check-in is no alarm: nothing new is raised by it.
    kinds = {a["kind"] for a in alerts_of(noc, guard)}
    vigil.publish(f"device/{device}/alert", '{"type": "checkin"}')
    wait_for(
        lambda: vigil.count("device_events", "device_id = ? AND type = 'checkin'", [device]) == 1,
        20,
        "the check-in stored",
    )
    assert {a["kind"] for a in alerts_of(noc, guard)} == kinds
    shifts(admin)  # the roster emptied: the site's guards are watched as always again
