"""The chaos run (`make chaos`; a short one inside `make test`): kill -9 every kind of vigil
process in turn, restart the broker, fill the lake's disk, all under a sustained QoS 1
stream, and check that nothing acknowledged is lost and no alarm is missed or doubled.

    python -m tests.chaos.run [--guards 1000 --rate 400 --hold 8] [--json out.json]
        [--docs docs/reliability.md]

Everything is real: a Mosquitto, a local Ray running vigil's stack (`cli.launcher`), the
lake on a small tmpfs (filled with a real file until ENOSPC), an HTTP receiver and an
aiosmtpd server as the tenant's webhook and mailbox, and the NOC feed read through the
gateway as a page reads it. Exit status 0 when every row is green.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from actors.ingest import ingest_sessions
from cli.broker import Mosquitto, free_port
from core.broker import BrokerAddress
from core.credentials import INGEST, SIMULATOR, Credentials
from core.settings import Settings
from storage.catalog import Catalog
from tests.chaos.feed import FeedWatcher
from tests.chaos.world import Message, Stream, fleet_file
from tests.receivers import HttpReceiver, Mailbox

#: (what is killed, the Ray actor's name or name prefix)
KILLS = [
    ("ingest slot", "vigil-ingest-0"),
    ("shard", "vigil-shard-0"),
    ("storage writer", "vigil-writer"),
    ("alert router", "vigil-router"),
    ("notifier", "vigil-notifier"),
    ("hub", "vigil-hub"),
    ("feed gateway", "vigil-ws"),
    ("Serve replica", "SERVE_REPLICA::"),
    ("fleet registry", "vigil-fleet"),
]
DEADLINE_S = 90.0  # for one part to serve again, or for the lake to hold what it should


@dataclass
class Row:
    fault: str
    recovery_s: float | None  # from the fault (or the space coming back) to the probe panic
    lost: int  # messages the broker acknowledged that the lake does not hold
    alarms_ok: str  # panics and smoke so far: exactly one alert, on the feed, webhook, mail
    ok: bool


class Publisher:
    """Paced QoS 1 publishing of the stream; a message counts once the broker acked it."""

    def __init__(self, broker: BrokerAddress, stream: Stream, rate: float) -> None:
        self.stream = stream
        self.rate = rate
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id="chaos-publisher", protocol=mqtt.MQTTv5
        )
        self.client.max_inflight_messages_set(200)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(1, 2)
        broker.configure(self.client)
        self.client.connect(broker.host, broker.port, clean_start=False)
        self.client.loop_start()
        self._sent: list[tuple[mqtt.MQTTMessageInfo, Message]] = []
        self.refused = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._bulk, name="publisher", daemon=True)
        self.started = self.seconds = 0.0

    def start(self) -> Publisher:
        self.started = time.monotonic()
        self._thread.start()
        return self

    def send(self, message: Message) -> None:
        """Publish, as a device does: while the broker is away it waits (at most a minute)."""
        deadline = time.monotonic() + 60
        while not self.client.is_connected() and time.monotonic() < deadline:
            time.sleep(0.05)
        info = self.client.publish(message.topic, message.payload, qos=1)
        with self._lock:
            self._sent.append((info, message))

    def acknowledged(self) -> int:
        """Note every message acknowledged so far in the stream's truth; how many are not."""
        with self._lock:
            waiting = []
            for info, message in self._sent:
                try:
                    published = info.is_published()
                except RuntimeError:  # refused by paho itself: never acknowledged, not counted
                    self.refused += 1
                    continue
                if published:
                    self.stream.truth.note(message)
                else:
                    waiting.append((info, message))
            self._sent = waiting
            return len(waiting)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.seconds = time.monotonic() - self.started

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _bulk(self) -> None:
        started = time.monotonic()
        for sent, message in enumerate(self.stream.bulk(), start=1):
            if self._stop.is_set():
                return
            self.send(message)
            ahead = started + sent / self.rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)


