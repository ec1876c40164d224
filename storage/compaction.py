"""Compaction: many small Parquet files of a partition become one, de-duplicated and sorted.

Planning is a pure function over the file list; the merge writes the new file
before deleting its inputs, and readers that go through `Lake.live_files` skip the
inputs as soon as the new file exists (its segment range covers theirs).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from storage.lake import Lake, LakeFile, dedup, sort_for_reads


@dataclass(frozen=True, slots=True)
class CompactionPolicy:
    #: Merge a partition's small files once this many have gathered...
    min_files: int = 8
    #: ...or once the oldest of them is this old (s).
    after_s: float = 60.0
    #: Files at least this large are sealed: never merged again.
    seal_bytes: int = 128 * 1024 * 1024


def plan(
    files: list[LakeFile], below_segment: int, now: float, policy: CompactionPolicy
) -> list[list[LakeFile]]:
    """Groups of files to merge, one group per (date, writer).

    Only files of segments below `below_segment` (the oldest segment still in the
    writer's log) take part, so a segment rolled late never lands inside a range a
    compaction already claimed.
    """
    groups: dict[tuple[str, str], list[LakeFile]] = defaultdict(list)
    live = [f for f in files if not any(g.covers(f) for g in files)]
    for f in live:
        if f.hi < below_segment and f.size < policy.seal_bytes:
            groups[(f.date, f.writer)].append(f)
    chosen = []
    for group in groups.values():
        oldest = min(f.mtime for f in group)
        if len(group) >= 2 and (len(group) >= policy.min_files or now - oldest >= policy.after_s):
            chosen.append(sorted(group, key=lambda f: f.lo))
    return chosen


def compact(lake: Lake, group: list[LakeFile]) -> int:
    """Merge `group` (one table, date and writer) into one file; returns its rows."""
    first = group[0]
    data = sort_for_reads(first.table, dedup(first.table, lake.read(group)))
    lo, hi = min(f.lo for f in group), max(f.hi for f in group)
    lake.write(first.table, first.date, f"compact-{first.writer}-{lo}-{hi}", data)
    lake.delete(group)
    return data.num_rows
