"""The router's memory: planning on a draft, committing, folding events read back."""

from __future__ import annotations

import itertools

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
