"""Shifts through the shard's pipeline and timers (no Ray), with literal times: off duty
nothing is raised; on duty a still guard is a lone worker, and a checkpoint keeps it."""

from __future__ import annotations

from actors.rules.entities import Entities
from actors.rules.pipeline import PIPELINE, timers
from core.alerts import Alert
from core.records import DeviceEvent, DeviceTelemetry, GuardLocation, Record
from core.settings import Settings
from tests.duty_fleet import MINUTE, START, duty_fleet

SETTINGS = Settings()
OUTSIDE = (12.9800, 77.5946)  # a kilometre north of the yard
INSIDE = (12.9716, 77.5946)


def apply(world: Entities, record: Record) -> list[Alert]:
    return [alert for step in PIPELINE[type(record)] for alert in step(world, record)]


def fix(where: tuple[float, float], at: int, seq: int, guard: str = "g-1") -> GuardLocation:
    return GuardLocation(
        guard_id=guard, client_id=1, lat=where[0], lon=where[1], accuracy=5.0,
        ts=at, received_at=at, msg_key=f"{guard}#{seq}", seq=seq,
    )  # fmt: skip


def run(world: Entities, until: int, since: int, step: int = MINUTE) -> list[str]:
    """The kinds the timers raise from `since` to `until` (a silent device's offline aside)."""
    raised = [a.kind for now in range(since, until + 1, step) for a in timers(world, now)]
    return [kind for kind in raised if kind != "device_offline"]


def test_off_duty_an_exit_and_a_silent_device_raise_nothing_on_duty_they_do() -> None:
    world = Entities(duty_fleet(store_off_duty=True), SETTINGS)
    assert apply(world, fix(INSIDE, START - 30 * MINUTE, 1)) == []
    assert apply(world, fix(OUTSIDE, START - 20 * MINUTE, 2)) == []  # off duty: no exit
    assert run(world, START - MINUTE, START - 19 * MINUTE) == []  # nor offline, nor anything
    assert apply(world, fix(INSIDE, START + MINUTE, 3)) == []
    assert [a.kind for a in apply(world, fix(OUTSIDE, START + 2 * MINUTE, 4))] == ["geofence_exit"]


def test_a_guard_of_a_site_without_shifts_is_watched_as_before() -> None:
    world = Entities(duty_fleet(), SETTINGS)
    apply(world, fix(INSIDE, START - 30 * MINUTE, 1, "g-3"))
    assert [a.kind for a in apply(world, fix(OUTSIDE, START - 29 * MINUTE, 2, "g-3"))] == [
        "geofence_exit"
    ]


def test_a_still_guard_is_a_lone_worker_at_ten_minutes_and_a_check_in_clears_it() -> None:
    world = Entities(duty_fleet(), SETTINGS)
    assert run(world, START, START - MINUTE) == ["shift_started"]
    apply(world, fix(INSIDE, START + MINUTE, 1))
    assert run(world, START + 10 * MINUTE - 1, START + MINUTE, 30 * 1_000_000) == []
    assert run(world, START + 10 * MINUTE, START + 10 * MINUTE) == ["lone_worker"]
    checkin = DeviceEvent(
        device_id="d-1", client_id=1, type="checkin", ts=START + 11 * MINUTE,
        received_at=START + 11 * MINUTE, msg_key="d-1#1",
    )  # fmt: skip
    assert not checkin.critical
    raised = [a.kind for a in apply(world, checkin)]  # the device silent 10 min is back, too
    assert raised == ["device_online", "lone_worker_clear"]  # and no alarm


def test_a_checkpoint_taken_mid_shift_keeps_the_shift_and_the_watchdogs_clock() -> None:
    world = Entities(duty_fleet(), SETTINGS)
    run(world, START, START)
    apply(world, fix(INSIDE, START + MINUTE, 1))
    telemetry = DeviceTelemetry(
        device_id="d-1", client_id=1, battery=80, ts=START + 2 * MINUTE,
        received_at=START + 2 * MINUTE, msg_key="d-1#2",
    )  # fmt: skip
    apply(world, telemetry)
    saved = world.snapshot()
    again = Entities(duty_fleet(), SETTINGS)
    again.restore(saved)
    due = START + 10 * MINUTE
    expected = [a.alert_id for a in timers(world, due) if a.kind != "device_offline"]
    raised = [a for a in timers(again, due) if a.kind != "device_offline"]
    assert [a.kind for a in raised] == ["lone_worker"]  # no second shift_started, no no-show
    assert [a.alert_id for a in raised] == expected


def test_a_guard_who_never_reports_is_a_no_show_though_never_heard_from() -> None:
    world = Entities(duty_fleet(), SETTINGS)
    kinds = run(world, START + 10 * MINUTE, START)
    assert kinds == ["shift_started", "shift_no_show", "lone_worker"]
