"""Device health: low battery and weak signal (with hysteresis), offline and back online."""

from __future__ import annotations

from dataclasses import dataclass, replace

from core.alerts import Alert, AlertKind, make_alert


@dataclass(frozen=True, slots=True)
class HealthParams:
    low_battery_pct: float
    battery_ok_pct: float
    weak_signal_dbm: float
    weak_signal_pct: float
    offline_after_s: float


@dataclass(frozen=True, slots=True)
class HealthState:
    battery_low: bool = False
    signal_weak: bool = False
    online: bool | None = None  # None until the device is first heard from
    last_seen: int = 0  # microseconds


@dataclass(frozen=True, slots=True)
class Who:
    """Whom a device alert is about: the device, its tenant and site."""

    device_id: str
    client_id: int
    site_id: str | None


def _alert(kind: AlertKind, who: Who, ts: int, detail: str) -> Alert:
    return make_alert(
        kind,
        entity_id=who.device_id,
        client_id=who.client_id,
        site_id=who.site_id,
        ts=ts,
        detail=detail,
        device_id=who.device_id,
    )


def signal_weak(signal: float, params: HealthParams, was_weak: bool) -> bool:
    """dBm when <= 0, percent otherwise; recovering needs a margin, so a level near
    the threshold does not flap."""
    if signal <= 0:
        threshold = params.weak_signal_dbm + (6.0 if was_weak else 0.0)
    else:
        threshold = params.weak_signal_pct + (10.0 if was_weak else 0.0)
    return signal < threshold


def on_telemetry(
    state: HealthState,
    who: Who,
    ts: int,
    battery: float | None,
    signal: float | None,
    params: HealthParams,
) -> tuple[HealthState, list[Alert]]:
    alerts: list[Alert] = []
    battery_low, signal_weak_now = state.battery_low, state.signal_weak
    if battery is not None:
        limit = params.battery_ok_pct if state.battery_low else params.low_battery_pct
        battery_low = battery < limit
        if battery_low and not state.battery_low:
            alerts.append(_alert(AlertKind.LOW_BATTERY, who, ts, f"battery {battery:.0f}%"))
    if signal is not None:
        signal_weak_now = signal_weak(signal, params, state.signal_weak)
        if signal_weak_now and not state.signal_weak:
            alerts.append(_alert(AlertKind.WEAK_SIGNAL, who, ts, f"signal {signal:g}"))
    return replace(state, battery_low=battery_low, signal_weak=signal_weak_now), alerts


def on_heard(state: HealthState, who: Who, ts: int) -> tuple[HealthState, list[Alert]]:
    """Any message from the device: it is alive; back online if it was offline."""
    alerts = []
    if state.online is False:
        alerts.append(_alert(AlertKind.DEVICE_ONLINE, who, ts, "heard from again"))
    return replace(state, online=True, last_seen=max(state.last_seen, ts)), alerts


def on_status(
    state: HealthState, who: Who, ts: int, online: bool
) -> tuple[HealthState, list[Alert]]:
    """The device's own status message (or its broker last will)."""
    if online:
        return on_heard(state, who, ts)
    if state.online is False:
        return state, []
    offline = _alert(AlertKind.DEVICE_OFFLINE, who, ts, "reported offline")
    return replace(state, online=False), [offline]


def on_tick(
    state: HealthState, who: Who, now: int, params: HealthParams
) -> tuple[HealthState, list[Alert]]:
    """Timer: a device silent for longer than its class allows is offline."""
    deadline = state.last_seen + int(params.offline_after_s * 1e6)
    if state.online and now > deadline:
        # Stamped at the deadline, not at `now`: a tick repeated after a restart
        # raises the same alert id.
        detail = f"silent for {params.offline_after_s:.0f} s"
        return replace(state, online=False), [
            _alert(AlertKind.DEVICE_OFFLINE, who, deadline, detail)
        ]
    return state, []
