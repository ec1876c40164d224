"""Writes vigil's Grafana dashboards (JSON, one file each) from the panel lists below.

    .venv/bin/python dashboards/build.py

Every expression here is evaluated against a real Prometheus scraping vigil by
tests/ops/test_prometheus.py; each must return at least one series.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def q(quantile: float, metric: str, window: str = "5m") -> str:
    return f"histogram_quantile({quantile}, sum by (le) (rate({metric}_bucket[{window}])))"


DASHBOARDS: dict[str, tuple[str, list[tuple[str, str, str]]]] = {
    # file: (title, [(panel title, unit, PromQL), ...])
    "ingest": (
        "vigil / ingest and MQTT",
        [
            (
                "Messages in by table",
                "ops",
                "sum by (table) (rate(vigil_ingest_messages_total[1m]))",
            ),
            ("Acknowledged to the broker", "ops", "sum(rate(vigil_ingest_acked_total[1m]))"),
            (
                "Dead letters by reason",
                "ops",
                "sum by (reason) (rate(vigil_dead_letters_total[5m]))",
            ),
            ("Acknowledgement lag (oldest unacked)", "s", "max(vigil_ingest_ack_lag_seconds)"),
            ("Receipt to ack p99", "s", q(0.99, "vigil_ingest_ack_latency_seconds")),
            ("Batch size p50", "none", q(0.5, "vigil_ingest_batch_size")),
            (
                "Buffered and in flight",
                "none",
                "sum(vigil_ingest_buffered_messages) + sum(vigil_ingest_inflight_batches)",
            ),
            ("Critical lane", "ops", "sum(rate(vigil_ingest_critical_total[5m]))"),
            ("Ingest actors connected", "none", "sum(vigil_ingest_connected)"),
        ],
    ),
    "actors-storage": (
        "vigil / actors and storage",
        [
            ("Actors up", "none", "vigil_actor_up"),
            ("Logical actors per shard", "none", "sum by (actor, kind) (vigil_shard_entities)"),
            (
                "Rule evaluations by rule",
                "ops",
                "sum by (rule) (rate(vigil_rule_evaluations_total[1m]))",
            ),
            ("Rule failures by rule", "ops", "sum by (rule) (rate(vigil_rule_failures_total[5m]))"),
            ("Rows made durable", "rowsps", "sum(rate(vigil_writer_rows_total[1m]))"),
            ("Bytes to the log", "Bps", "sum(rate(vigil_writer_bytes_total[1m]))"),
            ("Rows rolled into Parquet", "rowsps", "sum(rate(vigil_writer_rolled_rows_total[1m]))"),
            ("Log append (fsync) p99", "s", q(0.99, "vigil_log_append_seconds")),
            ("Parquet roll p99", "s", q(0.99, "vigil_parquet_roll_seconds")),
            ("Rows in the open log segment", "none", "sum(vigil_writer_log_rows)"),
            ("Compactions", "none", "sum(increase(vigil_writer_compactions_total[15m]))"),
        ],
    ),
    "noc": (
        "vigil / NOC, alerts and notifications",
        [
            ("Alerts raised by rules", "ops", "sum(rate(vigil_shard_alerts_total[5m]))"),
            ("Panic to NOC p50", "s", q(0.5, "vigil_panic_to_noc_seconds", "15m")),
            ("Panic to NOC p99", "s", q(0.99, "vigil_panic_to_noc_seconds", "15m")),
            ("Devices offline", "none", "sum(vigil_devices_offline)"),
            (
                "Alerts open by severity",
                "none",
                "sum by (severity) (vigil_alerts_open_by_severity)",
            ),
            ("Alerts raised after dedup", "ops", "sum(rate(vigil_alerts_raised_total[5m]))"),
            (
                "Notification attempts by channel and outcome",
                "ops",
                "sum by (channel_outcome) (rate(vigil_notification_attempts_total[5m]))",
            ),
            ("Notification attempt p99", "s", q(0.99, "vigil_notification_attempt_seconds", "15m")),
            (
                "Notifications waiting for a retry",
                "none",
                "sum(vigil_notification_retries_pending)",
            ),
        ],
    ),
    "overview": (
        "vigil / overview and SLOs",
        [
            ("Panic to NOC p99 (SLO: 1 s)", "s", q(0.99, "vigil_panic_to_noc_seconds", "15m")),
            ("Guards offline", "none", "sum(vigil_guards_offline)"),
            ("Unacknowledged critical alerts", "none", "sum(vigil_alerts_unacknowledged_critical)"),
            ("Ingest ack lag", "s", "max(vigil_ingest_ack_lag_seconds)"),
            ("Messages in", "ops", "sum(rate(vigil_ingest_received_total[1m]))"),
            ("Dead letters", "ops", "sum(rate(vigil_dead_letters_total[5m]))"),
            ("Actors down", "none", "count(vigil_actor_up == 0) or vector(0)"),
        ],
    ),
}


def dashboard(uid: str, title: str, panels: list[tuple[str, str, str]]) -> dict[str, object]:
    return {
        "uid": f"vigil-{uid}",
        "title": title,
        "tags": ["vigil"],
        "timezone": "utc",
        "schemaVersion": 39,
        "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "type": "datasource",
                    "query": "prometheus",
                    "label": "Prometheus",
                }
            ]
        },
        "panels": [
            {
                "id": n + 1,
                "type": "timeseries",
                "title": name,
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "gridPos": {"h": 8, "w": 12, "x": 12 * (n % 2), "y": 8 * (n // 2)},
                "targets": [{"refId": "A", "expr": expr, "legendFormat": "__auto"}],
            }
            for n, (name, unit, expr) in enumerate(panels)
        ],
    }


def main() -> None:
    for uid, (title, panels) in DASHBOARDS.items():
        path = HERE / f"{uid}.json"
        path.write_text(json.dumps(dashboard(uid, title, panels), indent=2) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
