"""A shard's memory across restarts: checkpoints and the low-water mark of its replay.

Every `checkpoint_s` a shard saves what its logical actors remember, the alerts it has
raised that the router has not yet accepted, and a low-water mark: the oldest receipt
time of any message it may still be sent. Each edge (an ingest slot) tells the shard its own
mark (the oldest message it has not acknowledged) with every call and at least once a
second, and everything a slot sends later was received at or after it. A restarted
shard loads its checkpoint and replays the lake from the mark, so its state is what
it would have been without the crash. docs/checkpoints.md tells the whole scheme.
"""

from __future__ import annotations

import logging
import pickle
import time
from dataclasses import dataclass
from typing import Any

from core import names
from core.alerts import Alert
from core.settings import Settings
from storage.checkpoints import Checkpoints

log = logging.getLogger("vigil.recovery")

VERSION = 2  # 2: a sensor remembers its last activation (actors/rules/sensors.py)
#: With no checkpoint at all, replay this far back (s): a shard that died before its
#: first checkpoint, a few seconds after it started.
NO_CHECKPOINT_REPLAY_S = 60.0


@dataclass(frozen=True, slots=True)
class Saved:
    version: int
    saved_at: int  # µs
    replay_from: int  # µs of receipt
    entities: dict[str, dict[str, tuple[Any, ...]]]
    unsent: list[Alert]


class Recovery:
    """The checkpoint of one shard and the marks it is computed from."""

    def __init__(self, name: str, settings: Settings) -> None:
        self.name = name
        self.store = Checkpoints(settings.lake)
        self.sources = names.edges(settings)
        self.marks: dict[str, int] = {}  # source -> its latest low-water mark (µs)
        self.carried = now_us() - int(NO_CHECKPOINT_REPLAY_S * 1e6)
        self.saves = 0

    def note(self, source: str, low_water: int) -> None:
        self.marks[source] = low_water

    def replay_from(self) -> int:
        """Every message this shard may yet apply was received at or after this."""
        marks = list(self.marks.values())
        if not self.sources <= self.marks.keys():  # a slot not heard since the start
            marks.append(self.carried)
        return min(marks, default=self.carried)

    def save(self, entities: dict[str, Any], unsent: list[Alert]) -> None:
        saved = Saved(VERSION, now_us(), self.replay_from(), entities, unsent)
        self.store.save(self.name, pickle.dumps(saved, protocol=pickle.HIGHEST_PROTOCOL))
        self.saves += 1

    def load(self) -> Saved | None:
        """The last checkpoint; None when there is none or it cannot be read (logged)."""
        data = self.store.load(self.name)
        if data is None:
            return None
        try:
            saved = pickle.loads(data)  # vigil's own file, beside its own lake
        except Exception:
            log.exception("checkpoint of %s unreadable: starting from the lake alone", self.name)
            return None
        if not isinstance(saved, Saved) or saved.version != VERSION:
            log.error("checkpoint of %s is of another version: ignored", self.name)
            return None
        self.carried = saved.replay_from
        return saved


def now_us() -> int:
    return time.time_ns() // 1000
