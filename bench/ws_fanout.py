"""WebSocket fan-out: panic published over MQTT -> frame received at every NOC client.

One run, on this machine, measures the same thing twice:
  (a) vigil: Mosquitto -> ingest -> shard (critical lane) -> router (durable in the
      lake's log) -> Hub -> Serve replica (/ws through Serve's proxy) -> N clients of
      one tenant, while a simulator moves G guards (their positions reach the same
      clients, conflated to 2 updates/s per guard);
  (a') the same through the WebSocket gateway (actors/gateway.py: the same endpoint
      under uvicorn in an actor, outside Serve's proxy), and Serve's /ws for clients
      that take no positions (`positions=0`);
  (b) the reference: a bare Starlette app under uvicorn (no Ray, no vigil) that
      subscribes to the same broker and sends each alarm message straight to the
      same N clients: the floor of MQTT + Python WebSockets on this machine.
Latency is from just before the publish to the frame's arrival, per client and per
panic; "all clients" is, per panic, the time until the last client had it, "1st" until
the first did (what the pipeline up to the fan-out costs).

    .venv/bin/python bench/ws_fanout.py --clients 500 --guards 1000 --panics 30
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from picows import WSCloseCode, WSListener, WSMsgType

ACKED = re.compile(r'\[\{"type":"positions","v":(\d+)')
RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]
REFERENCE_BROKER = "WS_FANOUT_BROKER"  # the reference server's broker URL, with its login
sys.path.insert(0, str(ROOT))

from bench.stats import percentile, summary  # noqa: E402
from cli.broker import Mosquitto, free_port  # noqa: E402
from core import heap  # noqa: E402
from core.broker import BrokerAddress  # noqa: E402
from core.credentials import INGEST, SIMULATOR, Credentials  # noqa: E402

# -- clients -------------------------------------------------------------------------------


class Clients:
    """N WebSocket clients in this process; each notes when each alarm's frame arrived.

    picows (Cython) reads the frames: the instrument shares the machine's two cores with
    what it measures, and a pure-Python client's own cost per frame (500 per alarm)
    would be read as the server's latency and take CPU from it."""

    def __init__(self, url: str, count: int, is_alarm: Any) -> None:
        self.url = url
        self.count = count
        self.is_alarm = is_alarm  # frame text -> list of alarm keys in it
        self.arrivals: dict[str, list[float]] = {}
        self.frames = 0
        self.bytes = 0
        self.closed = 0
        self._transports: list[Any] = []
        self._stopping = False

    def on_text(self, transport: Any, text: str) -> None:
        now = time.time()
        self.frames += 1
        self.bytes += len(text)
        acked = ACKED.match(text)
        if acked:  # flow control: the next position frame comes once this one did
            transport.send(WSMsgType.TEXT, b'{"type":"ack","v":' + acked.group(1).encode() + b"}")
        elif '"alarm"' in text or '"alert"' in text:
            for key in self.is_alarm(text):
                self.arrivals.setdefault(key, []).append(now)

    async def start(self) -> None:
        from picows import ws_connect

        gate = asyncio.Semaphore(25)

        async def one() -> None:
            async with gate:
                transport, _ = await ws_connect(
                    lambda: Listener(self), self.url, websocket_handshake_timeout=60
                )
            self._transports.append(transport)

        await asyncio.wait_for(asyncio.gather(*(one() for _ in range(self.count))), 180)
        heap.settle()  # the instrument's own full GC passes would read as latency

    async def stop(self) -> None:
        self._stopping = True
        for transport in self._transports:
            transport.send_close(WSCloseCode.OK)
            transport.disconnect()
        await asyncio.gather(*(t.wait_disconnected() for t in self._transports))
        gc.unfreeze()

    def on_closed(self) -> None:
        """A connection ended: counted unless `stop` ended it."""
        if not self._stopping:
            self.closed += 1


