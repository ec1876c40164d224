"""The router's memory: planning on a draft, committing, folding events read back."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from actors.rules.alertbook import AlertBook
from core.alerts import AlertKind, AlertStatus, EventType, make_alert, make_event

T0 = 1_790_000_000_000_000
S = 1_000_000


def clock(start: int = T0, step: int = 1000):
    ticks = itertools.count(start, step)
    return lambda: next(ticks)


def panic(ts: int, guard: str = "guard-1"):
    return make_alert(
        AlertKind.PANIC, entity_id=guard, client_id=1, site_id="site-a", ts=ts, scope="dev-1"
    )


def test_ten_identical_panics_plan_one_alert_and_nine_repeats() -> None:
    book = AlertBook()
    draft, fresh, events = book.plan_raise(
        [panic(T0 + n) for n in range(10)], clock(), 300 * S, 600 * S
    )
    assert len(fresh) == 1
    assert [e.type for e in events] == ["raised"] + ["repeated"] * 9
    assert [e.count for e in events[1:]] == list(range(2, 11))
    assert book.states == {}  # nothing changes before the commit
    book.commit(draft)
    assert book.states[fresh[0].alert_id].count == 10


def test_an_alert_seen_before_raises_nothing() -> None:
    book = AlertBook()
    alerts = [panic(T0), panic(T0 + 1)]
    draft, _, _ = book.plan_raise(alerts, clock(), 300 * S, 600 * S)
    book.commit(draft)
    _, fresh, events = book.plan_raise(alerts, clock(T0 + S), 300 * S, 600 * S)
    assert (fresh, events) == ([], [])


def test_an_abandoned_draft_leaves_the_book_as_it_was() -> None:
    book = AlertBook()
    book.plan_raise([panic(T0)], clock(), 300 * S, 600 * S)  # the write failed: no commit
    draft, fresh, _ = book.plan_raise([panic(T0)], clock(), 300 * S, 600 * S)
    assert len(fresh) == 1
    book.commit(draft)
    assert len(book.states) == 1


def test_alerts_of_one_site_join_the_open_incident_until_all_are_resolved() -> None:
    book = AlertBook()
    draft, first, events = book.plan_raise([panic(T0)], clock(), 300 * S, 600 * S)
    book.commit(draft)
    draft, second, more = book.plan_raise(
        [panic(T0, guard="guard-2")], clock(T0 + S), 300 * S, 600 * S
    )
    book.commit(draft)
    assert more[0].incident_id == events[0].incident_id
    for alert in (*first, *second):
        book.commit(_step(book, alert.alert_id, EventType.RESOLVED, T0 + 2 * S))
    draft, _, last = book.plan_raise(
        [panic(T0, guard="guard-3")], clock(T0 + 3 * S), 300 * S, 600 * S
    )
    assert last[0].incident_id != events[0].incident_id


def _step(book: AlertBook, alert_id: str, step: EventType, at: int) -> AlertBook:
    draft = book.draft()
    draft.record(make_event(step, alert_id, 1, at, who="op-1"))
    return draft


def test_folding_the_same_events_again_rebuilds_the_same_state() -> None:
    live = AlertBook()
    alerts = [panic(T0), panic(T0 + 1), panic(T0, guard="guard-2")]
    draft, fresh, events = live.plan_raise(alerts, clock(), 300 * S, 600 * S)
    live.commit(draft)
    ack = make_event(EventType.ACKNOWLEDGED, fresh[0].alert_id, 1, T0 + S, who="op-1")
    draft = live.draft()
    draft.record(ack)
    live.commit(draft)

    rebuilt = AlertBook()
    by_id = {a.alert_id: a for a in fresh}
    for event in [*events, ack, *events]:  # the log tail and a file may repeat rows
        rebuilt.record(event, by_id.get(event.alert_id))
    assert dict(rebuilt.states) == dict(live.states)
    assert dict(rebuilt.incidents) == dict(live.incidents)
    assert rebuilt.states[fresh[0].alert_id].status == AlertStatus.ACKNOWLEDGED
    assert rebuilt.escalating == {fresh[1].alert_id}


def test_only_open_critical_alerts_are_watched_for_escalation() -> None:
    book = AlertBook()
    draft, fresh, _ = book.plan_raise([panic(T0)], clock(), 300 * S, 600 * S)
    book.commit(draft)
    assert book.escalating == {fresh[0].alert_id}
    book.commit(_step(book, fresh[0].alert_id, EventType.ACKNOWLEDGED, T0 + S))
    assert book.escalating == set()


def crossing(kind: AlertKind, ts: int, zone: str = "zone-a"):
    return make_alert(
        kind, entity_id="guard-1", client_id=1, site_id="site-a", ts=ts, scope=zone, detail=zone
    )


@given(st.lists(st.sampled_from(["out", "in"]), min_size=1, max_size=12), st.booleans())
def test_a_guard_back_in_the_zone_ends_its_exit_and_the_next_exit_is_a_new_alert(
    moves: list[str], by_hand: bool
) -> None:
    book, ticks = AlertBook(), clock()
    exits: list[str] = []  # every exit alert raised, in order
    for n, move in enumerate(moves):  # all within the dedup window: one minute apart
        kind = AlertKind.GEOFENCE_EXIT if move == "out" else AlertKind.GEOFENCE_ENTER
        draft, fresh, _ = book.plan_raise(
            [crossing(kind, T0 + n * 60 * S)], ticks, 300 * S, 600 * S, lambda _: by_hand
        )
        book.commit(draft)
        exits += [a.alert_id for a in fresh if a.kind == AlertKind.GEOFENCE_EXIT]
    states = list(book.states.values())
    entered = [s for s in states if s.alert.kind == AlertKind.GEOFENCE_ENTER]
    assert all(s.status == AlertStatus.RESOLVED and s.resolved.who == "vigil" for s in entered)
    open_exits = [s for s in states if s.alert.kind == "geofence_exit" and s.status == "open"]
    assert len(open_exits) <= 1
    if by_hand:  # nothing resolves an exit but a person: one alert, its repeats counted
        assert len(exits) == (1 if "out" in moves else 0)
        return
    # Each run of exits not ended by an enter is one alert; an enter ends it, with the reason.
    runs = "".join("o" if m == "out" else "i" for m in moves).split("i")
    assert len(exits) == sum(1 for run in runs if run)
    for alert_id in exits[:-1]:
        resolved = book.states[alert_id].resolved
        assert resolved is not None and resolved.note.startswith("ended: geofence_enter")
    last_move_in = moves[-1] == "in"
    assert bool(open_exits) == (bool(exits) and not last_move_in)


def test_a_device_heard_again_ends_its_offline_alert_of_that_device_only() -> None:
    def health(kind: AlertKind, device: str, ts: int):
        return make_alert(kind, entity_id=device, client_id=1, site_id=None, ts=ts)

    book, ticks = AlertBook(), clock()
    draft, _, _ = book.plan_raise(
        [health(AlertKind.DEVICE_OFFLINE, d, T0) for d in ("dev-1", "dev-2")],
        ticks,
        300 * S,
        600 * S,
    )
    book.commit(draft)
    draft, _, events = book.plan_raise(
        [health(AlertKind.DEVICE_ONLINE, "dev-1", T0 + S)], ticks, 300 * S, 600 * S
    )
    book.commit(draft)
    assert [e.type for e in events] == ["raised", "resolved", "resolved"]
    status = {(s.alert.kind, s.alert.entity_id): s.status for s in book.states.values()}
    assert status == {
        ("device_offline", "dev-1"): "resolved",
        ("device_offline", "dev-2"): "open",
        ("device_online", "dev-1"): "resolved",
    }
    # Replayed from the lake, the same events make the same book.
    again = AlertBook()
    for state in book.states.values():
        for event in state.events:
            again.record(event, state.alert)
    assert {a: s.status for a, s in again.states.items()} == {
        a: s.status for a, s in book.states.items()
    }


def test_an_ending_alert_older_than_the_open_one_resolves_nothing_but_itself() -> None:
    def health(kind: AlertKind, ts: int):
        return make_alert(kind, entity_id="dev-1", client_id=1, site_id=None, ts=ts)

    book, ticks = AlertBook(), clock()
    draft, _, _ = book.plan_raise([health(AlertKind.DEVICE_OFFLINE, T0)], ticks, 300 * S, 600 * S)
    book.commit(draft)
    late = health(AlertKind.DEVICE_ONLINE, T0 - S)  # a message older than "offline" came late
    draft, _, events = book.plan_raise([late], ticks, 300 * S, 600 * S)
    book.commit(draft)
    assert [(e.type, e.alert_id) for e in events] == [
        ("raised", late.alert_id),
        ("resolved", late.alert_id),
    ]
    status = {s.alert.kind: s.status for s in book.states.values()}
    assert status == {"device_offline": "open", "device_online": "resolved"}
