"""The router's memory: every alert's state and every incident, as a fold of alert events.

`record` is the only way state changes, live and when rebuilding from the lake. The
router plans a step on a `draft` (copy-on-write views of the book), makes the events
durable, then `commit`s the draft: a failed write leaves the book untouched, so the
caller's retry is planned afresh.
"""

from __future__ import annotations

from collections import ChainMap, OrderedDict
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import replace
from typing import Any

from actors.rules import incidents, lifecycle
from actors.rules.escalation import ESCALATING
from actors.rules.incidents import Incident
from actors.rules.lifecycle import AlertState
from core.alerts import ENDS, Alert, AlertEvent, AlertStatus, EventType, make_event

VIGIL = "vigil"  # who takes the steps vigil takes itself
REMEMBERED = 100_000  # alerts kept in memory; the oldest resolved ones go first


class AlertBook:
    def __init__(self, base: AlertBook | None = None) -> None:
        def layer(name: str) -> MutableMapping[Any, Any]:
            return ChainMap({}, getattr(base, name)) if base is not None else {}

        self.states: MutableMapping[str, AlertState] = (
            layer("states") if base is not None else OrderedDict()
        )
        self.by_key: MutableMapping[str, str] = layer("by_key")  # dedup key -> latest alert
        #: triggering alert id -> the alert it raised or repeated (de-duplicates retries).
        self.seen: MutableMapping[str, str] = layer("seen") if base is not None else OrderedDict()
        self.incidents: MutableMapping[str, Incident] = layer("incidents")
        self.latest_incident: MutableMapping[tuple[int, str], str] = layer("latest_incident")
        self.commands: MutableMapping[str, str] = layer("commands")  # cmd_id -> alert
        self.escalating: set[str] = set(base.escalating) if base is not None else set()

    def draft(self) -> AlertBook:
        return AlertBook(self)

    def commit(self, draft: AlertBook) -> None:
        for name in ("states", "by_key", "seen", "incidents", "latest_incident", "commands"):
            layer = getattr(draft, name)
            getattr(self, name).update(layer.maps[0])
        self.escalating = draft.escalating
        self._forget()

    # -- the fold ------------------------------------------------------------------------

    def record(self, event: AlertEvent, alert: Alert | None = None) -> AlertState | None:
        """Fold one event in (a `raised` event needs its alert); returns the new state,
        None for an event of an alert the book does not hold (older than its memory)."""
        if event.type == EventType.RAISED:
            if alert is None:
                raise ValueError(f"raised event {event.event_id} needs its alert")
            if event.alert_id in self.states:  # the same row read twice (log tail and file)
                return self.states[event.alert_id]
            state = lifecycle.start(alert, event)
            self.by_key[alert.dedup_key] = alert.alert_id
            self._join_incident(alert, event)
        else:
            previous = self.states.get(event.alert_id)
            if previous is None:
                return None
            state = lifecycle.apply(previous, event)
        self.states[event.alert_id] = state
        self.seen[event.ref if event.type in _TRIGGERS else event.alert_id] = event.alert_id
        self.seen[event.alert_id] = event.alert_id
        if event.type == EventType.COMMAND_SENT:
            self.commands[event.ref] = event.alert_id
        if state.status == AlertStatus.OPEN and state.alert.severity in ESCALATING:
            self.escalating.add(event.alert_id)
        else:
            self.escalating.discard(event.alert_id)
        return state

    def _join_incident(self, alert: Alert, raised: AlertEvent) -> None:
        key = incidents.incident_key(alert)
        if not raised.incident_id or key is None:
            return
        found = self.incidents.get(raised.incident_id)
        if found is None:
            found = Incident(raised.incident_id, alert.client_id, key[1], raised.ts, raised.ts, ())
        found = replace(
            found,
            last_at=max(found.last_at, raised.ts),
            alert_ids=(*found.alert_ids, alert.alert_id),
        )
        self.incidents[raised.incident_id] = found
        self.latest_incident[key] = raised.incident_id

    # -- planning a raise ----------------------------------------------------------------

    def plan_raise(
        self,
        alerts: Iterable[Alert],
        clock: Callable[[], int],
        dedup_us: int,
        incident_us: int,
        by_hand: Callable[[Alert], bool] = lambda _: False,
    ) -> tuple[AlertBook, list[Alert], list[AlertEvent]]:
        """Decide, on a draft, what `alerts` become: new alerts (joining or opening an
        incident) or repeats of open ones; alerts already seen become nothing. An alert
        that ends a condition (core/alerts.ENDS) resolves the open alert of it, unless
        `by_hand` says a person must (the tenant's `resolve_by_hand`)."""
        draft = self.draft()
        fresh: list[Alert] = []
        events: list[AlertEvent] = []
        for alert in alerts:
            if alert.alert_id in draft.seen:
                continue
            now = clock()
            current = draft.states.get(draft.by_key.get(alert.dedup_key, ""))
            if current is not None and lifecycle.absorbs(current, alert, now, dedup_us):
                event = make_event(
                    EventType.REPEATED,
                    current.alert_id,
                    alert.client_id,
                    now,
                    ref=alert.alert_id,
                    count=current.count + 1,
                )
                draft.record(event)
            else:
                incident = incidents.assign(draft._open_incident(alert), alert, now, incident_us)
                event = make_event(
                    EventType.RAISED,
                    alert.alert_id,
                    alert.client_id,
                    now,
                    ref=alert.alert_id,
                    incident_id=incident.incident_id if incident else "",
                )
                draft.record(event, alert)
                fresh.append(alert)
            events.append(event)
            if alert.kind in ENDS:
                events += draft._end(alert, event.alert_id, clock, by_hand)
        return draft, fresh, events

    def _end(
        self, alert: Alert, recorded_as: str, clock: Callable[[], int], by_hand: Any
    ) -> list[AlertEvent]:
        """`alert` says a condition ended: the open alerts of it (same entity and scope) are
        resolved by vigil with the reason, and `alert` itself (`recorded_as`), which asks
        nothing of anyone, with it. A later occurrence is then a new alert of its own."""
        scope = alert.dedup_key[len(alert.kind) :]
        steps = []
        for kind in ENDS[alert.kind]:
            ended = self.states.get(self.by_key.get(kind + scope, ""))
            # Only what happened before it: a late "back online" older than the device's
            # own "offline" says nothing about whether it is online now.
            if (
                ended is not None
                and ended.status != AlertStatus.RESOLVED
                and ended.alert.ts <= alert.ts
                and not by_hand(ended.alert)
            ):
                steps.append((ended.alert_id, f"ended: {alert.kind} ({alert.detail})"))
        steps.append((recorded_as, "informational: nothing to act on"))
        events = []
        for alert_id, note in steps:
            if self.states[alert_id].status == AlertStatus.RESOLVED:
                continue
            event = make_event(
                EventType.RESOLVED,
                alert_id,
                alert.client_id,
                clock(),
                who=VIGIL,
                note=note,
                ref=alert.alert_id,
            )
            self.record(event)
            events.append(event)
        return events

    def _open_incident(self, alert: Alert) -> Incident | None:
        """The latest incident of the alert's key, if one of its alerts is not resolved."""
        key = incidents.incident_key(alert)
        found = self.incidents.get(self.latest_incident.get(key, "")) if key else None
        if found is None:
            return None
        members = [self.states.get(a) for a in found.alert_ids]
        active = any(s is not None and s.status != AlertStatus.RESOLVED for s in members)
        return found if active else None

    # -- reading -------------------------------------------------------------------------

    def alerts(
        self, client_id: int | None = None, status: str | None = None, limit: int = 100
    ) -> list[AlertState]:
        """Most recently raised first."""
        found = []
        for state in reversed(list(self.states.values())):
            if client_id not in (None, state.alert.client_id):
                continue
            if status not in (None, state.status):
                continue
            found.append(state)
            if len(found) >= limit:
                break
        return found

    def incident_view(self, incident: Incident) -> dict[str, Any]:
        members = [self.states[a] for a in incident.alert_ids if a in self.states]
        steps = sorted(((e, s) for s in members for e in s.events), key=lambda pair: pair[0].ts)
        timeline = [
            {"ts": e.ts, "alert_id": s.alert_id, "kind": s.alert.kind, "type": e.type}
            | {"who": e.who, "note": e.note}
            for e, s in steps
        ]
        statuses = [m.status for m in members]
        return {
            "incident_id": incident.incident_id,
            "client_id": incident.client_id,
            "key": incident.key,
            "opened_at": incident.opened_at,
            "last_at": incident.last_at,
            "status": (
                AlertStatus.RESOLVED
                if all(s == AlertStatus.RESOLVED for s in statuses)
                else AlertStatus.OPEN
            ),
            "alerts": [m.as_dict() | {"timeline": None} for m in members],
            "timeline": timeline,
        }

    def _forget(self) -> None:
        """Keep at most REMEMBERED alerts: the oldest resolved ones go first."""
        if not isinstance(self.states, OrderedDict) or not isinstance(self.seen, OrderedDict):
            return
        while len(self.seen) > 4 * REMEMBERED:
            self.seen.popitem(last=False)
        excess = len(self.states) - REMEMBERED
        if excess <= 0:
            return
        resolved = [a for a, s in self.states.items() if s.status == AlertStatus.RESOLVED]
        victims = resolved[:excess]
        if len(victims) < excess:
            victims += [a for a in self.states if a not in set(victims)][: excess - len(victims)]
        for alert_id in victims:
            state = self.states.pop(alert_id)
            if self.by_key.get(state.alert.dedup_key) == alert_id:
                del self.by_key[state.alert.dedup_key]
            self.escalating.discard(alert_id)
        for incident_id, incident in list(self.incidents.items()):
            if not any(a in self.states for a in incident.alert_ids):
                del self.incidents[incident_id]


#: Events whose `ref` is the id of the alert that triggered them (kept for de-duplication).
_TRIGGERS = frozenset({EventType.RAISED, EventType.REPEATED})
