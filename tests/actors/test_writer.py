"""StorageWriter on failing disks: a failed append is raised and leaves no torn bytes, a
failed fsync ends the process and Ray restarts it, and nothing acknowledged is lost."""

from __future__ import annotations

import errno
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray

from actors.writer import StorageWriter
from cli.runtime import RESILIENT
from core.settings import Settings
from storage.catalog import Catalog
from storage.log import Segment, encode_append, good_length, segment_path, segment_paths
from tests.conftest import Vigil, wait_for
from tests.publisher import gps_stream, publish_all
from tests.storage.faults import fail_next_fsync, fill, tmpfs
from tests.storage.rows import fixes


@pytest.fixture
def writers(ray_cluster: None) -> Iterator[list[Any]]:
    """Writers a test starts (restarted by Ray like vigil's own), killed at its end."""
    started: list[Any] = []
    yield started
    for writer in started:
        ray.kill(writer, no_restart=True)


def start(writers: list[Any], data_dir: Path, lake: Path | None = None) -> tuple[Any, str]:
    name = f"test_{uuid.uuid4().hex[:8]}"  # part-<writer>-<segment>: no dash
    settings = Settings(
        data_dir=data_dir,
        lake_uri=str(lake or ""),
        roll_seconds=3600,
        maintenance_s=3600,  # rolls and compactions only when a test asks
        compact_after_s=0.0,
    )
    writer = StorageWriter.options(**RESILIENT).remote(settings, name)  # type: ignore[attr-defined]
    writers.append(writer)
    ray.get(writer.pid.remote(), timeout=60)
    return writer, name


def keys(prefix: str, n: int) -> list[str]:
    return [f"{prefix}#{i}" for i in range(n)]


def stored(data_dir: Path, lake: Path | None = None) -> tuple[int, int]:
    """Rows of guard_locations and distinct message keys among them (log tail included)."""
    catalog = Catalog(data_dir, str(lake or ""))
    try:
        ((rows, distinct),) = catalog.query(
            "SELECT count(*), count(DISTINCT msg_key) FROM guard_locations"
        )
        return rows, distinct
    finally:
        catalog.close()


def stats(writer: Any) -> dict[str, Any]:
    return dict(ray.get(writer.get_stats.remote(), timeout=30))


def test_a_failed_fsync_ends_the_writer_and_its_restart_loses_nothing_acknowledged(
    writers: list[Any], tmp_path: Path
) -> None:
    writer, _ = start(writers, tmp_path)
    assert ray.get(writer.append.remote([fixes("guard-1", keys("before", 50))])) == 50
    before = ray.get(writer.pid.remote())

    ray.get(writer.__ray_call__.remote(fail_next_fsync))
    # The writer dies inside this call; Ray restarts it and runs the call again there
    # (max_task_retries=-1), so the caller's answer comes from the new process.
    assert ray.get(writer.append.remote([fixes("guard-1", keys("after", 50))]), timeout=120) == 50

    assert ray.get(writer.pid.remote()) != before
    restarted = stats(writer)
    assert restarted["segments"] == 1  # the old incarnation's segment, rolled on start
    assert restarted["appends"] == 1  # the call that failed to sync, answered only here
    ray.get(writer.flush.remote())
    assert stored(tmp_path)[1] == 100  # every key; the unsynced call may be there twice...
    ray.get(writer.maintain.remote())
    assert stored(tmp_path) == (100, 100)  # ...until compaction removes repeats by key


def test_a_restarted_writer_rolls_a_torn_segment_up_to_its_last_whole_append(
    writers: list[Any], tmp_path: Path
) -> None:
    name = f"test_{uuid.uuid4().hex[:8]}"  # part-<writer>-<segment>: no dash
    log_dir = tmp_path / "_log" / name
    log_dir.mkdir(parents=True)
    segment = Segment(segment_path(log_dir, 1))
    segment.append([fixes("guard-2", keys("whole", 30))])
    segment.close()
    with segment.path.open("ab") as file:  # a crash in the middle of the next append
        file.write(encode_append([fixes("guard-2", keys("torn", 30))])[:-100])

    settings = Settings(data_dir=tmp_path, roll_seconds=3600, maintenance_s=3600)
    writer = StorageWriter.options(**RESILIENT).remote(settings, name)  # type: ignore[attr-defined]
    writers.append(writer)

    assert stats(writer)["rolled_rows"] == 30
    assert not segment.path.exists()
    assert stored(tmp_path) == (30, 30)


def test_an_append_on_a_full_disk_fails_leaves_no_torn_bytes_and_its_retry_is_stored_once(
    writers: list[Any], tmp_path: Path
) -> None:
    with tmpfs(tmp_path / "disk", size="1m") as disk:
        lake = tmp_path / "lake"  # only the log is on the small disk
        writer, name = start(writers, disk, lake)
        ray.get(writer.append.remote([fixes("guard-3", keys("first", 100))]))
        filler = fill(disk, leave=8192)
        batch = [fixes("guard-3", keys("full", 3000))]  # about 330 kB: torn after 8 kB

        with pytest.raises(ray.exceptions.RayTaskError) as failed:
            ray.get(writer.append.remote(batch))
        assert isinstance(failed.value.cause, OSError)  # Ray's error wraps the writer's own
        assert failed.value.cause.errno == errno.ENOSPC
        for path in segment_paths(disk / "_log" / name):
            assert path.stat().st_size == good_length(path), f"torn bytes left in {path}"

        filler.unlink()
        ray.get(writer.append.remote(batch))  # what ingest does: send the batch again
        ray.get(writer.flush.remote())
        assert stored(disk, lake) == (3100, 3100)
        ray.kill(writer, no_restart=True)  # before the disk goes


def test_the_writers_threads_are_in_its_stats(writers: list[Any], tmp_path: Path) -> None:
    writer, _ = start(writers, tmp_path)
    threads = wait_for(lambda: stats(writer)["threads"], 30, "thread heartbeats")
    assert set(threads) == {"roll", "maintenance"}
    assert all(t["alive"] and t["failures"] == 0 for t in threads.values())
    assert stats(writer)["problems"] == []


@pytest.mark.integration
def test_a_failed_fsync_under_a_live_stream_loses_no_acknowledged_message(vigil: Vigil) -> None:
    guards = ["sim-guard-0057", "sim-guard-0058"]
    writer = vigil.runtime.writer
    rows_before, pid_before = stats(writer)["rows"], ray.get(writer.pid.remote())
    stream = gps_stream(guards, 5000, offset=30_000)
    publisher = threading.Thread(target=publish_all, args=(vigil.publisher, stream))
    publisher.start()
    wait_for(lambda: stats(writer)["rows"] - rows_before > 500, 60, "the stream under way")

    ray.get(writer.__ray_call__.remote(fail_next_fsync))

    publisher.join(timeout=120)
    assert not publisher.is_alive()
    wait_for(lambda: ray.get(writer.pid.remote()) != pid_before, 60, "the writer restarted")
    listed = ",".join(f"'{g}'" for g in guards)
    sql = "SELECT count(*), count(DISTINCT msg_key) FROM guard_locations"
    sql += f" WHERE guard_id IN ({listed})"
    wait_for(lambda: vigil.rows(sql) == [(5000, 5000)], 120, "5,000 rows, each once")