class Listener(WSListener):  # type: ignore[misc]
    """One client connection: whole text messages to `Clients.on_text`."""

    def __init__(self, clients: Clients) -> None:
        super().__init__()
        self.clients = clients
        self.parts: list[bytes] = []

    def on_ws_frame(self, transport: Any, frame: Any) -> None:
        if frame.msg_type == WSMsgType.TEXT and frame.fin:
            self.clients.on_text(transport, frame.get_payload_as_utf8_text())
        elif frame.msg_type in (WSMsgType.TEXT, WSMsgType.CONTINUATION):
            self.parts.append(frame.get_payload_as_bytes())
            if frame.fin:
                self.clients.on_text(transport, b"".join(self.parts).decode())
                self.parts = []
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.disconnect()

    def on_ws_disconnected(self, transport: Any) -> None:
        self.clients.on_closed()


def vigil_alarms(frame: str) -> list[str]:
    return [
        m["data"]["entity_id"]
        for m in json.loads(frame)
        if m.get("type") == "alert" and m["data"].get("kind") == "panic"
    ]


def reference_alarms(frame: str) -> list[str]:
    return [m["key"] for m in json.loads(frame) if m.get("type") == "alarm"]


async def measure(
    clients: Clients, broker: BrokerAddress, panics: list[tuple[str, str]], gap_s: float
) -> dict[str, Any]:
    """Publish each (topic, key) panic, wait for every client to have it; latencies."""
    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    broker.configure(publisher)
    publisher.connect(broker.host, broker.port)
    publisher.loop_start()
    per_client: list[float] = []
    all_clients: list[float] = []
    first_client: list[float] = []
    missing = 0
    try:
        for topic, key in panics:
            sent = time.time()
            publisher.publish(topic, json.dumps({"type": "panic"}), qos=1)
            deadline = time.monotonic() + 10
            while len(clients.arrivals.get(key, ())) < clients.count - clients.closed:
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.01)
            got = clients.arrivals.get(key, [])
            missing += clients.count - len(got)
            lat = [1000 * (t - sent) for t in got]
            per_client += lat
            if lat:
                all_clients.append(max(lat))
                first_client.append(min(lat))
            await asyncio.sleep(gap_s)
    finally:
        publisher.loop_stop()
        publisher.disconnect()
    return {
        "samples": len(per_client),
        "missing": missing,
        **summary(per_client),
        "all_clients_p50_ms": round(percentile(all_clients, 50), 1),
        "all_clients_p99_ms": round(percentile(all_clients, 99), 1),
        "first_client_p50_ms": round(percentile(first_client, 50), 1),
        "first_client_p99_ms": round(percentile(first_client, 99), 1),
        "frames_per_client_s": 0.0,
        "disconnected": clients.closed,
    }


# -- (a) vigil -----------------------------------------------------------------------------


