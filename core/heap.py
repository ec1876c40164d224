"""Keep the garbage collector's full passes short in long-lived, latency-bound processes.

A full collection walks every object the collector tracks. In a Ray worker that is
hundreds of thousands of objects from ray, pyarrow and shapely, the fleet and the
rules' geometry, none of which ever become garbage; walking them stopped an actor for
100-250 ms at a time, long enough to hold a panic back (bench/ws_fanout.py). `settle`,
called once an actor is built, collects what is garbage now and freezes the rest:
frozen objects are never walked again, and what the actor allocates afterwards is
collected as usual.
"""

from __future__ import annotations

import gc


def settle() -> None:
    gc.collect()
    gc.freeze()
