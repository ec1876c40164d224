"""Run by tests/ops/test_multinode.py in its own process (a driver of its own cluster):
vigil on a two-node Ray cluster on this machine; the worker node is removed mid-stream.

Prints one JSON line: where the actors ran, what the lake holds, what the Hub saw.
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import ray
from ray._private.state import actors as actor_table  # the state API needs the dashboard
from ray.cluster_utils import Cluster

from cli import runtime
from cli.broker import Mosquitto, free_port
from core.credentials import INGEST, SIMULATOR, Credentials
from core.fleet import load_fleet
from core.settings import Settings
from storage.catalog import Catalog, count
from tests.conftest import wait_for
from tests.fleet import integration_fleet
from tests.publisher import gps_stream, publish_all

TOTAL = 20_000
GUARDS = [f"sim-guard-{n:04d}" for n in range(1, 41)]


def alive() -> dict[str, str]:
    """Live vigil actors and the node each runs on."""
    return {
        a["Name"]: a["Address"]["NodeID"]
        for a in actor_table().values()
        if a["State"] == "ALIVE" and a["Name"].startswith("vigil-")
    }


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="vigil-multinode-"))
    accounts = Credentials(root / "lake").service_accounts()  # vigil's logins, as `vigil up`'s
    broker = Mosquitto(root / "broker", free_port(), persistence=False, accounts=accounts).start()
    try:
        # A dead node is noticed after ~14 s by default; 3 missed 1 s health checks here.
        cluster = Cluster(
            initialize_head=True,
            head_node_args={
                "num_cpus": 1,
                "resources": {"vigil-storage": 1},
                "include_dashboard": False,
                "_system_config": {
                    "health_check_period_ms": 1000,
                    "health_check_failure_threshold": 3,
                },
            },
        )
        worker = cluster.add_node(num_cpus=1)
        ray.init(
            address=cluster.address, namespace="vigil", log_to_driver=False, logging_level="ERROR"
        )
        settings = Settings(
            broker_url=broker.login(INGEST).url,
            broker_accounts=True,  # the broker was seeded from this data dir's logins
            data_dir=root / "lake",
            roll_seconds=1.0,
            compact_after_s=2.0,
            maintenance_s=1.0,
            shards=2,
            ingest_actors=2,
        )
        vigil = runtime.start(settings, integration_fleet(load_fleet(settings.fleet_path)))
        vigil.ready(timeout=120)
        wait_for(
            lambda: all(
                s["connected"] for s in ray.get([a.get_stats.remote() for a in vigil.ingest])
            ),
            60,
            "ingest connected",
        )
        placed = alive()
        worker_id = worker.node_id
        on_worker = sorted(name for name, node in placed.items() if node == worker_id)

        publisher = threading.Thread(
            target=publish_all, args=(broker.login(SIMULATOR), gps_stream(GUARDS, TOTAL))
        )
        publisher.start()
        wait_for(
            lambda: ray.get(vigil.writer.get_stats.remote())["rows"] > TOTAL // 4, 60, "stream"
        )
        cluster.remove_node(worker, allow_graceful=False)
        removed_at = time.monotonic()
        publisher.join(timeout=120)

        # Alerts keep flowing: a panic after the node is gone reaches the Hub.
        publish_all(broker.login(SIMULATOR), [("device/dev-201/alert", '{"type": "panic"}')])
        panic = wait_for(
            lambda: [
                a
                for a in ray.get(vigil.hub.snapshot.remote(None, 0))["alerts"]
                if a["kind"] == "panic"
            ],
            120,
            "panic on the Hub",
        )
        listed = ",".join(f"'{g}'" for g in GUARDS)
        where = f"guard_id IN ({listed})"
        wait_for(
            lambda: count(settings.data_dir, "guard_locations", where) >= TOTAL,
            180,
            "all rows",
            interval=0.2,
        )
        wait_for(
            lambda: count(settings.data_dir, "guard_locations", where) == TOTAL,
            60,
            "no doubles",
            interval=0.2,
        )
        catalog = Catalog(settings.data_dir)
        ((rows, keys),) = catalog.query(
            f"SELECT count(*), count(DISTINCT msg_key) FROM guard_locations WHERE {where}"
        )
        catalog.close()
        after = alive()
        print(
            json.dumps(
                {
                    "on_worker_before": on_worker,
                    "alive_after": sorted(after),
                    "any_left_on_worker": any(node == worker_id for node in after.values()),
                    "rows": rows,
                    "distinct_keys": keys,
                    "panic_alerts": len(panic),
                    "recovered_in_s": round(time.monotonic() - removed_at, 1),
                }
            )
        )
        sys.stdout.flush()
    finally:  # a failed run leaves no broker behind (the Cluster stops itself at exit)
        broker.stop()
        ray.shutdown()


if __name__ == "__main__":
    main()
