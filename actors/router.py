"""AlertRouter: every alert a rule raises passes here; operators act on alerts here.

`raise_alerts` (the shards' critical path) decides what each alert is (new, joining
an incident, or a repeat that only counts) and makes the alerts and their events
durable (`device_alerts`, `alert_events`) before returning. New alerts go to the Hub
while the write is under way (the NOC sees a panic one log append sooner; a raise
retried after a failed write republishes the same alert_id, which the Hub drops);
their lifecycle events follow once durable, and tier 1 goes to the Notifier without
waiting for it (the Notifier makes it durable in its outbox and drops a repeat). A
background thread escalates unacknowledged critical alerts along the tenant's chain.

Operators' steps (acknowledge, resolve, assign) are events too. Acknowledging a
device's own alarm sends it an `alarm_ack` command; its reply is recorded on the
alert. On start the router folds the alert events read back from the lake, so its
state survives a restart, and hands over again every tier it raised or escalated that
the outbox does not hold (it died between making the alert durable and handing it over).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import ray

from actors.edge import alertlog
from actors.edge.downlink import CommandReply, Downlink
from actors.notify.channels import carries
from actors.notify.message import Dispatch
from actors.registry import current_fleet
from actors.rules import escalation, lifecycle
from actors.rules.alertbook import AlertBook
from actors.rules.lifecycle import AlertState
from core import heap, names
from core.alerts import (
    Alert,
    AlertEvent,
    AlertStatus,
    EventType,
    LifecycleError,
    Severity,
    alarm_device,
    make_event,
)
from core.fleet import Fleet, FleetIndex
from core.loops import Threads
from core.schemas import to_batch
from core.settings import Settings

log = logging.getLogger("vigil.router")


@ray.remote(concurrency_groups={"alerts": 1, "api": 1})  # type: ignore[call-overload]
class AlertRouter:
    def __init__(self, settings: Settings) -> None:
        self.writer = names.peer(names.WRITER, settings)
        self.hub = names.peer(names.HUB, settings)
        self.notifier = names.peer(names.NOTIFIER, settings)
        self.settings = settings
        self.index = FleetIndex(current_fleet(settings))
        self.dedup_us = int(settings.dedup_window_s * 1e6)
        self.incident_us = int(settings.incident_window_s * 1e6)
        self.counts: Counter[str] = Counter({"handed_over_again": 0})
        self.book = AlertBook()
        self._lock = threading.RLock()  # lanes, the escalation thread and paho's share the book
        self._last_us = 0
        self._rebuild()
        self.threads = Threads("vigil-router")
        self.downlink = Downlink(settings, self._on_reply, "vigil-router", self.threads)
        self.downlink.phones = self.index.phone_of
        self.threads.forever("escalation", self._escalate, pause=settings.escalation_tick_s)
        heap.settle()

    # -- from the shards -----------------------------------------------------------------

    @ray.method(concurrency_group="alerts")
    def raise_alerts(self, alerts: list[Alert]) -> int:
        with self._lock:
            draft, fresh, events = self.book.plan_raise(
                alerts, self._clock, self.dedup_us, self.incident_us, self._by_hand
            )
            self.counts["duplicates"] += len(alerts) - len(events)
            if not events:
                return 0
            frames = []
            if fresh:  # on the NOC while it is made durable (the Hub drops a republish)
                self.hub.publish_alerts.remote(fresh)
                frames.append(("device_alerts", to_batch("device_alerts", fresh)))
            frames.append(("alert_events", to_batch("alert_events", events)))
            ray.get(self.writer.append_critical.remote(frames))
            # Committed only once durable: a failed write is retried by the caller, not skipped.
            self.book.commit(draft)
            states = {e.alert_id: self.book.states[e.alert_id] for e in events}
        self._publish(events, states)
        for alert in fresh:
            self._notify(states[alert.alert_id], tier=1)
            self._locate_the_site(alert)
        self.counts["raised"] += len(fresh)
        self.counts["repeats"] += len(events) - len(fresh)
        return len(fresh)

    # -- fleet edits (the API's, through actors/registry.py) ------------------------------

    @ray.method(concurrency_group="api")
    def update_fleet(self, fleet: Fleet) -> int:
        """Take a changed fleet: escalation chains, rosters and contacts of the next tier
        handed over come from it (open alerts included). Returns how many tenants it has."""
        index = FleetIndex(fleet)
        with self._lock:  # the escalation thread reads the index under it
            self.index = index
            self.downlink.phones = index.phone_of
        return len(index.tenants)

    # -- the operators' API --------------------------------------------------------------

    @ray.method(concurrency_group="api")
    def acknowledge(self, alert_id: str, who: str, note: str = "") -> dict[str, Any]:
        """Acknowledge an open alert (stops its escalation; tells the alarming device)."""
        return self._step(alert_id, EventType.ACKNOWLEDGED, who, note)

    @ray.method(concurrency_group="api")
    def resolve(self, alert_id: str, who: str, note: str = "") -> dict[str, Any]:
        return self._step(alert_id, EventType.RESOLVED, who, note)

    @ray.method(concurrency_group="api")
    def assign(self, alert_id: str, operator: str, who: str = "", note: str = "") -> dict[str, Any]:
        return self._step(alert_id, EventType.ASSIGNED, who or operator, note, ref=operator)

    @ray.method(concurrency_group="api")
    def alert(self, alert_id: str) -> dict[str, Any] | None:
        with self._lock:
            state = self.book.states.get(alert_id)
            return state.as_dict() if state is not None else None

    @ray.method(concurrency_group="api")
    def alerts(
        self, client_id: int | None = None, status: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Alerts and their current state, most recently raised first."""
        with self._lock:
            return [s.as_dict() for s in self.book.alerts(client_id, status, limit)]

    @ray.method(concurrency_group="api")
    def incidents(self, client_id: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Incidents with their alerts and merged timeline, most recent first."""
        with self._lock:
            found = sorted(self.book.incidents.values(), key=lambda i: i.last_at, reverse=True)
            mine = [i for i in found if client_id in (None, i.client_id)][:limit]
            return [self.book.incident_view(i) for i in mine]

    @ray.method(concurrency_group="api")
    def dead_notifications(
        self, client_id: int | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Notifications that exhausted their attempts, newest first (from the lake)."""
        return alertlog.dead_notifications(self.settings, client_id, limit)

    @ray.method(concurrency_group="api")
    def get_stats(self) -> dict[str, Any]:
        with self._lock:
            open_alerts = [s for s in self.book.states.values() if s.status == AlertStatus.OPEN]
            return {
                **self.counts,
                "alerts": len(self.book.states),
                "open": len(open_alerts),
                "open_critical": sum(s.alert.severity == Severity.CRITICAL for s in open_alerts),
                "open_by_severity": dict(Counter(s.alert.severity for s in open_alerts)),
                "downlink": self.downlink.report(),
                "connected": self.downlink.connected,  # `vigil health` reads it
                "escalation_failures": self.threads.failures["escalation"],
                "threads": self.threads.report(),
                "problems": self.threads.problems(),
            }

    # -- steps ---------------------------------------------------------------------------

    def _step(
        self, alert_id: str, step: EventType, who: str, note: str, ref: str = ""
    ) -> dict[str, Any]:
        if not who:
            raise LifecycleError(f"{step}: say who takes the step")
        command: tuple[str, str] | None = None
        with self._lock:
            state = self.book.states.get(alert_id)
            if state is None:
                raise LifecycleError(f"unknown alert {alert_id!r}")
            if not lifecycle.check(state, step, who):
                return state.as_dict()
            now = self._clock()
            fields: dict[str, str | int] = {"who": who, "note": note, "ref": ref}
            events = [make_event(step, alert_id, state.alert.client_id, now, **fields)]
            device = alarm_device(state.alert)
            if step == EventType.ACKNOWLEDGED and device is not None:
                cmd_id = hashlib.blake2b(f"{alert_id}|alarm_ack".encode(), digest_size=8)
                command = (device, cmd_id.hexdigest())
                events.append(
                    make_event(
                        EventType.COMMAND_SENT,
                        alert_id,
                        state.alert.client_id,
                        self._clock(),
                        who="vigil",
                        note=device,
                        ref=command[1],
                    )
                )
            state = self._record(events)
        if command is not None:  # sent once durable, so the device's reply finds its alert
            args = {"alert_id": alert_id, "kind": state.alert.kind, "by": who, "note": note}
            self.downlink.send(command[0], command[1], "alarm_ack", args)
        self._publish(events, {alert_id: state})
        return state.as_dict()

    def _record(self, events: list[AlertEvent]) -> AlertState:
        """Make `events` (of one alert) durable, then fold them in; the caller holds the lock."""
        draft = self.book.draft()
        for event in events:
            draft.record(event)
        ray.get(
            self.writer.append_critical.remote([("alert_events", to_batch("alert_events", events))])
        )
        self.book.commit(draft)
        return self.book.states[events[0].alert_id]

    def _on_reply(self, reply: CommandReply) -> None:
        """A device answered a command (on paho's thread)."""
        with self._lock:
            alert_id = self.book.commands.get(reply.cmd_id)
            state = self.book.states.get(alert_id or "")
            if state is None or alarm_device(state.alert) != reply.device_id:
                self.counts["unknown_replies"] += 1
                return
            if dict(state.commands).get(reply.cmd_id):
                return  # a repeated reply (QoS 1 redelivery)
            event = make_event(
                EventType.COMMAND_ACKED,
                state.alert_id,
                state.alert.client_id,
                self._clock(),
                who=reply.device_id,
                note=reply.status,
                ref=reply.cmd_id,
            )
            state = self._record([event])
        self._publish([event], {state.alert_id: state})

    def _locate_the_site(self, alert: Alert) -> None:
        """On a critical alert at a site, every OwnTracks phone of that site's guards but
        the alarming one is asked where it is now (OwnTracks' `reportLocation`): the NOC
        sees who is nearest without waiting for the phones' next report."""
        if alert.severity != Severity.CRITICAL or not alert.site_id:
            return
        index, alarming = self.index, alarm_device(alert)
        for guard in index.fleet.guards:
            device = guard.device_id
            if guard.site_id == alert.site_id and device in index.phone_of and device != alarming:
                cmd_id = hashlib.blake2b(f"{alert.alert_id}|{device}".encode(), digest_size=8)
                args = {"alert_id": alert.alert_id}
                if self.downlink.send(device, cmd_id.hexdigest(), "report_location", args):
                    self.counts["locate_requests"] += 1

    # -- escalation ----------------------------------------------------------------------

    def _escalate(self) -> None:
        """One round (on the escalation thread; a failed round is logged, counted and
        tried again after a back-off)."""
        with self._lock:
            now = self._clock()
            events = []
            for alert_id in list(self.book.escalating):
                state = self.book.states[alert_id]
                tenant = self.index.tenants.get(state.alert.client_id)
                tier = escalation.due_tier(state, tenant, now) if tenant else None
                if tier is not None:
                    events.append(
                        make_event(
                            EventType.ESCALATED,
                            alert_id,
                            state.alert.client_id,
                            now,
                            who="vigil",
                            tier=tier,
                        )
                    )
            if not events:
                return
            states = {e.alert_id: self._record([e]) for e in events}
        self._publish(events, states)
        for event in events:
            self._notify(states[event.alert_id], tier=event.tier)
        self.counts["escalations"] += len(events)

    # -- plumbing ------------------------------------------------------------------------

    def _notify(self, state: AlertState, tier: int) -> bool:
        """Hand one tier to the notifier (fire and forget); False when no channel carries it."""
        alert, index = state.alert, self.index  # one fleet for the whole hand-over
        tenant = index.tenants.get(alert.client_id)
        if tenant is None or not carries(tenant, alert.severity, tier):
            return False
        site = index.sites.get(alert.site_id or "")
        people = escalation.tier_people(tier, site, tenant, datetime.now(UTC))
        dispatch = Dispatch(
            alert=alert,
            tier=tier,
            people=tuple(people),
            raised_at=state.raised_at,
            count=state.count,
            incident_id=state.incident_id,
        )
        self.notifier.dispatch.remote(dispatch)
        return True

    def _publish(self, events: list[AlertEvent], states: dict[str, AlertState]) -> None:
        """Every step is a Hub message, with the alert's state after it."""
        items = []
        for event in events:
            state = states[event.alert_id]
            items.append(
                {f: getattr(event, f) for f in event.__struct_fields__}
                | {
                    "entity_id": state.alert.entity_id,
                    "kind": state.alert.kind,
                    "status": str(state.status),
                    "alert_count": state.count,
                }
            )
        self.hub.publish_events.remote(items)

    def _by_hand(self, alert: Alert) -> bool:
        """Whether a person must resolve `alert` though its condition ended (the tenant's)."""
        tenant = self.index.tenants.get(alert.client_id)
        return tenant is not None and alert.kind in tenant.resolve_by_hand

    def _clock(self) -> int:
        """Microseconds since the epoch, strictly increasing (events replay in order)."""
        self._last_us = max(time.time_ns() // 1000, self._last_us + 1)
        return self._last_us

    def _rebuild(self) -> None:
        since = time.time_ns() // 1000 - int(self.settings.alert_memory_s * 1e6)
        alerts, events = alertlog.load(self.settings, since)
        for event in events:
            alert = alerts.get(event.alert_id)
            if event.type == EventType.RAISED and alert is None:
                continue  # its device_alerts row was lost with a crashed writer segment
            self.book.record(event, alert)
        self.book.commit(self.book.draft())  # applies the memory bound
        self._last_us = max((e.ts for e in events), default=0)
        self.counts["rebuilt_alerts"] = len(self.book.states)
        self.counts["rebuilt_events"] = len(events)
        self._hand_over_again(events)

    def _hand_over_again(self, events: list[AlertEvent]) -> None:
        """Notify every tier raised or escalated lately that the outbox does not hold."""
        since = time.time_ns() // 1000 - int(self.settings.notify_outbox_s * 1e6)
        for alert_id, tier in alertlog.not_handed_over(self.settings, events, since):
            state = self.book.states.get(alert_id)
            if state is not None and self._notify(state, tier):
                self.counts["handed_over_again"] += 1
