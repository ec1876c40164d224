"""Device health with literal timestamps: battery and signal hysteresis, offline, online.

Thresholds are vigil's defaults: battery low below 20 %, recovered at 30 %; signal weak
below -105 dBm (recovered at -99) or below 15 % (recovered at 25); trackers are offline
after 300 s of silence.
"""

from __future__ import annotations

from actors.rules.health import (
    HealthParams,
    HealthState,
    Who,
    on_heard,
    on_status,
    on_telemetry,
    on_tick,
)
from core.alerts import Alert
from core.settings import Settings

S = Settings()
PARAMS = HealthParams(
    low_battery_pct=S.low_battery_pct,
    battery_ok_pct=S.battery_ok_pct,
    weak_signal_dbm=S.weak_signal_dbm,
    weak_signal_pct=S.weak_signal_pct,
    offline_after_s=S.offline_timeout("tracker"),
)
WHO = Who("dev-123", 1, "site-mg-road")
T0 = 1_761_991_200_000_000  # 2025-11-01T10:00:00Z
SECOND = 1_000_000


def battery_run(levels: list[float]) -> tuple[HealthState, list[list[str]]]:
    """Feed battery levels one second apart; the alert kinds raised by each."""
    state = HealthState()
    raised = []
    for i, level in enumerate(levels):
        state, alerts = on_telemetry(state, WHO, T0 + i * SECOND, level, None, PARAMS)
        raised.append([a.kind for a in alerts])
    return state, raised


def signal_run(levels: list[float]) -> list[list[str]]:
    state = HealthState()
    raised = []
    for i, level in enumerate(levels):
        state, alerts = on_telemetry(state, WHO, T0 + i * SECOND, None, level, PARAMS)
        raised.append([a.kind for a in alerts])
    return raised


# -- battery ----------------------------------------------------------------------------


def test_low_battery_alerts_once_and_needs_to_recover_above_the_ok_level() -> None:
    state, raised = battery_run([50, 19, 15, 25, 29.9, 35, 25, 19])
    assert raised == [[], ["low_battery"], [], [], [], [], [], ["low_battery"]]
    assert state.battery_low is True


def test_battery_just_at_the_low_threshold_is_not_low() -> None:
    _, raised = battery_run([20, 19.99])
    assert raised == [[], ["low_battery"]]


def test_low_battery_alert_names_the_device_and_level() -> None:
    _, (alert,) = on_telemetry(HealthState(), WHO, T0, 12.4, None, PARAMS)
    assert (alert.kind, alert.severity) == ("low_battery", "medium")
    assert (alert.entity_id, alert.client_id, alert.site_id) == ("dev-123", 1, "site-mg-road")
    assert (alert.ts, alert.detail) == (T0, "battery 12%")


def test_telemetry_without_battery_or_signal_keeps_the_flags() -> None:
    low = HealthState(battery_low=True, signal_weak=True, online=True, last_seen=T0)
    after, alerts = on_telemetry(low, WHO, T0 + SECOND, None, None, PARAMS)
    assert (after, alerts) == (low, [])


# -- signal -----------------------------------------------------------------------------


def test_weak_signal_in_dbm_alerts_once_with_a_6_db_recovery_margin() -> None:
    raised = signal_run([-80, -110, -104, -100, -98, -106])
    assert raised == [[], ["weak_signal"], [], [], [], ["weak_signal"]]


def test_weak_signal_in_percent_alerts_once_with_a_10_point_recovery_margin() -> None:
    raised = signal_run([60, 10, 16, 24, 26, 14])
    assert raised == [[], ["weak_signal"], [], [], [], ["weak_signal"]]


def test_weak_signal_alert_is_low_severity_and_names_the_level() -> None:
    _, (alert,) = on_telemetry(HealthState(), WHO, T0, None, -112.5, PARAMS)
    assert (alert.kind, alert.severity, alert.detail) == ("weak_signal", "low", "signal -112.5")


def test_low_battery_and_weak_signal_in_one_message_raise_both() -> None:
    _, alerts = on_telemetry(HealthState(), WHO, T0, 5, -120, PARAMS)
    assert [a.kind for a in alerts] == ["low_battery", "weak_signal"]
    assert len({a.alert_id for a in alerts}) == 2


# -- offline and online -----------------------------------------------------------------


