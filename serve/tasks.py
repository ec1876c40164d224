"""Background asyncio tasks that never die silently: `core.loops.Threads` for an event loop.

The live feed's loops (serve/feed.py) and the gateway's server (actors/gateway.py) run
as tasks on an actor's or a replica's event loop. A task that ends (it returned, or
an exception escaped it) would leave the process answering `get_stats` and `/healthz`
while no client gets anything: so an ended task ends the process (`core.loops.die`),
and Ray (or Serve, for a replica) starts it again. Each task beats a heartbeat;
`report()` has the same shape as `Threads.report()`, for the actor's stats.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from core.loops import Heartbeats, die

log = logging.getLogger("vigil.tasks")


class Tasks(Heartbeats):
    """The background tasks of one actor or replica."""

    KIND = "task"

    def __init__(self, owner: str, on_death: Callable[[str], Any] = die) -> None:
        super().__init__(owner)
        self.on_death = on_death  # tests pass a recorder; processes keep `die`
        self._tasks: dict[str, asyncio.Task[Any]] = {}

    def start(self, name: str, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run `coroutine` as the task `name` on the running loop; it is meant to run
        forever, so its end, whatever the cause, is the owner's end."""
        self.beat(name)
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks[name] = task
        task.add_done_callback(lambda done: self._ended(name, done))
        return task

    def stop(self) -> None:
        """Cancel every task on purpose (the owner is closing): that is no death."""
        super().stop()
        for task in self._tasks.values():
            task.cancel()

    def _running(self, name: str) -> bool:
        return not self._tasks[name].done()

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
