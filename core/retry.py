"""One way to try an action again: a bounded number of attempts, only for the errors
that a second attempt can cure, a growing pause in between.

A programming error (a TypeError, a bad SQL column) is never retried: it fails the
first time, with its own traceback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

log = logging.getLogger("vigil.retry")


def retry(
    action: Callable[[], T],
    *,
    on: type[BaseException] | tuple[type[BaseException], ...],
    attempts: int,
    pause_s: float = 0.05,
    what: str = "",
) -> T:
    """`action()`, tried up to `attempts` times while it raises one of `on`; the last
    failure is raised. The pause before attempt n+1 is `pause_s * n`."""
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except on:
            if attempt == attempts:
                raise
            if what:
                log.warning("%s failed (attempt %d of %d); again", what, attempt, attempts)
            time.sleep(pause_s * attempt)
    raise ValueError(f"attempts must be 1 or more, got {attempts}")
