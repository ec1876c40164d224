"""What vigil exports to Prometheus, declared in one table, and the text served at /metrics.

Every actor counts in plain Python and answers `get_stats()`; `gather` asks every
actor the builder starts (core/names.every) (an actor that does not answer is reported with
`vigil_actor_up 0`), and `render` turns the answers into Prometheus text with
prometheus_client. Each series carries the actor's name; dashboards sum over it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import ray
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from core import names
from core.settings import Settings


@dataclass(frozen=True, slots=True)
class Export:
    actor: str  # actor name prefix: vigil-ingest, vigil-shard, ...
    stat: str  # key in the actor's get_stats()
    name: str  # Prometheus name (counters without the _total suffix)
    kind: str  # counter, gauge or histogram
    doc: str
    label: str = ""  # for a stat that is a {label value: number} dict


EXPORTS = (
    Export(
        "vigil-router",
        "raised",
        "vigil_alerts_raised",
        "counter",
        "Alerts raised (first of their dedup key)",
    ),
    Export(
        "vigil-router",
        "repeats",
        "vigil_alert_repeats",
        "counter",
        "Repeats folded into an open alert's count",
    ),
    Export(
        "vigil-router",
        "escalations",
        "vigil_alert_escalations",
        "counter",
        "Escalations to a further tier",
    ),
    Export("vigil-router", "open", "vigil_alerts_open", "gauge", "Alerts not yet acknowledged"),
    Export(
        "vigil-router",
        "open_critical",
        "vigil_alerts_unacknowledged_critical",
        "gauge",
        "Critical alerts not yet acknowledged (SLO)",
    ),
    Export(
        "vigil-router",
        "open_by_severity",
        "vigil_alerts_open_by_severity",
        "gauge",
        "Alerts not yet acknowledged, by severity",
        "severity",
    ),
    Export(
        "vigil-notifier",
        "attempts",
        "vigil_notification_attempts",
        "counter",
        "Notification attempts, by channel/outcome",
        "channel_outcome",
    ),
    Export(
        "vigil-notifier",
        "queued",
        "vigil_notifications_queued",
        "counter",
        "Notifications handed to channel queues",
    ),
    Export(
        "vigil-notifier",
        "queue_full",
        "vigil_notification_queue_full",
        "counter",
        "Notifications refused because a channel queue was full",
    ),
    Export(
        "vigil-notifier",
        "retries_pending",
        "vigil_notification_retries_pending",
        "gauge",
        "Notifications waiting for their next attempt",
    ),
    Export(
        "vigil-notifier",
        "attempt_latency",
        "vigil_notification_attempt_seconds",
        "histogram",
        "One delivery attempt through apprise",
    ),
    Export(
        "vigil-shard",
        "guards_offline",
        "vigil_guards_offline",
        "gauge",
        "Guards whose tracker is offline",
    ),
    Export(
        "vigil-shard",
        "critical_latency",
        "vigil_panic_to_noc_seconds",
        "histogram",
        "Critical event (panic, SOS, man down, smoke) to the router and the NOC",
    ),
    Export(
        "vigil-ingest", "received", "vigil_ingest_received", "counter", "MQTT messages received"
    ),
    Export(
        "vigil-ingest",
        "messages",
        "vigil_ingest_messages",
        "counter",
        "Messages by the lake table they became rows of",
        "table",
    ),
    Export(
        "vigil-ingest",
        "dead_letters",
        "vigil_dead_letters",
        "counter",
        "Messages dead-lettered, by reason",
        "reason",
    ),
    Export(
        "vigil-ingest",
        "critical",
        "vigil_ingest_critical",
        "counter",
        "Messages sent on the critical lane",
    ),
    Export(
        "vigil-ingest",
        "acked",
        "vigil_ingest_acked",
        "counter",
        "Messages acknowledged to the broker (durable and applied)",
    ),
    Export(
        "vigil-ingest",
        "batch_failures",
        "vigil_ingest_batch_failures",
        "counter",
        "Batches that failed and were resent",
    ),
    Export(
        "vigil-ingest",
        "buffered",
        "vigil_ingest_buffered_messages",
        "gauge",
        "Messages waiting for the next batch",
    ),
    Export(
        "vigil-ingest",
        "inflight_batches",
        "vigil_ingest_inflight_batches",
        "gauge",
        "Batches sent and not yet acknowledged",
    ),
    Export(
        "vigil-ingest",
        "oldest_unacked_s",
        "vigil_ingest_ack_lag_seconds",
        "gauge",
        "Age of the oldest message received and not yet acknowledged",
    ),
    Export(
        "vigil-ingest",
        "connected",
        "vigil_ingest_connected",
        "gauge",
        "1 when the ingest actor is connected to the broker",
    ),
    Export(
        "vigil-ingest",
        "batch_size",
        "vigil_ingest_batch_size",
        "histogram",
        "Messages per bulk batch",
    ),
    Export(
        "vigil-ingest",
        "ack_latency",
        "vigil_ingest_ack_latency_seconds",
        "histogram",
        "Receipt to acknowledgement, oldest message of each batch",
    ),
    Export(
        "vigil-shard",
        "messages",
        "vigil_shard_messages",
        "counter",
        "Messages applied by the shard's logical actors",
    ),
    Export("vigil-shard", "alerts", "vigil_shard_alerts", "counter", "Alerts raised by rules"),
    Export(
        "vigil-shard",
        "entities_by_kind",
        "vigil_shard_entities",
        "gauge",
        "Logical actors hosted, by kind",
        "kind",
    ),
    Export(
        "vigil-shard",
        "devices_offline",
        "vigil_devices_offline",
        "gauge",
        "Devices currently offline",
    ),
    Export(
        "vigil-shard",
        "rule_evaluations",
        "vigil_rule_evaluations",
        "counter",
        "Pipeline steps run, by step",
        "rule",
    ),
    Export(
        "vigil-shard",
        "rule_failures",
        "vigil_rule_failures",
        "counter",
        "Pipeline steps that raised, by step",
        "rule",
    ),
    Export("vigil-writer", "rows", "vigil_writer_rows", "counter", "Rows made durable in the log"),
    Export("vigil-writer", "bytes", "vigil_writer_bytes", "counter", "Bytes appended to the log"),
    Export(
        "vigil-writer",
        "rolled_rows",
        "vigil_writer_rolled_rows",
        "counter",
        "Rows rolled from the log into Parquet",
    ),
    Export(
        "vigil-writer",
        "compactions",
        "vigil_writer_compactions",
        "counter",
        "Compactions of Parquet partitions",
    ),
    Export(
        "vigil-writer", "log_rows", "vigil_writer_log_rows", "gauge", "Rows in the open log segment"
    ),
    Export(
        "vigil-writer",
        "append_latency",
        "vigil_log_append_seconds",
        "histogram",
        "Encode, write and fsync of one append",
    ),
    Export(
        "vigil-writer",
        "roll_latency",
        "vigil_parquet_roll_seconds",
        "histogram",
        "Rolling one log segment into Parquet",
    ),
)


async def gather(settings: Settings, timeout: float = 2.0) -> dict[str, dict[str, Any] | None]:
    """get_stats() of every vigil actor (core/names.every); None for one that failed."""
    namespace = settings.namespace
    every = names.every(
        settings.shards, settings.ingest_actors, bool(settings.ws_port), bool(settings.osmand_port)
    )

    async def ask(name: str) -> dict[str, Any] | None:
        try:
            actor = await asyncio.to_thread(ray.get_actor, name, namespace=namespace)
            return await asyncio.wait_for(actor.get_stats.remote(), timeout)
        except Exception:  # dead, restarting or too slow: reported as down
            return None

    answers = await asyncio.gather(*(ask(n) for n in every))
    return dict(zip(every, answers, strict=True))


def _families(stats: dict[str, dict[str, Any] | None]) -> list[Metric]:
    up = GaugeMetricFamily("vigil_actor_up", "1 when the actor answered", labels=["actor"])
    for actor, answer in stats.items():
        up.add_metric([actor], 1.0 if answer is not None else 0.0)
    families: list[Metric] = [up]
    for export in EXPORTS:
        labels = ["actor", export.label] if export.label else ["actor"]
        family: Any
        if export.kind == "counter":
            family = CounterMetricFamily(export.name, export.doc, labels=labels)
        elif export.kind == "gauge":
            family = GaugeMetricFamily(export.name, export.doc, labels=labels)
        else:
            family = HistogramMetricFamily(export.name, export.doc, labels=labels)
        for actor, answer in stats.items():
            if answer is None or not actor.startswith(export.actor) or export.stat not in answer:
                continue
            value = answer[export.stat]
            if export.kind == "histogram":
                buckets = [(_le(le), count) for le, count in value["buckets"]]
                family.add_metric([actor], buckets, value["sum"])
            elif export.label:
                for key, number in sorted(value.items()):
                    family.add_metric([actor, str(key)], float(number))
            else:
                family.add_metric([actor], float(value))
        families.append(family)
    return families


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))


def render(stats: dict[str, dict[str, Any] | None]) -> bytes:
    """Prometheus text exposition of the gathered stats."""

    class Snapshot:
        def collect(self) -> list[Metric]:
            return _families(stats)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Snapshot())  # type: ignore[arg-type]
    return generate_latest(registry)
