"""An alert's lifecycle as a fold over events: literal timestamps, no Ray, no disk."""

from __future__ import annotations

import pytest

from actors.rules import lifecycle
from actors.rules.lifecycle import AlertState
from core.alerts import AlertKind, AlertStatus, EventType, LifecycleError, make_alert, make_event

T0 = 1_790_000_000_000_000  # µs
S = 1_000_000


def panic(ts: int = T0, guard: str = "guard-1", device: str = "dev-1"):
    return make_alert(
        AlertKind.PANIC, entity_id=guard, client_id=1, site_id="site-a", ts=ts, scope=device
    )


def raised(at: int = T0) -> AlertState:
    alert = panic()
    event = make_event(EventType.RAISED, alert.alert_id, 1, at, ref=alert.alert_id)
    return lifecycle.start(alert, event)


def step(state: AlertState, kind: EventType, at: int, **fields: str | int) -> AlertState:
    return lifecycle.apply(state, make_event(kind, state.alert_id, 1, at, **fields))


def test_a_raised_alert_is_open_counted_once_and_notified_at_tier_one() -> None:
    state = raised()
    assert (state.status, state.count, state.tier, state.last_seen) == ("open", 1, 1, T0)


def test_open_acknowledged_resolved_keep_who_when_and_note() -> None:
    state = step(raised(), EventType.ACKNOWLEDGED, T0 + 5 * S, who="op-1", note="calling")
    state = step(state, EventType.RESOLVED, T0 + 60 * S, who="op-2", note="false alarm")
    assert state.status == AlertStatus.RESOLVED
    assert state.acknowledged == lifecycle.Step("op-1", T0 + 5 * S, "calling")
    assert state.resolved == lifecycle.Step("op-2", T0 + 60 * S, "false alarm")
    assert [e.type for e in state.events] == ["raised", "acknowledged", "resolved"]


def test_a_repeat_within_the_window_is_absorbed_and_slides_the_window() -> None:
    state = raised()
    window = 300 * S
    assert lifecycle.absorbs(state, panic(T0 + 1), T0 + 200 * S, window)
    state = step(state, EventType.REPEATED, T0 + 200 * S, count=2, ref="x")
    assert (state.count, state.last_seen) == (2, T0 + 200 * S)
    assert lifecycle.absorbs(state, panic(T0 + 2), T0 + 450 * S, window)  # 250 s after the last
    assert not lifecycle.absorbs(state, panic(T0 + 3), T0 + 501 * S, window)


def test_a_resolved_alert_absorbs_nothing_and_another_key_is_never_a_repeat() -> None:
    state = raised()
    assert not lifecycle.absorbs(state, panic(guard="guard-2"), T0 + S, 300 * S)
    resolved = step(state, EventType.RESOLVED, T0 + S, who="op-1")
    assert not lifecycle.absorbs(resolved, panic(T0 + 2), T0 + 2 * S, 300 * S)


def test_acknowledged_alerts_still_count_repeats() -> None:
    state = step(raised(), EventType.ACKNOWLEDGED, T0 + S, who="op-1")
    assert lifecycle.absorbs(state, panic(T0 + 5), T0 + 2 * S, 300 * S)


def test_backward_steps_are_refused_and_naming_the_state() -> None:
    resolved = step(raised(), EventType.RESOLVED, T0 + S, who="op-1")
    with pytest.raises(LifecycleError, match="already resolved; it cannot be acknowledged"):
        lifecycle.check(resolved, EventType.ACKNOWLEDGED, "op-2")
    with pytest.raises(LifecycleError, match="cannot be assigned"):
        lifecycle.check(resolved, EventType.ASSIGNED, "op-2")


def test_the_same_step_by_the_same_person_again_is_a_no_op_not_an_error() -> None:
    acked = step(raised(), EventType.ACKNOWLEDGED, T0 + S, who="op-1")
    assert lifecycle.check(acked, EventType.ACKNOWLEDGED, "op-1") is False
    with pytest.raises(LifecycleError, match="already acknowledged"):
        lifecycle.check(acked, EventType.ACKNOWLEDGED, "op-2")
    assert lifecycle.check(acked, EventType.RESOLVED, "op-2") is True


def test_resolving_an_open_alert_directly_is_allowed() -> None:
    assert lifecycle.check(raised(), EventType.RESOLVED, "op-1") is True


def test_assignment_escalation_and_commands_are_folded() -> None:
    state = step(raised(), EventType.ASSIGNED, T0 + S, who="sup-1", ref="op-7")
    state = step(state, EventType.ESCALATED, T0 + 2 * S, tier=2)
    state = step(state, EventType.COMMAND_SENT, T0 + 3 * S, ref="cmd-1")
    assert state.commands == (("cmd-1", ""),)
    state = step(state, EventType.COMMAND_ACKED, T0 + 4 * S, ref="cmd-1", note="ok")
    assert (state.assignee, state.tier, state.commands) == ("op-7", 2, (("cmd-1", "ok"),))


def test_replaying_an_event_changes_nothing() -> None:
    event = make_event(EventType.ACKNOWLEDGED, raised().alert_id, 1, T0 + S, who="op-1")
    once = lifecycle.apply(raised(), event)
    assert lifecycle.apply(once, event) == once


def test_as_dict_serves_state_and_timeline() -> None:
    state = step(raised(), EventType.ACKNOWLEDGED, T0 + S, who="op-1", note="ok")
    view = state.as_dict()
    assert (view["status"], view["acknowledged_by"], view["acknowledged_at"]) == (
        "acknowledged",
        "op-1",
        T0 + S,
    )
    assert [(t["type"], t["who"]) for t in view["timeline"]] == [
        ("raised", ""),
        ("acknowledged", "op-1"),
    ]


def test_a_run_of_repeats_keeps_one_timeline_entry_with_the_latest_count() -> None:
    state = raised()
    for n in range(2, 1001):
        state = step(state, EventType.REPEATED, T0 + n, count=n, ref=f"r{n}")
    assert state.count == 1000
    assert [(e.type, e.count) for e in state.events] == [("raised", 1), ("repeated", 1000)]
