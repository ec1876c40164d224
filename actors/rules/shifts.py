"""Shifts: a guard's shift starting and ending, and a guard who does not show up.

Runs on vigil's clock at every shard tick (actors/rules/pipeline.timers). Each start and
end is an informational alert (so it lands in the lake's `alerts` and on the NOC feed;
the start stays open while the guard is on duty and the end resolves it); a guard not
heard from by `no_show_after_s` after the start raises `shift_no_show`. Alerts are
stamped with the shift's own times, so a tick repeated after a restart raises the same
alert ids (the router keeps one).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from core.alerts import Alert, AlertKind, make_alert
from core.duty import Window
from core.fleet import Guard, Shift, Site


@dataclass(frozen=True, slots=True)
class DutyState:
    window: Window | None = None  # the shift occurrence the guard is on, as last ticked
    #: When a no-show is to be judged (µs), 0 once judged or when the shift was first seen
    #: after it (vigil was not watching at the deadline: it does not guess).
    due: int = 0


def on_tick(
    state: DutyState,
    guard: Guard,
    site: Site,
    now: int,
    on: tuple[Shift, Window] | None,
    heard_at: int,
) -> tuple[DutyState, list[Alert]]:
    """`on` is the shift the guard is on at `now` (core/duty.current); `heard_at` is when
    vigil last received anything from the guard or their device."""
    alerts = []
    window = on[1] if on else None
    if state.window is not None and state.window != window:
        ended = state.window
        at = ended.end if now >= ended.end else now  # cut short: the roster changed
        alerts.append(_alert(AlertKind.SHIFT_ENDED, guard, ended, at, f"shift {ended.shift_id}"))
        state = DutyState()
    if on is not None and state.window != window:
        shift, started = on
        deadline = started.start + int(shift.no_show_after_s * 1e6)
        detail = f"shift {shift.id}, {_local(started.start, site)}-{_local(started.end, site)}"
        alerts.append(_alert(AlertKind.SHIFT_STARTED, guard, started, started.start, detail))
        state = DutyState(started, deadline if now <= deadline else 0)
    if state.window is not None and state.due and now >= state.due:
        if heard_at < state.window.start:
            silent = (state.due - state.window.start) / 60e6
            detail = f"shift {state.window.shift_id}: not heard from {silent:.0f} min in"
            alerts.append(_alert(AlertKind.SHIFT_NO_SHOW, guard, state.window, state.due, detail))
        state = replace(state, due=0)
    return state, alerts


def _alert(kind: AlertKind, guard: Guard, window: Window, ts: int, detail: str) -> Alert:
    return make_alert(
        kind,
        entity_id=guard.id,
        client_id=guard.client_id,
        site_id=window.site_id,
        ts=ts,
        scope=window.shift_id,
        detail=detail,
    )


def _local(us: int, site: Site) -> str:
    return datetime.fromtimestamp(us / 1e6, site.tz).strftime("%a %H:%M")