def run_vigil(args: argparse.Namespace, broker: Mosquitto, data: Path) -> dict[str, Any]:
    import ray
    from ray import serve

    from cli import runtime
    from core.fleet import load_fleet
    from core.settings import Settings
    from serve.tokens import issue, load_secret
    from simulator.fleet import simulated_fleet

    settings = Settings(
        broker_url=broker.login(INGEST).url,
        broker_accounts=True,  # the broker was seeded from this data dir's logins
        data_dir=data,
        http_port=free_port(),
        ws_port=free_port(),
        serve_replicas=args.replicas,
    )
    fleet = simulated_fleet(load_fleet(settings.fleet_path), args.guards)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level=logging.ERROR)  # fmt: skip
    try:
        running = runtime.start(settings, fleet)
        running.ready(timeout=120)
        running.serve()
        context = multiprocessing.get_context("spawn")
        stop, published = context.Event(), context.Value("q", 0)
        simulator = context.Process(
            target=simulate,
            args=(fleet, broker.login(SIMULATOR), args.fix_interval, stop, published),
        )
        simulator.start()
        token = issue(load_secret(settings), "operator", 1, "bench")
        url = f"ws://127.0.0.1:{settings.http_port}/ws?token={token}&ack=1"
        tenant1 = [g for g in fleet.guards if g.id.startswith("sim-") and g.client_id == 1]
        n = args.panics + 3
        panics = [(f"device/{g.device_id}/alert", g.id) for g in tenant1[: len(args.paths) * n]]

        async def go(url: str, panics: list[tuple[str, str]]) -> dict[str, Any]:
            clients = Clients(url, args.clients, vigil_alarms)
            await clients.start()
            await asyncio.sleep(args.warmup)  # positions flowing to every client
            await measure(clients, broker.login(SIMULATOR), panics[:3], 0.3)  # warm the path
            frames0, bytes0, t0 = clients.frames, clients.bytes, time.monotonic()
            result = await measure(clients, broker.login(SIMULATOR), panics[3:], args.gap)
            span = time.monotonic() - t0
            result["frames_per_client_s"] = round(
                (clients.frames - frames0) / span / args.clients, 2
            )
            result["mb_per_s_to_clients"] = round((clients.bytes - bytes0) / span / 1e6, 2)
            await clients.stop()
            return result

        gateway = f"ws://127.0.0.1:{settings.ws_port}/ws?token={token}&ack=1"
        urls = {"gateway": gateway, "serve": url, "serve_alerts_only": url + "&positions=0"}
        result: dict[str, Any] = {}
        for k, path in enumerate(args.paths):
            result[path] = asyncio.run(go(urls[path], panics[k * n : (k + 1) * n]))
        if "gateway" in result:
            gateway_actor = ray.get_actor("vigil-ws", namespace=settings.namespace)
            result["gateway"]["server"] = ray.get(gateway_actor.get_stats.remote())
        stop.set()
        simulator.join(timeout=10)
        result["fixes_published"] = published.value
        serve.shutdown()
        running.stop()
        return result
    finally:
        ray.shutdown()


def simulate(
    fleet: Any, broker: BrokerAddress, interval_s: float, stop: Any, published: Any
) -> None:
    """The simulated guards, in a process of their own as devices are machines of their
    own: sharing the clients' interpreter, their publishing would delay the clients."""
    from simulator.run import Simulator

    simulator = Simulator(fleet, broker, interval_s=interval_s, panic_every_s=1e12)
    simulator.start()
    stop.wait()
    simulator.stop()
    published.value = simulator.published


# -- (b) the reference: bare Starlette + uvicorn, no Ray -----------------------------------


