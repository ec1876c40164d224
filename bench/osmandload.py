"""Traccar Client phones for the load bench: paced HTTP requests to vigil's OsmAnd ingress.

A schedule (bench/mqttload.py's) whose packets are `device \\0 password \\0 query` is sent
by `--workers` keep-alive connections, each request at its due time, as Traccar Client
sends a fix (POST, query parameters, Basic auth). A request counts as acknowledged when
vigil answers 200, which it does only once the fix is durable and applied; the result
names the acknowledged requests (they complete out of order) and when each timed one
(a panic) left.

    .venv/bin/python bench/osmandload.py --url http://127.0.0.1:5055/ --schedule S --out O
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.mqttload import Schedule

WORKERS = 64  # requests in flight at most: each waits until its fix is applied


def publish(url: str, schedule: Schedule, workers: int = WORKERS) -> dict[str, Any]:
    dues, packets, timed = schedule.dues, schedule.packets, schedule.timed
    acked: list[int] = []
    failed: dict[str, int] = {}
    lags: list[float] = []
    sent_at: dict[str, float] = {}
    lock = threading.Lock()
    cursor = iter(range(len(dues)))

    def work(client: httpx.Client) -> None:
        try:
            while True:
                with lock:
                    i = next(cursor, None)
                if i is None:
                    return
                delay = dues[i] - time.time()
                if delay > 0:
                    time.sleep(delay)
                device, password, query = packets[i].decode().split("\0")
                now = time.time()
                key = timed.get(i)
                try:
                    status = client.post(f"{url}?{query}", auth=(device, password)).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__  # type: ignore[assignment]
                with lock:
                    lags.append(now - dues[i])
                    if key is not None:
                        sent_at[key] = now
                    if status == 200:
                        acked.append(i)
                    else:
                        failed[str(status)] = failed.get(str(status), 0) + 1
        finally:
            client.close()

    clients = [httpx.Client(timeout=60) for _ in range(workers)]
    for client in clients:  # each connection open before the first due time (a 401, no fix)
        with contextlib.suppress(httpx.HTTPError):
            client.get(url)
    threads = [threading.Thread(target=work, args=(c,), daemon=True) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lags.sort()
    return {
        "sent": len(dues),
        "acked": len(acked),
        "acked_index": sorted(acked),
        "failed": failed,
        "first_due": dues[0] if dues else 0.0,
        "last_sent": time.time(),
        "lag_p99_ms": round(1000 * lags[int(0.99 * (len(lags) - 1))], 2) if lags else 0.0,
        "lag_max_ms": round(1000 * lags[-1], 2) if lags else 0.0,
        "sent_at": sent_at,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--schedule", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=WORKERS)
    args = parser.parse_args()
    result = publish(args.url, Schedule.load(args.schedule), args.workers)
    args.out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
