"""The lake under failure: kill -9 of the writer, redeliveries, compaction during reads."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
import ray

from storage.catalog import Catalog
from tests.conftest import Vigil, wait_for
from tests.publisher import gps_stream, publish_all

pytestmark = pytest.mark.integration


def counts(vigil: Vigil, guards: list[str]) -> tuple[int, int]:
    listed = ",".join(f"'{g}'" for g in guards)
    ((rows, keys),) = vigil.rows(
        "SELECT count(*), count(DISTINCT msg_key) FROM guard_locations "
        f"WHERE guard_id IN ({listed})"
    )
    return rows, keys


def test_kill_9_of_the_writer_mid_stream_loses_nothing_and_doubles_nothing(vigil: Vigil) -> None:
    guards = [f"sim-guard-{n:04d}" for n in range(41, 51)]
    writer = vigil.runtime.writer
    rows_before = ray.get(writer.get_stats.remote())["rows"]
    publisher = threading.Thread(
        target=publish_all, args=(vigil.publisher, gps_stream(guards, 50_000))
    )
    publisher.start()
    wait_for(
        lambda: ray.get(writer.get_stats.remote())["rows"] - rows_before > 10_000,
        60,
        "the stream under way",
    )

    os.kill(ray.get(writer.pid.remote()), signal.SIGKILL)

    publisher.join(timeout=120)
    assert not publisher.is_alive()
    wait_for(lambda: counts(vigil, guards) == (50_000, 50_000), 120, "50,000 rows, each once")
    assert ray.get(writer.get_stats.remote())["rows"] > 0  # a new incarnation serves


def test_redelivered_and_retried_messages_leave_no_duplicates(vigil: Vigil) -> None:
    guards = ["sim-guard-0051", "sim-guard-0052"]
    stream = gps_stream(guards, 500, offset=10_000)
    publish_all(vigil.publisher, stream)
    wait_for(lambda: counts(vigil, guards)[1] == 500, 30, "first copies")
    ray.get(vigil.runtime.writer.flush.remote())  # the copies below land in other files

    publish_all(vigil.publisher, stream[:300])  # the devices retry (same seq)

    wait_for(lambda: counts(vigil, guards) == (500, 500), 60, "duplicates removed by key")


def test_compaction_running_during_reads_never_changes_a_count(vigil: Vigil) -> None:
    guards = ["sim-guard-0053", "sim-guard-0054"]
    writer = vigil.runtime.writer
    for burst in range(6):  # six segments, so six small files to compact
        publish_all(vigil.publisher, gps_stream(guards, 100, offset=20_000 + burst * 100))
        wait_for(lambda b=burst: counts(vigil, guards)[0] == (b + 1) * 100, 30, "burst stored")
        ray.get(writer.flush.remote())
    compactions = ray.get(writer.get_stats.remote())["compactions"]
    catalog = Catalog(vigil.data)
    listed = ",".join(f"'{g}'" for g in guards)
    seen = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            sql = f"SELECT count(*) FROM guard_locations WHERE guard_id IN ({listed})"
            seen.append(catalog.query(sql)[0][0])

    reader = threading.Thread(target=read)
    reader.start()
    try:
        wait_for(
            lambda: ray.get(writer.maintain.remote())["compactions"] > compactions,
            30,
            "a compaction while reading",
        )
        wait_for(lambda: len(seen) >= 20, 30, "reads during and after it")
    finally:
        stop.set()
        reader.join()
        catalog.close()
    assert set(seen) == {600}


def test_a_message_is_queryable_within_one_second_of_being_published(vigil: Vigil) -> None:
    started = time.monotonic()
    vigil.publish("guard/sim-guard-0055/gps", '{"lat": 12.9716, "lon": 77.5946, "seq": 1}')
    # Rolls happen every 2 s here: within 1 s the row can only come from the log tail.
    wait_for(
        lambda: vigil.count("guard_locations", "guard_id = 'sim-guard-0055'") == 1,
        1.0 - (time.monotonic() - started),
        "the row through the catalog",
    )
