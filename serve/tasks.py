"""Background asyncio tasks that never die silently: `core.loops.Threads` for an event loop.

The live feed's loops (serve/feed.py) and the gateway's server (serve/gateway.py) run
as tasks on an actor's or a replica's event loop. A task that ends (it returned, or
an exception escaped it) would leave the process answering `get_stats` and `/healthz`
while no client gets anything: so an ended task ends the process (`core.loops.die`),
and Ray (or Serve, for a replica) starts it again. Each task beats a heartbeat;
`report()` has the same shape as `Threads.report()`, for the actor's stats.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from core.loops import STUCK_AFTER_S, die

log = logging.getLogger("vigil.tasks")


class Tasks:
    """The background tasks of one actor or replica, each with a heartbeat."""

    def __init__(self, owner: str, on_death: Callable[[str], Any] = die) -> None:
        self.owner = owner
        self.on_death = on_death  # tests pass a recorder; processes keep `die`
        self._beats: dict[str, float] = {}
        self._dead: dict[str, str] = {}  # task -> why it ended
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._stopping = False

    def start(self, name: str, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run `coroutine` as the task `name` on the running loop; it is meant to run
        forever, so its end, whatever the cause, is the owner's end."""
        self._beats[name] = time.monotonic()
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks[name] = task
        task.add_done_callback(lambda done: self._ended(name, done))
        return task

    def beat(self, name: str) -> None:
        self._beats[name] = time.monotonic()

    def stop(self) -> None:
        """Cancel every task on purpose (the owner is closing): that is no death."""
        self._stopping = True
        for task in self._tasks.values():
            task.cancel()

    def report(self) -> dict[str, dict[str, Any]]:
        """Per task: alive, seconds since its last heartbeat."""
        now = time.monotonic()
        return {
            name: {
                "alive": name not in self._dead and not self._tasks[name].done(),
                "beat_age_s": round(now - beaten, 3),
            }
            for name, beaten in self._beats.items()
        }

    def problems(self, stuck_after_s: float = STUCK_AFTER_S) -> list[str]:
        """What is wrong with the tasks, one phrase each; empty when all is well."""
        found = []
        for name, info in self.report().items():
            if not info["alive"]:
                found.append(f"task {name} dead ({self._dead.get(name, 'ended')})")
            elif info["beat_age_s"] > stuck_after_s:
                found.append(f"task {name} stuck for {info['beat_age_s']:.0f} s")
        return found

    def _ended(self, name: str, task: asyncio.Task[Any]) -> None:
        # Nothing of vigil cancels these tasks but `stop` and a closing event loop (the
        # process is ending anyway, or a test's `asyncio.run` is done): neither is a death.
        if self._stopping or task.cancelled():
            self._dead[name] = "cancelled"
            return
        if (exc := task.exception()) is not None:
            why = f"{type(exc).__name__}: {exc}"
            log.error("task %s of %s died", name, self.owner, exc_info=exc)
        else:
            why = "returned"
        self._dead[name] = why
        self.on_death(f"task {name} of {self.owner} ended ({why})")
