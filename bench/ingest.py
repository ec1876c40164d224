"""End-to-end ingest throughput: MQTT publish -> vigil -> lake, next to two references.

The same traffic (N QoS 1 messages from several `mosquitto_pub -l` processes, the C
client) is consumed in turn by:
  (a) `mosquitto_sub`, the broker's own C subscriber (the ceiling of broker + client),
  (b) a bare paho subscriber that does nothing with the messages,
  (c) vigil: ingest pool, shards, storage log (acknowledged) and Parquet (queryable).
Each figure is messages per second from the first publish to the last message
received (a, b) or acknowledged after being made durable and applied (c).

    .venv/bin/python bench/ingest.py --messages 60000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from cli.broker import Mosquitto, free_port
from core.broker import BrokerAddress
from core.credentials import INGEST, SIMULATOR, Credentials
from core.fleet import load_fleet
from core.settings import Settings
from simulator.fleet import simulated_fleet

RESULTS = Path(__file__).resolve().parent / "results"
GPS_PUBLISHERS = 6
TELEMETRY_PUBLISHERS = 2


def workload(total: int) -> list[tuple[str, list[str]]]:
    """(topic, payload lines) per publisher process; every payload distinct (own seq)."""
    publishers = GPS_PUBLISHERS + TELEMETRY_PUBLISHERS
    per = total // publishers
    jobs = []
    for p in range(publishers):
        count = per + (total - per * publishers if p == 0 else 0)
        base = int(time.time()) - 30 * 86_400 + p * 100_000  # past, one second apart
        if p < GPS_PUBLISHERS:
            topic = f"guard/sim-guard-{p + 1:04d}/gps"
            lines = [
                f'{{"lat": 12.9716, "lon": 77.5946, "accuracy": 5.0, "seq": {i}, "ts": {base + i}}}'
                for i in range(count)
            ]
        else:
            topic = f"device/sim-dev-{p + 1:04d}/telemetry"
            lines = [
                f'{{"battery": 80.5, "signal": -70, "temperature": 31.0, "seq": {i}, '
                f'"ts": {base + i}}}'
                for i in range(count)
            ]
        jobs.append((topic, lines))
    return jobs


def login_args(address: BrokerAddress) -> list[str]:
    """mosquitto_pub's and mosquitto_sub's options for `address` and its login."""
    where = ["-h", address.host, "-p", str(address.port)]
    return [*where, "-u", str(address.username), "-P", str(address.password)]


def publish(broker: Mosquitto, jobs: list[tuple[str, list[str]]]) -> float:
    """Start every publisher at once (logged in as the simulator); return the start time."""
    started = time.monotonic()
    procs = []
    login = login_args(broker.login(SIMULATOR))
    for topic, lines in jobs:
        proc = subprocess.Popen(
            ["mosquitto_pub", *login, "-q", "1", "-M", "1000", "-t", topic, "-l"],
            stdin=subprocess.PIPE,
        )
        procs.append((proc, "\n".join(lines) + "\n"))
    writers = [threading.Thread(target=p.communicate, args=(data.encode(),)) for p, data in procs]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    return started


def until(done: Any, started: float, what: str, limit: float = 600.0) -> None:
    """Poll `done` until true; a bench that cannot finish says so instead of hanging."""
    while not done():
        if time.monotonic() - started > limit:
            raise SystemExit(f"gave up after {limit:.0f} s waiting until {what}")
        time.sleep(0.01)


def run_mosquitto_sub(broker: Mosquitto, total: int, jobs: list[tuple[str, list[str]]]) -> float:
    sub = subprocess.Popen(
        [
            "mosquitto_sub",
            *login_args(broker.login(INGEST)),
            "-q",
            "1",
            "-t",
            "guard/#",
            "-t",
            "device/#",
            "-C",
            str(total),
        ],
        stdout=subprocess.DEVNULL,
    )
    time.sleep(0.5)  # let it subscribe (a start-up wait, not a measurement)
    started = publish(broker, jobs)
    sub.wait(timeout=600)
    return total / (time.monotonic() - started)


def run_paho(broker: Mosquitto, total: int, jobs: list[tuple[str, list[str]]]) -> float:
    done = threading.Event()
    received = 0

    def on_message(*_: Any) -> None:
        nonlocal received
        received += 1
        if received == total:
            done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_message = on_message
    broker.login(INGEST).configure(client)
    client.connect(broker.host, broker.port)
    client.subscribe([("guard/#", 1), ("device/#", 1)])
    client.loop_start()
    time.sleep(0.5)
    started = publish(broker, jobs)
    if not done.wait(timeout=600):
        raise SystemExit(f"bare paho received {received} of {total} in 600 s")
    elapsed = time.monotonic() - started
    client.loop_stop()
    client.disconnect()
    return total / elapsed


def run_vigil(
    broker: Mosquitto, total: int, jobs: list[tuple[str, list[str]]], data: Path
) -> dict[str, float]:
    import ray

    from cli import runtime
    from storage.catalog import count

    ray.init(address="local", include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    # vigil's own logins (the downlink's too), from the data dir the broker was seeded from
    settings = Settings(broker_url=broker.login(INGEST).url, broker_accounts=True, data_dir=data)
    fleet = simulated_fleet(load_fleet(settings.fleet_path), GPS_PUBLISHERS + TELEMETRY_PUBLISHERS)
    running = runtime.start(settings, fleet)
    running.ready(timeout=120)

    def acked() -> int:
        return sum(
            s.get("acked", 0) for s in ray.get([a.get_stats.remote() for a in running.ingest])
        )

    while not all(
        s.get("connects") for s in ray.get([a.get_stats.remote() for a in running.ingest])
    ):
        time.sleep(0.1)
    started = publish(broker, jobs)
    until(lambda: acked() >= total, started, "vigil acknowledged every message")
    acked_s = time.monotonic() - started
    until(
        lambda: count(data, "guard_locations") + count(data, "device_telemetry") >= total,
        started,
        "every message queryable in Parquet",
    )
    parquet_s = time.monotonic() - started
    shards = ray.get([s.get_stats.remote() for s in running.shards])
    running.stop()
    ray.shutdown()
    return {
        "acked_msgs_per_s": total / acked_s,
        "parquet_msgs_per_s": total / parquet_s,
        "shard_messages": [s.get("messages", 0) for s in shards],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=60_000)
    parser.add_argument("--out", type=Path, default=RESULTS / "ingest.json")
    args = parser.parse_args()
    total = args.messages
    jobs = workload(total)
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        accounts = Credentials(Path(tmp) / "lake").service_accounts()  # as `vigil up`'s
        broker = Mosquitto(
            Path(tmp) / "broker", free_port(), persistence=False, accounts=accounts
        ).start()
        try:
            print("(a) mosquitto_sub…", file=sys.stderr, flush=True)
            sub_rate = run_mosquitto_sub(broker, total, jobs)
            print("(b) bare paho…", file=sys.stderr, flush=True)
            paho_rate = run_paho(broker, total, jobs)
            print("(c) vigil…", file=sys.stderr, flush=True)
            vigil = run_vigil(broker, total, jobs, Path(tmp) / "lake")
        finally:
            broker.stop()
    result = {
        "messages": total,
        "publishers": len(jobs),
        "mosquitto_sub_msgs_per_s": round(sub_rate),
        "bare_paho_msgs_per_s": round(paho_rate),
        "vigil_acked_msgs_per_s": round(vigil["acked_msgs_per_s"]),
        "vigil_parquet_msgs_per_s": round(vigil["parquet_msgs_per_s"]),
        "vigil_vs_paho": round(vigil["acked_msgs_per_s"] / paho_rate, 2),
        "shard_messages": vigil["shard_messages"],
    }
    rows = [
        ("mosquitto_sub (C, reference)", result["mosquitto_sub_msgs_per_s"]),
        ("bare paho subscriber (reference)", result["bare_paho_msgs_per_s"]),
        ("vigil, durable + applied + acked", result["vigil_acked_msgs_per_s"]),
        ("vigil, queryable in Parquet", result["vigil_parquet_msgs_per_s"]),
    ]
    print(f"\n{total} QoS 1 messages from {len(jobs)} mosquitto_pub processes")
    print(f"{'consumer':<36} {'msg/s':>10}")
    for name, rate in rows:
        print(f"{name:<36} {rate:>10,}")
    print(f"{'vigil / bare paho':<36} {result['vigil_vs_paho']:>10}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
