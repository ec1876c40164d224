"""Compaction: what is merged when, and readers never count a row twice or miss one."""

from __future__ import annotations

from pathlib import Path

from storage.catalog import Catalog
from storage.compaction import CompactionPolicy, compact, plan
from storage.lake import Lake, LakeFile
from tests.storage.rows import fixes

POLICY = CompactionPolicy(min_files=3, after_s=60.0, seal_bytes=10_000)


def lake_file(
    lo: int,
    hi: int | None = None,
    *,
    size: int = 100,
    mtime: float = 0.0,
    compacted: bool = False,
    writer: str = "w",
) -> LakeFile:
    return LakeFile(
        "guard_locations",
        "2025-11-01",
        f"/x/{lo}-{hi}-{compacted}",
        writer,
        lo,
        hi or lo,
        compacted,
        size,
        mtime,
    )


def test_few_young_files_are_left_alone() -> None:
    files = [lake_file(1, mtime=100.0), lake_file(2, mtime=100.0)]
    assert plan(files, below_segment=99, now=120.0, policy=POLICY) == []


def test_enough_small_files_are_merged_into_one_group() -> None:
    files = [lake_file(n, mtime=100.0) for n in (1, 2, 3)]
    assert plan(files, below_segment=99, now=100.0, policy=POLICY) == [files]


def test_old_files_are_merged_even_when_few() -> None:
    files = [lake_file(1, mtime=0.0), lake_file(2, mtime=50.0)]
    assert plan(files, below_segment=99, now=61.0, policy=POLICY) == [files]


def test_segments_still_in_the_log_and_sealed_files_are_never_merged() -> None:
    sealed = lake_file(1, size=20_000)
    files = [sealed, *(lake_file(n) for n in (2, 3, 4, 5))]
    groups = plan(files, below_segment=5, now=1_000.0, policy=POLICY)
    assert [[f.lo for f in g] for g in groups] == [[2, 3, 4]]


def test_each_writer_is_compacted_on_its_own() -> None:
    files = [lake_file(n, writer=w) for n in (1, 2, 3) for w in ("a", "b")]
    groups = plan(files, below_segment=99, now=1_000.0, policy=POLICY)
    assert sorted({f.writer for f in g}.pop() for g in groups) == ["a", "b"]


def test_a_compacted_file_supersedes_the_files_it_covers() -> None:
    merged = lake_file(1, 3, compacted=True)
    assert merged.covers(lake_file(2))
    assert merged.covers(lake_file(1, 3))  # a plain file of the same range loses to it
    assert not merged.covers(lake_file(4))
    assert not merged.covers(lake_file(2, writer="other"))
    assert not merged.covers(merged)


def test_compaction_dedups_across_files_and_sorts_by_guard(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    lake.write_segment("w", 1, [fixes("guard-b", ["b1", "b2"])])
    lake.write_segment("w", 2, [fixes("guard-a", ["a1"]), fixes("guard-b", ["b2"])])  # b2 again
    (group,) = plan(lake.files("guard_locations"), 99, 1e12, POLICY)

    assert compact(lake, group) == 3

    (only,) = lake.files("guard_locations")
    assert (only.compacted, only.lo, only.hi) == (True, 1, 2)
    table = lake.read([only])
    assert table["msg_key"].to_pylist() == ["a1", "b1", "b2"]


def test_readers_count_each_row_once_between_a_compactions_write_and_its_deletes(
    tmp_path: Path,
) -> None:
    lake = Lake(str(tmp_path))
    for n in range(1, 5):
        lake.write_segment("w", n, [fixes("guard-a", [f"k{n}"])])
    inputs = lake.files("guard_locations")
    merged = lake.read(inputs)
    lake.write("guard_locations", "2025-11-01", "compact-w-1-4", merged)  # not yet deleted

    catalog = Catalog(tmp_path)
    assert catalog.query("SELECT count(*) FROM guard_locations") == [(4,)]
    lake.delete(inputs)
    assert catalog.query("SELECT count(*) FROM guard_locations") == [(4,)]  # re-listed
    catalog.close()


def test_the_catalog_reads_the_log_tail_once_even_after_it_rolls(tmp_path: Path) -> None:
    from storage.log import Segment, read_frames, segment_path

    log_dir = tmp_path / "_log" / "w"
    log_dir.mkdir(parents=True)
    segment = Segment(segment_path(log_dir, 7))
    segment.append([fixes("guard-a", ["t1", "t2"])])
    catalog = Catalog(tmp_path)
    assert catalog.query("SELECT count(*) FROM guard_locations") == [(2,)]

    Lake(str(tmp_path)).write_segment("w", 7, read_frames(segment.path))  # rolled...
    catalog.refresh()
    assert catalog.query("SELECT count(*) FROM guard_locations") == [(2,)]  # ...not doubled
    segment.path.unlink()
    catalog.refresh()
    assert catalog.query("SELECT count(*), count(DISTINCT msg_key) FROM guard_locations") == [
        (2, 2)
    ]
    catalog.close()


def test_any_pyarrow_filesystem_holds_the_lake() -> None:
    lake = Lake("mock:///lake")  # pyarrow's in-memory filesystem: no local path anywhere
    for n in (1, 2, 3):
        lake.write_segment("w", n, [fixes("guard-a", [f"k{n}", "dup"])])
    (group,) = plan(lake.files("guard_locations"), 99, 1e12, POLICY)
    assert compact(lake, group) == 4
    assert [f.path for f in lake.live_files("guard_locations")] == [
        "lake/guard_locations/date=2025-11-01/compact-w-1-3.parquet"
    ]