def reference_server(http_port: int, broker: BrokerAddress) -> None:
    """Subscribe to alarms, send each to every connected WebSocket at once."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket

    sockets: set[WebSocket] = set()
    loop: asyncio.AbstractEventLoop | None = None

    async def fan_out(text: str) -> None:
        await asyncio.gather(*(ws.send_text(text) for ws in list(sockets)), return_exceptions=True)

    def on_message(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        key = msg.topic.split("/")[1]
        text = json.dumps([{"type": "alarm", "key": key, "data": json.loads(msg.payload)}])
        if loop is not None:
            asyncio.run_coroutine_threadsafe(fan_out(text), loop)

    async def endpoint(ws: WebSocket) -> None:
        nonlocal loop
        loop = asyncio.get_running_loop()
        await ws.accept()
        sockets.add(ws)
        try:
            while (await ws.receive())["type"] != "websocket.disconnect":
                pass
        finally:
            sockets.discard(ws)

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe("device/+/alert", qos=1)
    broker.configure(client)
    client.connect(broker.host, broker.port)
    client.loop_start()
    app = Starlette(routes=[WebSocketRoute("/ws", endpoint)])
    heap.settle()  # as vigil's actors do
    uvicorn.run(app, host="127.0.0.1", port=http_port, log_level="warning")


def run_reference(args: argparse.Namespace, broker: Mosquitto) -> dict[str, Any]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--reference-server", str(port)],
        cwd=ROOT,
        env={**os.environ, REFERENCE_BROKER: broker.login(INGEST).url},  # not in `ps`
    )
    try:
        _wait_port(port)
        panics = [(f"device/ref-dev-{n}/alert", f"ref-dev-{n}") for n in range(args.panics + 3)]

        async def go() -> dict[str, Any]:
            clients = Clients(f"ws://127.0.0.1:{port}/ws", args.clients, reference_alarms)
            await clients.start()
            await measure(clients, broker.login(SIMULATOR), panics[:3], 0.3)
            result = await measure(clients, broker.login(SIMULATOR), panics[3:], args.gap)
            await clients.stop()
            return result

        return asyncio.run(go())
    finally:
        server.terminate()
        server.wait(timeout=10)


def _wait_port(port: int) -> None:
    import socket

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"reference server did not listen on {port}")


# -- main ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--guards", type=int, default=1000)
    parser.add_argument("--panics", type=int, default=30)
    parser.add_argument("--gap", type=float, default=0.5, help="seconds between panics")
    parser.add_argument("--fix-interval", type=float, default=2.0, help="each guard's fix period")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--replicas", type=int, default=1, help="Serve replicas of the NOC app")
    parser.add_argument(
        "--paths",
        nargs="+",
        choices=["gateway", "serve", "serve_alerts_only"],
        default=["gateway", "serve", "serve_alerts_only"],
        help="which of vigil's WebSocket paths to measure",
    )
    parser.add_argument("--reference-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reference_server:
        reference_server(args.reference_server, BrokerAddress.parse(os.environ[REFERENCE_BROKER]))
        return
    with tempfile.TemporaryDirectory(prefix="vigil-ws-bench-") as tmp:
        accounts = Credentials(Path(tmp) / "data").service_accounts()  # as `vigil up`'s
        broker = Mosquitto(
            Path(tmp) / "mosquitto", free_port(), persistence=False, accounts=accounts
        ).start()
        try:
            reference = run_reference(args, broker)
            vigil = run_vigil(args, broker, Path(tmp) / "data")
        finally:
            broker.stop()
    results = {
        "clients": args.clients,
        "guards": args.guards,
        "fix_interval_s": args.fix_interval,
        "panics": args.panics,
        "serve_replicas": args.replicas,
        "machine": {"cpus": os.cpu_count()},
        "vigil": vigil,
        "reference_starlette_uvicorn": reference,
        "goal": "vigil p99 < 100 ms",
    }
    print(f"{args.clients} clients, {args.guards} guards moving (a fix each every "
          f"{args.fix_interval:g} s), {args.panics} panics")  # fmt: skip
    print(
        f"{'':34} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'all p50':>8} {'all p99':>8} "
        f"{'1st p50':>8} {'1st p99':>8}"
    )
    names = {
        "gateway": "vigil, /ws (gateway, ws_port)",
        "serve": "vigil, Serve /ws (via the proxy)",
        "serve_alerts_only": "vigil, Serve /ws, positions=0",
    }
    rows = [(names[path], vigil[path]) for path in args.paths]
    for name, r in [*rows, ("bare Starlette/uvicorn ws", reference)]:
        print(f"{name:34} {r['p50_ms']:>8} {r['p99_ms']:>8} {r['max_ms']:>8} "
              f"{r['all_clients_p50_ms']:>8} {r['all_clients_p99_ms']:>8} "
              f"{r['first_client_p50_ms']:>8} {r['first_client_p99_ms']:>8}")  # fmt: skip
    if "gateway" in vigil:
        print("gateway:", json.dumps(vigil["gateway"]["server"]))
    for name, r in rows:
        print(f"{name}: {r['frames_per_client_s']} frames/s per client, "
              f"{r['mb_per_s_to_clients']} MB/s to clients, {r['missing']} missed, "
              f"{r['disconnected']} disconnected")  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ws_fanout.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