class Chaos:
    def __init__(self, args: argparse.Namespace, root: Path, data: Path, tmpfs: bool) -> None:
        import ray
        from rich.console import Console

        from cli.launcher import start_stack
        from serve.tokens import issue, load_secret

        self.args, self.data, self.tmpfs = args, data, tmpfs
        self.webhooks, self.mailbox = HttpReceiver().start(), Mailbox().start()
        sessions = ingest_sessions(Settings())
        # Logins as on vigil's own broker: vigil's clients, the publisher as the simulator.
        accounts = Credentials(data).service_accounts()
        self.broker = Mosquitto(
            root / "mosquitto", free_port(), sessions=sessions, accounts=accounts
        ).start()
        fleet = fleet_file(
            root / "fleet.yaml", args.guards, 400, self.mailbox.port, self.webhooks.port
        )
        self.settings = Settings(
            broker_url=self.broker.login(INGEST).url,
            broker_accounts=True,  # the broker was seeded from this data dir's logins
            data_dir=data,
            fleet_path=fleet,
            http_port=free_port(),
            ws_port=free_port(),
            roll_seconds=1.0,
            compact_after_s=2.0,
            maintenance_s=1.0,
            checkpoint_s=2.0,
            notify_backoff_s=0.2,
            notify_backoff_max_s=2.0,
        )
        self.stack = start_stack(self.settings, 0, None, free_port(), Console(quiet=True))
        self.ray = ray
        token = issue(load_secret(self.settings), "operator", 1, "chaos")
        self.feed = FeedWatcher(self.settings.ws_port, self.settings.http_port, token).start()
        self.stream = Stream(args.guards, 400)
        self.publisher = Publisher(self.broker.login(SIMULATOR), self.stream, args.rate).start()
        self.rows: list[Row] = []

    # -- faults -----------------------------------------------------------------------------

    def run(self) -> list[Row]:
        self._settle("steady stream")
        for fault, name in KILLS:
            pid = self._pid(name)
            if pid is None:
                raise RuntimeError(f"no live actor named {name}*: nothing to kill")
            os.kill(pid, signal.SIGKILL)
            self._after(
                fault, time.monotonic(), lambda n=name, p=pid: self._pid(n) not in (None, p)
            )
        started = time.monotonic()
        self.broker.stop()
        self.broker.start()
        self._after("broker restart", started, lambda: True)
        self._disk_full()
        self.publisher.stop()
        self._final()
        return self.rows

    def _disk_full(self) -> None:
        if not self.tmpfs:
            self.rows.append(Row("lake disk full", None, 0, "skipped: no tmpfs here", True))
            return
        from tests.storage.faults import fill

        filler = fill(self.data)
        probe = self._probe()
        time.sleep(self.args.hold)  # the disk stays full while the stream goes on
        filler.unlink()
        self._after("lake disk full", time.monotonic(), lambda: True, probe)

    def _after(
        self, fault: str, started: float, back: Callable[[], bool], probe: str | None = None
    ) -> None:
        """The fault happened at `started`: a panic right after it must be stored and on the
        feed; then every message and alarm so far is checked."""
        probe = probe or self._probe()
        recovered = self._until(lambda: back() and self._alarm_seen(probe), DEADLINE_S)
        self.rows.append(self._check(fault, recovered - started if recovered else None))

    def _probe(self) -> str:
        message = self.stream.panic()
        self.publisher.send(message)
        return self.stream.truth.panics[-1]

    # -- checks -----------------------------------------------------------------------------

    def _settle(self, fault: str) -> None:
        time.sleep(self.args.hold)
        self.rows.append(self._check(fault, None))

    def _check(self, fault: str, recovery: float | None) -> Row:
        if len(self.stream.truth.smoke) < len(self.rows) + 1:
            self.publisher.send(self.stream.smoke_alarm())
        self.publisher.acknowledged()
        lost = self._until_value(self._lost, DEADLINE_S)
        alarms = self._until_value(self._alarm_faults, DEADLINE_S)
        total = len(self.stream.truth.panics) + len(self.stream.truth.smoke)
        ok = recovery is not None or fault == "steady stream"
        said = f"{total - len(alarms)}/{total}" + (f" ({'; '.join(alarms[:3])})" if alarms else "")
        return Row(fault, recovery, len(lost), said, ok and not lost and not alarms)

    def _final(self) -> None:
        deadline = time.monotonic() + DEADLINE_S
        while self.publisher.acknowledged() and time.monotonic() < deadline:
            time.sleep(0.2)
        unacked = self.publisher.acknowledged()
        lost = self._until_value(self._lost, DEADLINE_S)
        duplicates = self._until_value(self._duplicates, DEADLINE_S)
        alarms = self._until_value(self._alarm_faults, DEADLINE_S)
        crossings = self._until_value(self._crossing_faults, DEADLINE_S)
        rows = sum(len(k) for k in self.stream.truth.keys.values())
        said = {
            f"{len(lost)} lost, such as {lost[:3]}": lost,
            f"{len(duplicates)} stored twice": duplicates,
            f"{len(crossings)} guards with wrong crossings: {crossings[:3]}": crossings,
            f"{unacked} never acknowledged by the broker": unacked,
        }
        problems = [text for text, found in said.items() if found]
        total = len(self.stream.truth.panics) + len(self.stream.truth.smoke)
        self.rows.append(
            Row(
                f"end: {rows} messages ({rows / self.publisher.seconds:.0f}/s), "
                f"{sum(self.stream.truth.exits.values())} exits, "
                f"{sum(self.stream.truth.enters.values())} enters"
                + (f" ({', '.join(problems)})" if problems else ""),
                None,
                len(lost),
                f"{total - len(alarms)}/{total}",
                not problems and not alarms,
            )
        )

    def _lost(self) -> list[str]:
        missing = []
        for table, keys in self.stream.truth.keys.items():
            stored = {
                k
                for (k,) in self._rows(
                    f"SELECT DISTINCT msg_key FROM {table} WHERE msg_key LIKE 'chaos-%'"
                )
            }
            missing += sorted(keys - stored)
        return missing

    def _duplicates(self) -> list[str]:
        found = []
        for table in self.stream.truth.keys:
            found += [
                k
                for (k,) in self._rows(
                    f"SELECT msg_key FROM {table} WHERE msg_key LIKE 'chaos-%' "
                    "GROUP BY msg_key HAVING count(*) > 1"
                )
            ]
        return found

    def _alarm_faults(self) -> list[str]:
        """Every panic and smoke alarm so far: one alert, on the feed, the webhook, the mail."""
        truth = self.stream.truth
        faults = []
        for entity, kind in [(g, "panic") for g in truth.panics] + [
            (s, "smoke") for s in truth.smoke
        ]:
            ids = self._alert_ids(entity, kind)
            if len(ids) != 1:
                faults.append(f"{entity}: {len(ids)} {kind} alerts")
                continue
            (alert_id,) = ids
            where = [
                name
                for name, reached in (
                    ("feed", self.feed.has(alert_id)),
                    ("webhook", bool(self.webhooks.find(alert_id, path="/chaos"))),
                    ("mail", bool(self.mailbox.find(alert_id))),
                )
                if not reached
            ]
            if where:
                faults.append(f"{entity}: not on {'/'.join(where)}")
        return faults

    def _crossing_faults(self) -> list[str]:
        truth, faults = self.stream.truth, []
        # A crossing is a new alert or, within the dedup window of an open one, a repeat of
        # it: each has its own triggering alert id (`ref`) in alert_events.
        counts: dict[tuple[str, str], int] = {
            (entity, kind): n
            for entity, kind, n in self._rows(
                "SELECT a.entity_id, a.kind, count(DISTINCT e.ref) FROM alert_events e "
                "JOIN device_alerts a USING (alert_id) WHERE a.entity_id LIKE 'chaos-guard-%' "
                "AND a.kind IN ('geofence_exit', 'geofence_enter') "
                "AND e.type IN ('raised', 'repeated') GROUP BY 1, 2"
            )
        }
        for n in range(self.args.guards):
            guard = f"chaos-guard-{n:04d}"
            want = (truth.exits.get(guard, 0), truth.enters.get(guard, 0))
            got = (
                counts.get((guard, "geofence_exit"), 0),
                counts.get((guard, "geofence_enter"), 0),
            )
            if want != got:
                faults.append(f"{guard} exits/enters {got}, not {want}")
        return faults

    def _alarm_seen(self, entity: str) -> bool:
        ids = self._alert_ids(entity, "panic")
        return len(ids) == 1 and self.feed.has(ids[0])

    def _alert_ids(self, entity: str, kind: str) -> list[str]:
        sql = "SELECT DISTINCT alert_id FROM device_alerts WHERE entity_id = ? AND kind = ?"
        return [a for (a,) in self._rows(sql, [entity, kind])]

    # -- plumbing ---------------------------------------------------------------------------

    def _rows(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        catalog = Catalog(self.data)
        try:
            return catalog.query(sql, params)
        finally:
            catalog.close()

    def _pid(self, name: str) -> int | None:
        """The process of the live actor whose name is or starts with `name`."""
        for found in self.ray.util.list_named_actors(all_namespaces=True):
            if found["name"].startswith(name):
                actor = self.ray.get_actor(found["name"], namespace=found["namespace"])
                with contextlib.suppress(Exception):  # dead or restarting
                    return int(self.ray.get(actor.__ray_call__.remote(_pid), timeout=2))
        return None

    @staticmethod
    def _until(probe: Callable[[], bool], timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):  # a part still restarting: ask again
                if probe():
                    return time.monotonic()
            time.sleep(0.2)
        return None

    @staticmethod
    def _until_value(probe: Callable[[], list[str]], timeout: float) -> list[str]:
        """`probe` until it finds nothing wrong, or its last answer at the deadline."""
        deadline = time.monotonic() + timeout
        found: list[str] = ["not checked"]
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                found = probe()
                if not found:
                    return found
            time.sleep(0.5)
        return found

    def close(self) -> None:
        for closer in (self.feed.stop, self.publisher.close, self.stack.close, self.broker.stop):
            with contextlib.suppress(Exception):
                closer()
        self.webhooks.stop()
        self.mailbox.stop()


def _pid(_actor: Any) -> int:
    return os.getpid()


@contextlib.contextmanager
def lake_disk(where: Path, size: str) -> Iterator[bool]:
    """A tmpfs of `size` at `where` where this machine allows mounting one (True)."""
    import subprocess

    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True
    )
    try:
        yield mounted.returncode == 0
    finally:
        if mounted.returncode == 0:
            subprocess.run(["umount", "--lazy", str(where)], check=False)


