"""Background work that never dies silently: guarded loops and a watchdog over threads.

Every background thread of every vigil actor is started through `Threads`. Each one
beats a heartbeat as it goes; `report()` gives their ages to the actor's stats (and so
to `vigil health` and `/metrics`). A loop body that raises is logged, counted and
retried after a back-off (`forever`); a thread that ends anyway (its target returned,
or something escaped it) ends the whole process, so that Ray restarts the actor: an
actor must never answer health checks while a thread it depends on is gone.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, NoReturn

log = logging.getLogger("vigil.loops")

#: Exit status of a process ended because one of its threads died (EX_SOFTWARE).
THREAD_DIED = 70
#: A thread whose heartbeat is older than this (s) counts as stuck; waits beat at least this
#: often, so only a thread blocked inside a call is ever that late.
STUCK_AFTER_S = 30.0


class Heartbeats:
    """Workers of one actor (threads, or asyncio tasks: serve/tasks.py), each with a
    heartbeat; what `report()` and `problems()` say is the same for both kinds."""

    KIND = "worker"

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._beats: dict[str, float] = {}
        self._dead: dict[str, str] = {}  # worker -> why it ended
        self._stopping = False

    def stop(self) -> None:
        """The owner is shutting down: workers that end from now on end quietly."""
        self._stopping = True

    def beat(self, name: str) -> None:
        """The worker `name` is alive and making progress."""
        self._beats[name] = time.monotonic()

    def report(self) -> dict[str, dict[str, Any]]:
        """Per worker: alive, seconds since its last heartbeat (and what `_details` adds)."""
        now = time.monotonic()
        return {
            name: {
                "alive": name not in self._dead and self._running(name),
                "beat_age_s": round(now - beaten, 3),
                **self._details(name),
            }
            for name, beaten in self._beats.items()
        }

    def problems(self, stuck_after_s: float = STUCK_AFTER_S) -> list[str]:
        """What is wrong with the workers, one phrase each; empty when all is well."""
        found = []
        for name, info in self.report().items():
            if not info["alive"]:
                found.append(f"{self.KIND} {name} dead ({self._dead.get(name, 'ended')})")
            elif info["beat_age_s"] > stuck_after_s:
                found.append(f"{self.KIND} {name} stuck for {info['beat_age_s']:.0f} s")
        return found

    def _running(self, name: str) -> bool:
        raise NotImplementedError

    def _details(self, name: str) -> dict[str, Any]:
        return {}


class Threads(Heartbeats):
    """The background threads of one actor."""

    KIND = "thread"

    def __init__(self, owner: str, exit_on_death: bool = True) -> None:
        super().__init__(owner)
        self.exit_on_death = exit_on_death
        self.failures: Counter[str] = Counter()  # loop bodies that raised, per thread
        self._threads: dict[str, threading.Thread] = {}

    def start(self, name: str, target: Callable[..., Any], *args: Any) -> threading.Thread:
        """Run `target(*args)` on a daemon thread named `name`; it is meant to run forever."""
        self.beat(name)
        self.failures[name] += 0  # a series from the start
        thread = threading.Thread(
            target=self._run, args=(name, target, args), name=name, daemon=True
        )
        self._threads[name] = thread
        thread.start()
        return thread

    def beat(self, name: str | None = None) -> None:
        """The calling thread (or `name`) is alive and making progress."""
        super().beat(name or threading.current_thread().name)

    def forever(
        self,
        name: str,
        step: Callable[[], float | None],
        *,
        pause: float,
        backoff_max: float = 5.0,
    ) -> threading.Thread:
        """Start a thread that runs `step` again and again: after it returns, wait what
        it returned (None: `pause`); after it raises, log, count, and wait a back-off
        that doubles up to `backoff_max`."""
        return self.start(name, _forever, self, name, step, pause, backoff_max)

    def _running(self, name: str) -> bool:
        thread = self._threads.get(name)
        return thread is None or thread.is_alive()

    def _details(self, name: str) -> dict[str, Any]:
        return {"failures": self.failures[name]}

    def _run(self, name: str, target: Callable[..., Any], args: tuple[Any, ...]) -> None:
        why = "returned"
        try:
            target(*args)
        except BaseException as exc:  # whatever it was, the thread is gone
            why = f"{type(exc).__name__}: {exc}"
            log.exception("thread %s of %s died", name, self.owner)
        self._dead[name] = why
        if self.exit_on_death and not self._stopping:
            die(f"thread {name} of {self.owner} ended ({why})")


def _forever(
    threads: Threads,
    name: str,
    step: Callable[[], float | None],
    pause: float,
    backoff_max: float,
) -> NoReturn:
    delay = 0.0
    while True:
        threads.beat(name)
        try:
            wait = step()
            delay = 0.0
        except Exception:
            threads.failures[name] += 1
            delay = min(max(delay * 2, 0.1), backoff_max)
            log.exception("%s of %s failed; again in %.1f s", name, threads.owner, delay)
            wait = delay
        time.sleep(pause if wait is None else wait)


def die(reason: str) -> NoReturn:
    """End this process at once (Ray restarts an actor whose process died)."""
    log.critical("%s: exiting so that the actor is restarted", reason)
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stderr.flush()
    os._exit(THREAD_DIED)
