"""Keep the garbage collector's full passes short in long-lived, latency-bound processes.

A full collection walks every object the collector tracks. In a Ray worker that is
hundreds of thousands of objects from ray, pyarrow and shapely, the fleet and the
rules' geometry, none of which ever become garbage; walking them stopped an actor for
100-250 ms at a time, long enough to hold a panic back (bench/ws_fanout.py). `settle`,
called once an actor is built, freezes what it holds: frozen objects are never walked
again, and what the actor allocates afterwards is collected as usual. No collection
first: at that point an actor holds a few dozen garbage objects (measured with gc
callbacks), not worth the 0.1-0.8 s a full pass over its heap costs at start-up.
"""

from __future__ import annotations

import gc


def settle() -> None:
    gc.freeze()