def test_silent_device_goes_offline_once_on_tick_stamped_at_the_deadline() -> None:
    state, alerts = on_heard(HealthState(), WHO, T0)
    assert (state.online, state.last_seen, alerts) == (True, T0, [])
    deadline = T0 + 300 * SECOND
    state, alerts = on_tick(state, WHO, deadline, PARAMS)
    assert alerts == []
    state, (offline,) = on_tick(state, WHO, deadline + 1, PARAMS)
    assert (offline.kind, offline.severity, offline.ts) == ("device_offline", "medium", deadline)
    assert offline.detail == "silent for 300 s"
    assert state.online is False
    state, alerts = on_tick(state, WHO, deadline + 60 * SECOND, PARAMS)
    assert alerts == []


def test_a_device_heard_again_after_going_offline_is_back_online() -> None:
    state, _ = on_heard(HealthState(), WHO, T0)
    state, _ = on_tick(state, WHO, T0 + 301 * SECOND, PARAMS)
    state, (online,) = on_heard(state, WHO, T0 + 400 * SECOND)
    assert (online.kind, online.severity, online.ts) == ("device_online", "info", T0 + 400 * SECOND)
    assert (state.online, state.last_seen) == (True, T0 + 400 * SECOND)
    _, alerts = on_heard(state, WHO, T0 + 401 * SECOND)
    assert alerts == []


def test_messages_keep_a_device_online() -> None:
    state, _ = on_heard(HealthState(), WHO, T0)
    for minute in range(1, 30):
        state, _ = on_heard(state, WHO, T0 + minute * 60 * SECOND)
        state, alerts = on_tick(state, WHO, T0 + minute * 60 * SECOND + 30 * SECOND, PARAMS)
        assert alerts == []


def test_a_device_never_heard_from_is_not_reported_offline_by_the_timer() -> None:
    state, alerts = on_tick(HealthState(), WHO, T0 + 10_000 * SECOND, PARAMS)
    assert (state, alerts) == (HealthState(), [])


def test_an_older_message_does_not_move_last_seen_back() -> None:
    state, _ = on_heard(HealthState(), WHO, T0 + 100 * SECOND)
    state, _ = on_heard(state, WHO, T0)
    assert state.last_seen == T0 + 100 * SECOND


def test_repeated_ticks_after_a_restart_raise_the_same_offline_alert_id() -> None:
    state, _ = on_heard(HealthState(), WHO, T0)
    _, (first,) = on_tick(state, WHO, T0 + 301 * SECOND, PARAMS)
    _, (later,) = on_tick(state, WHO, T0 + 999 * SECOND, PARAMS)
    assert first.alert_id == later.alert_id


def test_status_offline_alerts_once_and_online_brings_it_back() -> None:
    state, _ = on_heard(HealthState(), WHO, T0)
    state, (offline,) = on_status(state, WHO, T0 + SECOND, online=False)
    assert (offline.kind, offline.ts, offline.detail) == (
        "device_offline",
        T0 + SECOND,
        "reported offline",
    )
    state, alerts = on_status(state, WHO, T0 + 2 * SECOND, online=False)
    assert alerts == []
    state, (online,) = on_status(state, WHO, T0 + 3 * SECOND, online=True)
    assert online.kind == "device_online"
    assert state.online is True


def test_status_online_for_a_new_device_raises_nothing() -> None:
    state, alerts = on_status(HealthState(), WHO, T0, online=True)
    assert (state.online, state.last_seen, alerts) == (True, T0, [])


def test_reported_offline_device_is_not_reported_again_by_the_timer() -> None:
    state, _ = on_heard(HealthState(), WHO, T0)
    state, _ = on_status(state, WHO, T0 + SECOND, online=False)
    _, alerts = on_tick(state, WHO, T0 + 1000 * SECOND, PARAMS)
    assert alerts == []


# -- determinism ------------------------------------------------------------------------


def test_same_input_gives_the_same_alert_ids() -> None:
    def once() -> list[Alert]:
        state, raised = HealthState(), []
        for step in (
            lambda s: on_heard(s, WHO, T0),
            lambda s: on_telemetry(s, WHO, T0 + SECOND, 10, -120, PARAMS),
            lambda s: on_tick(s, WHO, T0 + 400 * SECOND, PARAMS),
            lambda s: on_status(s, WHO, T0 + 500 * SECOND, True),
        ):
            state, alerts = step(state)
            raised.extend(alerts)
        return raised

    first, again = once(), once()
    assert [a.kind for a in first] == ["low_battery", "weak_signal", "device_offline",
                                       "device_online"]  # fmt: skip
    assert [a.alert_id for a in first] == [a.alert_id for a in again]
    assert len({a.alert_id for a in first}) == 4
