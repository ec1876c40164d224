"""Hub: the live view the Serve app reads, fed by shards (positions) and the router (alerts).

It keeps the latest position of every guard, a bounded feed of recent alerts and one
of their lifecycle events (acknowledged, repeated, escalated, ...), each item with a
sequence number so a reader can ask for what is new since its last look.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import ray

from core.alerts import Alert

FEED_SIZE = 1000


@ray.remote
class Hub:
    def __init__(self) -> None:
        self.positions: dict[str, dict[str, Any]] = {}
        self.feed: deque[dict[str, Any]] = deque(maxlen=FEED_SIZE)
        self.events: deque[dict[str, Any]] = deque(maxlen=FEED_SIZE)
        self.seq = 0

    def ping(self) -> int:
        return self.seq

    def update_positions(self, positions: list[dict[str, Any]]) -> int:
        for position in positions:
            current = self.positions.get(position["guard_id"])
            if current is None or current["ts"] <= position["ts"]:
                self.positions[position["guard_id"]] = position
        return len(positions)

    def publish_alerts(self, alerts: list[Alert]) -> int:
        for alert in alerts:
            self.seq += 1
            self.feed.append({"seq": self.seq, **_as_dict(alert)})
        return self.seq

    def publish_events(self, events: list[dict[str, Any]]) -> int:
        """Lifecycle events of alerts (each a dict with at least alert_id and client_id)."""
        for event in events:
            self.seq += 1
            self.events.append({"seq": self.seq, **event})
        return self.seq

    def snapshot(self, client_id: int | None = None, since: int = 0) -> dict[str, Any]:
        """Guards' positions and alerts newer than `since`, for one tenant or all."""

        def mine(item: dict[str, Any]) -> bool:
            return client_id is None or item["client_id"] == client_id

        return {
            "seq": self.seq,
            "guards": [p for p in self.positions.values() if mine(p)],
            "alerts": [a for a in self.feed if a["seq"] > since and mine(a)],
            "events": [e for e in self.events if e["seq"] > since and mine(e)],
        }


def _as_dict(alert: Alert) -> dict[str, Any]:
    return {f: getattr(alert, f) for f in alert.__struct_fields__}
