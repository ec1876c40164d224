"""Alert latency: a panic published over MQTT -> email received, and -> webhook received.

N guards (bg-1..bg-N) each press their panic button once, at a steady rate, over
a local Mosquitto; vigil raises the alert and its notifier delivers it through
apprise to a real SMTP server (aiosmtpd) and a real HTTP receiver. Each latency is
from the moment the panic was handed to the MQTT client to the moment the server
received the email / the webhook POST.

Reference, measured in the same run: apprise alone delivering the same email and
webhook (same URLs, same servers) with no MQTT and no vigil in between.

    .venv/bin/python bench/alert_latency.py --panics 200
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the SMTP and HTTP receivers are the tests' own servers

from actors.notify.channels import send  # noqa: E402
from bench.stats import summary  # noqa: E402
from cli.broker import Mosquitto, free_port  # noqa: E402
from core.credentials import INGEST, SIMULATOR, Credentials  # noqa: E402
from core.fleet import (  # noqa: E402
    Channel,
    Contact,
    Device,
    Fleet,
    Guard,
    OnCall,
    Site,
    Tenant,
    check_fleet,
    load_fleet,
)
from core.settings import Settings  # noqa: E402
from tests.receivers import HttpReceiver, Mailbox  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TENANT = 77
OPERATOR = Contact(id="bench-op", name="Bench operator", email="op@bench.example")
GUARD = re.compile(r"panic: (bg-\d+)\b")


def bench_fleet(base: Fleet, guards: int, smtp_port: int, http_port: int) -> Fleet:
    tenant = Tenant(
        id=TENANT,
        name="Latency bench",
        channels=[
            Channel(id="email", url=email_url(smtp_port, "{email}")),
            Channel(id="webhook", url=webhook_url(http_port)),
        ],
    )
    site = Site(id="bench-site", client_id=TENANT, roster=[OnCall(on_call=[OPERATOR.id])])
    fleet = base.adding(
        tenants=[tenant],
        sites=[site],
        guards=[
            Guard(id=f"bg-{n}", client_id=TENANT, site_id=site.id, device_id=f"bd-{n}")
            for n in range(1, guards + 1)
        ],
        devices=[Device(id=f"bd-{n}", client_id=TENANT) for n in range(1, guards + 1)],
        contacts=[OPERATOR],
    )
    check_fleet(fleet, "bench")
    return fleet


def email_url(port: int, to: str) -> str:
    return f"mailto://127.0.0.1:{port}?from=vigil@bench.example&to={to}&mode=insecure"


def webhook_url(port: int) -> str:
    return f"json://127.0.0.1:{port}/hooks/bench"


def percentiles(samples: list[float]) -> dict[str, float]:
    return {"n": len(samples), **summary([1000 * s for s in samples])}


def reference(mailbox: Mailbox, receiver: HttpReceiver, n: int) -> dict[str, list[float]]:
    """apprise alone: the same email and webhook, one at a time, timed to their receipt."""
    email, webhook = [], []
    for i in range(n):
        marker = f"reference-{i}-"
        started = time.monotonic()
        error = send(email_url(mailbox.port, OPERATOR.email or ""), marker, marker, "failure", 10)
        if error is None and (found := mailbox.find(marker)):
            email.append(found[0].at - started)
        started = time.monotonic()
        error = send(webhook_url(receiver.port), marker, marker, "failure", 10)
        if error is None and (posted := receiver.find(marker, "/hooks/bench")):
            webhook.append(posted[0].at - started)
    return {"email": email, "webhook": webhook}


def run_vigil(
    broker: Mosquitto,
    mailbox: Mailbox,
    receiver: HttpReceiver,
    panics: int,
    rate: float,
    data: Path,
) -> dict[str, Any]:
    import ray

    from cli import runtime

    ray.init(address="local", include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    # vigil's own logins (the downlink's too), from the data dir the broker was seeded from
    settings = Settings(broker_url=broker.login(INGEST).url, broker_accounts=True, data_dir=data)
    fleet = bench_fleet(load_fleet(settings.fleet_path), panics, mailbox.port, receiver.port)
    running = runtime.start(settings, fleet)
    running.ready(timeout=120)
    while not all(
        s.get("connects") for s in ray.get([a.get_stats.remote() for a in running.ingest])
    ):
        time.sleep(0.1)

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    broker.login(SIMULATOR).configure(client)  # the panics come as the simulator's
    client.connect(broker.host, broker.port)
    client.loop_start()
    published: dict[str, float] = {}
    started = time.monotonic()
    for n in range(1, panics + 1):
        due = started + (n - 1) / rate
        time.sleep(max(0.0, due - time.monotonic()))
        published[f"bg-{n}"] = time.monotonic()
        client.publish(f"device/bd-{n}/alert", '{"type": "panic"}', qos=1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        mails = {m for m in (_guard(x.subject) for x in mailbox.mails) if m in published}
        posts = {p for p in (_guard(x.json.get("title", "")) for x in receiver.posts) if p}
        if len(mails) >= panics and len(posts & published.keys()) >= panics:
            break
        time.sleep(0.1)
    client.loop_stop()
    client.disconnect()
    email = _first(mailbox.mails, lambda m: _guard(m.subject), published)
    webhook = _first(
        receiver.posts,
        lambda p: _guard(p.json.get("title", "")) if p.status == 200 else None,
        published,
    )
    notifier = ray.get(running.notifier.get_stats.remote())
    running.stop()
    ray.shutdown()
    return {"email": email, "webhook": webhook, "notifier": notifier}


def _guard(text: str) -> str | None:
    found = GUARD.search(text)
    return found.group(1) if found else None


def _first(items: list[Any], guard_of: Any, published: dict[str, float]) -> list[float]:
    """Latency of the first receipt per guard."""
    first: dict[str, float] = {}
    for item in items:
        guard = guard_of(item)
        if guard in published and guard not in first:
            first[guard] = item.at - published[guard]
    return list(first.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--panics", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0, help="panics per second")
    parser.add_argument("--out", type=Path, default=RESULTS / "alert_latency.json")
    args = parser.parse_args()
    mailbox, receiver = Mailbox().start(), HttpReceiver().start()
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        accounts = Credentials(Path(tmp) / "lake").service_accounts()  # as `vigil up`'s
        broker = Mosquitto(
            Path(tmp) / "broker", free_port(), persistence=False, accounts=accounts
        ).start()
        try:
            print("reference: apprise alone…", file=sys.stderr, flush=True)
            ref = reference(mailbox, receiver, args.panics)
            print(f"vigil: {args.panics} panics at {args.rate}/s…", file=sys.stderr, flush=True)
            vigil = run_vigil(broker, mailbox, receiver, args.panics, args.rate, Path(tmp) / "lake")
        finally:
            broker.stop()
            mailbox.stop()
            receiver.stop()
    result = {
        "panics": args.panics,
        "rate_per_s": args.rate,
        "vigil_publish_to_email": percentiles(vigil["email"]),
        "vigil_publish_to_webhook": percentiles(vigil["webhook"]),
        "apprise_alone_email": percentiles(ref["email"]),
        "apprise_alone_webhook": percentiles(ref["webhook"]),
        "notifier": {k: v for k, v in vigil["notifier"].items() if k != "waiting"},
    }
    print(f"\n{args.panics} panics at {args.rate}/s, one guard each")
    print(f"{'path':<40} {'n':>5} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}")
    for name, key in (
        ("vigil: MQTT publish -> email received", "vigil_publish_to_email"),
        ("vigil: MQTT publish -> webhook received", "vigil_publish_to_webhook"),
        ("apprise alone: email (reference)", "apprise_alone_email"),
        ("apprise alone: webhook (reference)", "apprise_alone_webhook"),
    ):
        row = result[key]
        print(f"{name:<40} {row['n']:>5} {row['p50_ms']:>9} {row['p99_ms']:>9} {row['max_ms']:>9}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
