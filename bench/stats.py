"""Percentiles for the benchmarks' tables, one definition so that their p99s compare."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], q: int) -> float:
    """The `q`-th percentile (1-99), interpolated between ranks; nan without values."""
    if not values:
        return math.nan
    if len(values) == 1:
        return float(values[0])
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def summary(ms: Sequence[float]) -> dict[str, float]:
    """p50, p99 and max of latencies in milliseconds, as the tables print them."""
    return {
        "p50_ms": round(percentile(ms, 50), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "max_ms": round(max(ms, default=math.nan), 1),
    }
