"""An alert's life: open -> acknowledged -> resolved, as a fold over its events.

The router decides with `check` whether an operator's step is allowed, records it
as an `AlertEvent`, and folds it into the state with `apply`; rebuilding after a
restart folds the same events read back from the lake, so both paths agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from core.alerts import Alert, AlertEvent, AlertStatus, EventType, LifecycleError

_ORDER = {AlertStatus.OPEN: 0, AlertStatus.ACKNOWLEDGED: 1, AlertStatus.RESOLVED: 2}


@dataclass(frozen=True, slots=True)
class Step:
    """Who took a lifecycle step, when (µs), and their note."""

    who: str
    at: int
    note: str = ""


@dataclass(frozen=True, slots=True)
class AlertState:
    alert: Alert
    raised_at: int  # µs, vigil's clock: escalation delays count from here
    incident_id: str = ""
    status: AlertStatus = AlertStatus.OPEN
    count: int = 1
    last_seen: int = 0  # µs, vigil's clock: when the latest occurrence arrived
    tier: int = 1  # the highest escalation tier notified
    assignee: str = ""
    acknowledged: Step | None = None
    resolved: Step | None = None
    #: cmd_id -> the device's reply status ("" while none came).
    commands: tuple[tuple[str, str], ...] = ()
    events: tuple[AlertEvent, ...] = field(default=())

    @property
    def alert_id(self) -> str:
        return self.alert.alert_id

    def as_dict(self) -> dict[str, object]:
        """The state as plain data (what the API and the Hub serve)."""
        alert = {f: getattr(self.alert, f) for f in self.alert.__struct_fields__}
        return alert | {
            "status": str(self.status),
            "count": self.count,
            "last_seen": self.last_seen,
            "incident_id": self.incident_id,
            "tier": self.tier,
            "assignee": self.assignee,
            "acknowledged_by": self.acknowledged.who if self.acknowledged else None,
            "acknowledged_at": self.acknowledged.at if self.acknowledged else None,
            "resolved_by": self.resolved.who if self.resolved else None,
            "resolved_at": self.resolved.at if self.resolved else None,
            "commands": [{"cmd_id": c, "reply": r or None} for c, r in self.commands],
            "timeline": [
                {"type": e.type, "ts": e.ts, "who": e.who, "note": e.note, "ref": e.ref}
                for e in self.events
            ],
        }


def start(alert: Alert, raised: AlertEvent) -> AlertState:
    return AlertState(
        alert=alert,
        raised_at=raised.ts,
        incident_id=raised.incident_id,
        last_seen=raised.ts,
        events=(raised,),
    )


def absorbs(state: AlertState, alert: Alert, now: int, window_us: int) -> bool:
    """True when `alert`, arriving at `now`, repeats `state`: same key, unresolved, and
    within the window of the latest occurrence (so a steady repeat stays one alert)."""
    return (
        state.alert.dedup_key == alert.dedup_key
        and state.status != AlertStatus.RESOLVED
        and now - state.last_seen <= window_us
    )


def check(state: AlertState, step: EventType, who: str) -> bool:
    """Whether `who` may take `step` now: True to record it, False when it is already
    taken by the same person (a retried call), LifecycleError otherwise."""
    if step == EventType.ASSIGNED:
        if state.status == AlertStatus.RESOLVED:
            raise LifecycleError(f"alert {state.alert_id} is resolved; it cannot be assigned")
        return True
    target = AlertStatus(str(step))
    done = state.acknowledged if target == AlertStatus.ACKNOWLEDGED else state.resolved
    if done is not None and done.who == who:
        return False
    if _ORDER[state.status] >= _ORDER[target]:
        raise LifecycleError(
            f"alert {state.alert_id} is already {state.status}; it cannot be {target}"
        )
    return True


def apply(state: AlertState, event: AlertEvent) -> AlertState:
    """The state after `event` (events of another alert are a programming error)."""
    if event.alert_id != state.alert_id:
        raise ValueError(f"event {event.event_id} belongs to alert {event.alert_id}")
    if any(e.event_id == event.event_id for e in state.events):
        return state  # a replayed event (rebuild overlapping live state) changes nothing
    events = (*state.events, event)
    step = Step(event.who, event.ts, event.note)
    match event.type:
        case EventType.REPEATED:
            if state.events[-1].type == EventType.REPEATED:
                # A stuck button repeats forever: the timeline keeps the latest repeat of a
                # run (its count says how many); the lake keeps every one.
                events = (*state.events[:-1], event) if event.count > state.count else state.events
            count, seen = max(state.count, event.count), max(state.last_seen, event.ts)
            return replace(state, count=count, last_seen=seen, events=events)
        case EventType.ASSIGNED:
            return replace(state, assignee=event.ref, events=events)
        case EventType.ACKNOWLEDGED:
            return replace(state, status=AlertStatus.ACKNOWLEDGED, acknowledged=step, events=events)
        case EventType.RESOLVED:
            return replace(state, status=AlertStatus.RESOLVED, resolved=step, events=events)
        case EventType.ESCALATED:
            return replace(state, tier=max(state.tier, event.tier), events=events)
        case EventType.COMMAND_SENT:
            return replace(state, commands=(*state.commands, (event.ref, "")), events=events)
        case EventType.COMMAND_ACKED:
            commands = tuple((c, event.note if c == event.ref else r) for c, r in state.commands)
            return replace(state, commands=commands, events=events)
    return replace(state, events=events)