def table(rows: list[Row]) -> str:
    lines = [
        "| fault | recovered in (s) | acknowledged, not in the lake | alarms right | ok |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        recovered = "" if r.recovery_s is None else f"{r.recovery_s:.1f}"
        lines.append(
            f"| {r.fault} | {recovered} | {r.lost} | {r.alarms_ok} | {'✓' if r.ok else '✗'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--guards", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=400.0, help="bulk messages per second")
    parser.add_argument("--hold", type=float, default=8.0, help="s of stream between faults")
    parser.add_argument("--disk", default="512m", help="size of the lake's tmpfs")
    parser.add_argument("--json", type=Path, help="write the rows here")
    parser.add_argument("--docs", type=Path, help="write the table into this Markdown file")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="vigil-chaos-"))
    started = time.monotonic()
    with lake_disk(root / "lake", args.disk) as tmpfs:
        chaos = Chaos(args, root, root / "lake", tmpfs)
        try:
            rows = chaos.run()
        except BaseException:
            traceback.print_exc()  # now: Ray's shutdown may end the process before Python would
            raise
        finally:
            chaos.close()
    shutil.rmtree(root, ignore_errors=True)
    text = table(rows)
    print(text)
    took = time.monotonic() - started
    print(f"{len(rows)} rows in {took:.0f} s ({args.guards} guards, {args.rate:.0f} msg/s)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2))
    if args.docs:
        write_docs(args.docs, text, args, took)
    return 0 if all(r.ok for r in rows) else 1


def write_docs(path: Path, text: str, args: argparse.Namespace, took: float) -> None:
    marker = "<!-- chaos table -->"
    head = path.read_text().split(marker)[0] if path.exists() else ""
    when = time.strftime("%Y-%m-%d")
    command = (
        f"python -m tests.chaos.run --guards {args.guards} --rate {args.rate:.0f} "
        f"--hold {args.hold:g}"
    )
    path.write_text(
        f"{head}{marker}\n\nMeasured {when} on this 2-core machine with `{command}` "
        f"({took:.0f} s in all):\n\n{text}\n"
    )


if __name__ == "__main__":
    sys.exit(main())
