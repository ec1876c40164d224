"""Shifts start, end and catch a no-show, on vigil's clock, with literal times."""

from __future__ import annotations

from actors.rules import shifts
from actors.rules.shifts import DutyState
from core import duty
from core.alerts import Alert
from tests.duty_fleet import END, MINUTE, START, duty_fleet

FLEET = duty_fleet()
GUARD, SITE = FLEET.guards["g-1"], FLEET.sites["site-night"]


def ticks(times: list[int], heard_at: int = 0) -> list[Alert]:
    state, raised = DutyState(), []
    for now in times:
        state, alerts = shifts.on_tick(
            state, GUARD, SITE, now, duty.current(FLEET, "g-1", now), heard_at
        )
        raised += alerts
    return raised


def kinds(alerts: list[Alert]) -> list[tuple[str, int]]:
    return [(a.kind, a.ts) for a in alerts]


def test_a_guard_not_heard_from_is_a_no_show_once_at_the_grace_then_the_shift_ends() -> None:
    every_minute = list(range(START - 2 * MINUTE, END + 2 * MINUTE, MINUTE))
    assert kinds(ticks(every_minute)) == [
        ("shift_started", START),
        ("shift_no_show", START + 10 * MINUTE),
        ("shift_ended", END),
    ]


def test_a_guard_heard_from_after_the_start_is_no_no_show() -> None:
    raised = ticks([START, START + 10 * MINUTE, START + 11 * MINUTE], heard_at=START + 1)
    assert kinds(raised) == [("shift_started", START)]
    assert raised[0].detail == "shift night, Wed 22:00-Thu 06:00"


def test_heard_from_only_before_the_start_is_a_no_show() -> None:
    raised = ticks([START, START + 10 * MINUTE], heard_at=START - MINUTE)
    assert [a.kind for a in raised] == ["shift_started", "shift_no_show"]


def test_a_shift_first_seen_after_its_grace_is_not_judged() -> None:
    """vigil started mid-shift: it was not watching at the deadline and does not guess."""
    assert kinds(ticks([START + 30 * MINUTE, START + 31 * MINUTE])) == [("shift_started", START)]


def test_ticks_repeated_raise_the_same_alert_ids() -> None:
    times = [START, START + 10 * MINUTE, END]
    assert [a.alert_id for a in ticks(times)] == [a.alert_id for a in ticks(times)]
