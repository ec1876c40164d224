"""The lone-worker watchdog: an on-duty guard still or silent for too long.

A guard who has not moved more than `moved_m` from where they last moved to for
`still_after_s`, or has missed a check-in due every `checkin_every_s` (a `checkin` press,
core/records.DeviceEvent), raises `lone_worker` (high); not cleared `escalate_after_s`
later, `lone_worker_unanswered` (critical). Moving or checking in clears both
(`lone_worker_clear`, which resolves them: core/alerts.ENDS). Times are vigil's clock
(when a message was received), so a device with a wrong clock cannot hide a guard, and
alerts are stamped with the moment they fell due, so a tick repeated after a restart
raises the same alert ids.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from core.alerts import Alert, AlertKind, make_alert
from core.fleet import Guard, LoneWorker
from core.geo import distance_m


@dataclass(frozen=True, slots=True)
class LoneState:
    anchor: tuple[float, float] | None = None  # where the guard last moved to
    since: int = 0  # µs: when they last moved or checked in (or the shift began)
    checked_in: int = 0  # µs: the last check-in (or the shift's start)
    raised: int = 0  # µs: when lone_worker fell due, while it is not cleared; else 0
    escalated: bool = False


def started(at: int, anchor: tuple[float, float] | None) -> LoneState:
    """A shift begins: the clocks start at its start."""
    return LoneState(anchor=anchor, since=at, checked_in=at)


def on_fix(
    state: LoneState, guard: Guard, site_id: str, lat: float, lon: float, at: int, p: LoneWorker
) -> tuple[LoneState, list[Alert]]:
    """A fix received at `at`: movement beyond `moved_m` restarts the clock and clears."""
    if state.anchor is None:  # the first fix says where the guard is, not that they moved
        return replace(state, anchor=(lat, lon)), []
    moved = distance_m(state.anchor, (lat, lon))
    if moved <= p.moved_m:
        return state, []
    state = replace(state, anchor=(lat, lon), since=max(state.since, at))
    return _clear(state, guard, site_id, at, f"moved {moved:.0f} m")


def on_checkin(
    state: LoneState, guard: Guard, site_id: str, at: int
) -> tuple[LoneState, list[Alert]]:
    """A check-in: the guard says they are fine; both clocks restart."""
    state = replace(state, since=max(state.since, at), checked_in=max(state.checked_in, at))
    return _clear(state, guard, site_id, at, "checked in")


def on_tick(
    state: LoneState, guard: Guard, site_id: str, now: int, p: LoneWorker
) -> tuple[LoneState, list[Alert]]:
    if state.raised:
        due = state.raised + int(p.escalate_after_s * 1e6)
        if state.escalated or now < due:
            return state, []
        detail = f"lone_worker not cleared in {p.escalate_after_s / 60:g} min"
        kind = AlertKind.LONE_WORKER_UNANSWERED
        return replace(state, escalated=True), [_alert(kind, guard, site_id, due, state, detail)]
    due = state.since + int(p.still_after_s * 1e6)
    detail = f"not moved more than {p.moved_m:g} m in {p.still_after_s / 60:g} min"
    if p.checkin_every_s is not None:
        checkin_due = state.checked_in + int(p.checkin_every_s * 1e6)
        if checkin_due < due:
            due, detail = (
                checkin_due,
                f"missed the check-in due every {p.checkin_every_s / 60:g} min",
            )
    if now < due:
        return state, []
    alert = _alert(AlertKind.LONE_WORKER, guard, site_id, due, state, detail)
    return replace(state, raised=due), [alert]


def _clear(
    state: LoneState, guard: Guard, site_id: str, at: int, why: str
) -> tuple[LoneState, list[Alert]]:
    if not state.raised:
        return state, []
    clear = _alert(AlertKind.LONE_WORKER_CLEAR, guard, site_id, at, state, why)
    return replace(state, raised=0, escalated=False), [clear]


def _alert(
    kind: AlertKind, guard: Guard, site_id: str, ts: int, state: LoneState, detail: str
) -> Alert:
    lat, lon = state.anchor or (None, None)
    return make_alert(
        kind,
        entity_id=guard.id,
        client_id=guard.client_id,
        site_id=site_id,
        ts=ts,
        lat=lat,
        lon=lon,
        detail=detail,
    )
