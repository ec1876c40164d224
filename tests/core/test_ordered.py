"""Reading the new end of an ordered log."""

from __future__ import annotations

from collections import deque

from core.ordered import after


def test_after_gives_the_items_numbered_above_the_floor_oldest_first() -> None:
    log = deque({"seq": n} for n in range(5, 11))
    assert [m["seq"] for m in after(log, 7, lambda m: m["seq"])] == [8, 9, 10]
    assert after(log, 10, lambda m: m["seq"]) == []
    assert [m["seq"] for m in after(log, 0, lambda m: m["seq"])] == list(range(5, 11))
    assert after(deque(), 0, lambda m: m["seq"]) == []
