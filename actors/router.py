"""AlertRouter: every alert a rule raises passes here on its way to the lake and the NOC.

An alert is written durably to `device_alerts` before `raise_alerts` returns, then
published to the Hub. Alert ids are derived from what triggered them, so the same
message applied twice (a redelivery, a retried call) raises nothing new.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import ray

from core.alerts import Alert
from core.schemas import to_batch

REMEMBERED = 100_000  # alert ids kept for de-duplication


@ray.remote
class AlertRouter:
    def __init__(self, writer: Any, hub: Any) -> None:
        self.writer = writer
        self.hub = hub
        self.recent: OrderedDict[str, Alert] = OrderedDict()
        self.counts = {"raised": 0, "duplicates": 0}

    def raise_alerts(self, alerts: list[Alert]) -> int:
        fresh = list({a.alert_id: a for a in alerts if a.alert_id not in self.recent}.values())
        self.counts["duplicates"] += len(alerts) - len(fresh)
        if not fresh:
            return 0
        batch = to_batch("device_alerts", fresh)
        ray.get(self.writer.append_critical.remote([("device_alerts", batch)]))
        # Remembered only once durable: a failed write is retried by the caller, not skipped.
        for alert in fresh:
            self.recent[alert.alert_id] = alert
        while len(self.recent) > REMEMBERED:
            self.recent.popitem(last=False)
        self.hub.publish_alerts.remote(fresh)
        self.counts["raised"] += len(fresh)
        return len(fresh)

    def alerts(self, client_id: int | None = None, limit: int = 100) -> list[Alert]:
        """Most recent alerts first."""
        found = [a for a in reversed(self.recent.values()) if client_id in (None, a.client_id)]
        return found[:limit]

    def get_stats(self) -> dict[str, int]:
        return dict(self.counts)
