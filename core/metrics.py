"""Histograms kept inside actors as plain bucket counts, and the names vigil exports.

Actors count in plain Python (an increment costs nothing on the hot path) and hand
their figures out through `get_stats()`; `serve.exporter` turns them into the
Prometheus text served at `/metrics`. The table of exported metrics lives there.
"""

from __future__ import annotations

import bisect
from typing import Any

#: Latency buckets (seconds) for everything from an fsync to panic-to-NOC.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Size buckets (messages per batch).
#: Seconds between a device's own timestamp and vigil's receipt (clock skew, delay).
SKEW_BUCKETS = (1.0, 5.0, 30.0, 60.0, 300.0, 3600.0, 86_400.0)
SIZE_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 5000)


class Histogram:
    """Cumulative-on-export bucket counts, like a Prometheus histogram."""

    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value
        self.count += 1

    def to_dict(self) -> dict[str, Any]:
        """`{"buckets": [(le, cumulative count), ...], "sum": s, "count": n}`."""
        cumulative, running = [], 0
        for bound, count in zip((*self.buckets, float("inf")), self.counts, strict=True):
            running += count
            cumulative.append((bound, running))
        return {"buckets": cumulative, "sum": self.sum, "count": self.count}
