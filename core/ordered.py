"""Reading the new end of a log kept in order of a growing number (a seq, a version)."""

from __future__ import annotations

from collections.abc import Callable, Reversible
from typing import TypeVar

T = TypeVar("T")


def after(items: Reversible[T], floor: int, number: Callable[[T], int]) -> list[T]:
    """The items numbered above `floor`, oldest first. `items` must be in increasing
    order of `number`; they are read from the newest end, so the cost is what is new,
    not the length of the log."""
    newer = []
    for item in reversed(items):
        if number(item) <= floor:
            break
        newer.append(item)
    newer.reverse()
    return newer
