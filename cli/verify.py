"""`vigil verify`: the known scenario against a running vigil, every outcome checked.

It makes a tenant (or, with a tenant admin's token, a site in that tenant) with a guard,
two devices and four sensors over the fleet API, listens on the NOC feed, publishes the
scenario of simulator/known.py over MQTT, and checks within a deadline: the lake's rows
for every message, each expected alert through the API and on the feed, nothing
unexpected, and a delivered notification for each alert a webhook-style channel carries.
It acknowledges its critical alerts as they arrive (no escalation tier is paged), then
resolves them all and deletes what it made. Exit 1 names each failed check.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import msgspec
import typer
from rich.console import Console
from rich.table import Table

from cli.device import local_login
from cli.train import Client
from core.alerts import AlertKind
from core.broker import BrokerAddress
from core.errors import VigilError
from core.fleet import Channel
from core.records import DeviceEvent, DeviceStatus, DeviceTelemetry, GuardLocation, SensorReading
from core.schemas import SCHEMAS
from core.settings import from_env, from_file, load
from core.topics import TopicKind, parse_topic
from simulator import known
from simulator.engine import Params
from simulator.events import Outgoing, Truth
from simulator.publish import Publisher, broker_address, run

console = Console()
#: The lake table each kind of message lands in (its first column names the entity).
TABLES = {
    TopicKind.GPS: GuardLocation.TABLE,
    TopicKind.TELEMETRY: DeviceTelemetry.TABLE,
    TopicKind.READING: SensorReading.TABLE,
    TopicKind.ALERT: DeviceEvent.TABLE,
    TopicKind.STATUS: DeviceStatus.TABLE,
}
FIRST_TENANT = 9000  # verify's tenants are the first free id from here
POLL_S = 0.5


@dataclass
class Check:
    name: str
    expected: str
    found: str = ""
    ok: bool | None = None  # None: skipped (the note says why)
    note: str = ""


@dataclass
class Run:
    """What the scenario published, and what vigil did with it so far."""

    scenario: known.Known
    tenant: int
    messages: list[Outgoing] = field(default_factory=list)
    truths: list[Truth] = field(default_factory=list)
    unacknowledged: int = 0
    frames: list[dict[str, Any]] = field(default_factory=list)
    feed_error: str = ""
    channels: list[Channel] = field(default_factory=list)
    model_live: bool = False

    @property
    def ids(self) -> set[str]:
        return self.scenario.entity_ids()

    def expected(self) -> Counter[tuple[str, str]]:
        """(alert kind, entity) -> how many truths call for it; anomalies only while a
        model is live."""
        return Counter(
            (str(t.alert), t.alert_entity)
            for t in self.truths
            if t.alert is not None and (t.alert != AlertKind.ANOMALY or self.model_live)
        )


def verify(
    broker: Annotated[
        str, typer.Option(help="vigil's broker, mqtt:// or mqtts://user:pass@host:port.")
    ] = ("mqtt://127.0.0.1:1883"),
    url: Annotated[str, typer.Option(help="vigil's Serve app.")] = "http://127.0.0.1:8000",
    data: Annotated[
        Path | None,
        typer.Option(
            help="vigil's --data folder: the token secret and the lake (without it, the "
            "lake is not checked).",
            show_default="data, unless --token is given",
        ),
    ] = None,
    token: Annotated[
        str, typer.Option(envvar="VIGIL_TOKEN", help="An admin token (default: from --data).")
    ] = "",
    username: Annotated[str | None, typer.Option(help="MQTT user name.")] = None,
    password: Annotated[
        str | None, typer.Option(envvar="VIGIL_MQTT_PASSWORD", help="MQTT password.")
    ] = None,
    notify: Annotated[
        str | None,
        typer.Option(help="An apprise URL (a webhook) the verify tenant notifies; checked."),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for every outcome.")] = 30.0,
    config: Annotated[
        Path | None, typer.Option("--config", help="vigil's settings file: its thresholds.")
    ] = None,
    keep: Annotated[bool, typer.Option(help="Leave the run's entities and alerts.")] = False,
) -> None:
    """Run a known scenario against a running vigil and check every outcome; exit 1 on any
    failure (the table names it)."""
    if data is None and not token:
        data = Path("data")
    data_dir = data.resolve() if data else None
    try:
        settings = load(from_file(config) if config else {}, from_env(os.environ)).settings
        api = Client(url, token, data_dir or Path("data"))
        address = broker_address(broker, username, password, settings.broker_ca_file)
        address = local_login(address, data_dir or Path("data").resolve())
    except (VigilError, OSError) as exc:
        console.print(f"[red]✗[/] {exc}")
        raise typer.Exit(2) from None
    made: list[tuple[str, str]] = []
    feed = threading.Event()
    try:
        state = _set_up(api, notify, made)
        state.model_live = any(m.get("live") for m in api.call("GET", "/api/training/models"))
        feed = _listen(api, url, state)
        _publish(state, Params.of(settings), address)
        checks = _await(state, api, data_dir, timeout)
    except VigilError as exc:
        console.print(f"[red]✗[/] could not run the scenario: {exc}", soft_wrap=True)
        raise typer.Exit(2) from None
    finally:
        feed.set()
        _clean(api, made, keep)
    _table(state, checks)
    failed = [c.name for c in checks if c.ok is False]
    if failed:
        console.print(f"[red]✗ {len(failed)} failed:[/] {', '.join(failed)}", soft_wrap=True)
        raise typer.Exit(1)
    console.print(f"[green]✓[/] every outcome of run {state.scenario.run} as expected")


# -- set-up ----------------------------------------------------------------------------------


def _set_up(api: Client, notify: str | None, made: list[tuple[str, str]]) -> Run:
    """The run's tenant (or site in the token's tenant) and entities, over the API."""
    me = api.call("GET", "/api/me")
    if me["role"] != "admin":
        raise VigilError(f"the token is a {me['role']}'s; verify makes entities: it needs admin")
    run_id = secrets.token_hex(3)
    if me["tenant"] == "*":
        taken = {t["id"] for t in api.call("GET", "/api/tenants")}
        tenant = next(i for i in range(FIRST_TENANT, FIRST_TENANT + 10**6) if i not in taken)
        scenario = known.known(run_id, tenant)
        body = msgspec.to_builtins(scenario.tenant)
        if notify:
            body["channels"] = [
                {
                    "id": "verify",
                    "url": notify,
                    "severities": ["critical", "high", "medium", "low", "info"],
                }
            ]
        api.call("POST", "/api/tenants", body)
        made.append(("tenants", str(tenant)))
    else:
        tenant = int(me["tenant"])
        scenario = known.known(run_id, tenant)
        if notify:
            console.print(
                "[yellow]![/] --notify needs an all-tenant admin: the tenant's own channels "
                "are checked"
            )
    for collection, item in scenario.bodies():
        api.call("POST", f"/api/{collection}", item)
        made.append((collection, item["id"]))
    # On call at the run's site: its own guard, who has no address. Nobody of a real
    # tenant is paged by a verify run; its alert-wide channels (webhooks) are, and checked.
    roster = {"roster": [{"on_call": [scenario.guard.id]}]}
    api.call("PATCH", f"/api/sites/{scenario.site.id}", roster)
    tenant_body = api.call("GET", f"/api/tenants/{tenant}")
    channels = msgspec.convert(tenant_body.get("channels", []), list[Channel])
    return Run(scenario, tenant, channels=[c for c in channels if not c.placeholders])


def _clean(api: Client, made: list[tuple[str, str]], keep: bool) -> None:
    """Resolve the run's alerts, then delete what it made (what refers to others first)."""
    if keep or not made:
        return
    mine = {item for collection, item in made if collection != "tenants"}
    try:
        for alert in _alerts(api, made):
            if alert["entity_id"] in mine and alert["status"] != "resolved":
                path = f"/api/alerts/{alert['alert_id']}/resolve"
                api.call("POST", path, {"note": "vigil verify"})
    except VigilError as exc:
        console.print(f"[yellow]![/] resolving the run's alerts: {exc}")
    for collection, item in made:
        if collection == "sites":  # its roster names its guard: the guard goes first
            try:
                api.call("PATCH", f"/api/sites/{item}", {"roster": []})
            except VigilError as exc:
                console.print(f"[yellow]![/] clearing the roster of {item}: {exc}")
    order = ["sensors", "guards", "devices", "sites", "tenants"]
    for collection, item in sorted(made, key=lambda m: order.index(m[0])):
        try:
            api.call("DELETE", f"/api/{collection}/{item}")
        except VigilError as exc:
            console.print(f"[yellow]![/] deleting {collection}/{item}: {exc}")


def _alerts(api: Client, made: list[tuple[str, str]]) -> list[dict[str, Any]]:
    tenants = [item for collection, item in made if collection == "tenants"]
    query = f"?client_id={tenants[0]}&limit=5000" if tenants else "?limit=5000"
    found: list[dict[str, Any]] = api.call("GET", "/api/alerts" + query)
    return found


# -- the run ---------------------------------------------------------------------------------


def _listen(api: Client, url: str, state: Run) -> threading.Event:
    """Follow the NOC feed (the gateway when vigil has one, else Serve's /ws) from before
    the first message; returns the event that stops it."""
    from websockets.exceptions import WebSocketException
    from websockets.sync.client import ClientConnection, connect

    stop = threading.Event()
    parts = urlsplit(url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    ws_port = api.call("GET", "/api/me").get("ws_port")
    urls = [f"{scheme}://{parts.netloc}/ws"]
    if ws_port:
        urls.insert(0, f"{scheme}://{parts.hostname}:{ws_port}/ws")
    ready = threading.Event()

    def follow(ws: ClientConnection) -> None:
        while not stop.is_set():
            try:
                text = ws.recv(timeout=POLL_S)
            except TimeoutError:
                continue
            for message in json.loads(text):
                if message.get("type") == "hello":
                    ready.set()
                elif message.get("type") == "alert":
                    state.frames.append(message["data"])
                    _acknowledge(api, state, message["data"])

    def main() -> None:
        errors = []
        for address in urls:
            try:
                with connect(f"{address}?token={api.token}&positions=0", open_timeout=10) as ws:
                    follow(ws)
                    return
            except (OSError, WebSocketException) as exc:
                errors.append(f"{address}: {exc}")
                if ready.is_set():
                    break  # it was following: the feed broke, not a wrong address
        state.feed_error = "; ".join(errors)
        ready.set()

    threading.Thread(target=main, name="verify-feed", daemon=True).start()
    if not ready.wait(15) and not state.feed_error:
        state.feed_error = "no hello from the feed within 15 s"
    return stop


def _acknowledge(api: Client, state: Run, alert: dict[str, Any]) -> None:
    """A critical alert of the run is acknowledged as soon as it is seen: that stops its
    escalation, so a run in a real tenant pages nobody of its chain."""
    if alert.get("severity") != "critical" or alert.get("entity_id") not in state.ids:
        return
    try:
        path = f"/api/alerts/{alert['alert_id']}/acknowledge"
        api.call("POST", path, {"note": "vigil verify"})
    except VigilError as exc:
        console.print(f"[yellow]![/] acknowledging {alert['kind']}: {exc}")


def _publish(state: Run, params: Params, broker: BrokerAddress) -> None:
    sim = known.simulation(state.scenario, time.time(), params)
    publisher = Publisher(broker, client_id=f"vigil-verify-{state.scenario.run}")

    def send(message: Outgoing) -> None:
        publisher.send(message)
        state.messages.append(message)
        state.truths.extend(message.truths)

    def batches() -> Any:
        for batch in known.rounds(state.scenario, sim):
            state.truths.extend(batch.truths)
            yield batch

    try:
        run(sim, send, batches=batches())
    finally:
        state.unacknowledged = publisher.close()


# -- checks ----------------------------------------------------------------------------------


def _await(state: Run, api: Client, data_dir: Path | None, timeout_s: float) -> list[Check]:
    """Check until every check passes or the deadline; the last checks."""
    deadline = time.monotonic() + timeout_s
    while True:
        checks = _checks(state, api, data_dir)
        if all(c.ok is not False for c in checks) or time.monotonic() > deadline:
            return checks
        time.sleep(POLL_S)


def _checks(state: Run, api: Client, data_dir: Path | None) -> list[Check]:
    scenario, expected = state.scenario, state.expected()
    ids = scenario.entity_ids()
    planned = [i.event for found in scenario.plan.values() for i in found]
    happened = {t.event for t in state.truths}
    missing = [str(e) for e in planned if e not in happened]
    sent = len(state.messages)
    checks = [
        Check(
            "scenario: planned events",
            str(len(planned)),
            str(len(planned) - len(missing)),
            not missing,
            ", ".join(missing),
        ),
        Check(
            "broker: messages acknowledged",
            str(sent),
            str(sent - state.unacknowledged),
            state.unacknowledged == 0,
        ),
    ]
    alerts = [a for a in _alerts(api, [("tenants", str(state.tenant))]) if a["entity_id"] in ids]
    got: Counter[tuple[str, str]] = Counter()
    for alert in alerts:  # a repeat within the router's dedup window counts on the first
        got[alert["kind"], alert["entity_id"]] += int(alert.get("count", 1))
    wanted = [a for a in alerts if (a["kind"], a["entity_id"]) in expected]
    checks += _lake(state, data_dir, ids, {a["alert_id"] for a in wanted})
    for (kind, entity), n in sorted(expected.items()):
        checks.append(
            Check(
                f"alert: {kind} on {entity}", f"{n}", str(got[kind, entity]), got[kind, entity] >= n
            )
        )
    unexpected = sorted(
        f"{k} on {e}" for k, e in got if (k, e) not in expected and k != AlertKind.ANOMALY
    )
    checks.append(
        Check("alerts: nothing unexpected", "none", ", ".join(unexpected) or "none", not unexpected)
    )
    if not state.model_live:
        checks.append(Check("alert: anomaly", "-", "", None, "no model is live (vigil train)"))
    checks += _feed(state, expected)
    checks += _notifications(state, data_dir, wanted)
    return checks


def _lake(state: Run, data_dir: Path | None, ids: set[str], alert_ids: set[str]) -> list[Check]:
    """Rows of the run's entities per table, against the messages published (one query)."""
    per_table = Counter(TABLES[parse_topic(m.topic).kind] for m in state.messages)
    wanted = [(t, str(n)) for t, n in sorted(per_table.items())]
    wanted.append(("device_alerts", str(len(alert_ids))))
    if data_dir is None:
        return [Check(f"lake: {t} rows", n, "", None, "no --data") for t, n in wanted]
    selects, params = [], []
    for table in sorted(per_table):
        column = SCHEMAS[table].names[0]
        selects.append(f"SELECT '{table}', count(*) FROM {table} WHERE {column} IN ?")
        params.append(sorted(ids))
    selects.append(
        "SELECT 'device_alerts', count(DISTINCT alert_id) FROM device_alerts WHERE alert_id IN ?"
    )
    params.append(sorted(alert_ids) or [""])
    try:
        found = {str(t): str(n) for t, n in _query(data_dir, " UNION ALL ".join(selects), params)}
    except Exception as exc:  # a wrong folder, an unreadable file: the checks say so
        return [
            Check(f"lake: {t} rows", n, "", False, f"{type(exc).__name__}: {exc}"[:120])
            for t, n in wanted
        ]
    return [
        Check(f"lake: {t} rows", n, found.get(t, "0"), found.get(t, "0") == n) for t, n in wanted
    ]


def _query(data_dir: Path, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    from storage.catalog import Catalog

    if not (data_dir / "_log").is_dir():
        raise FileNotFoundError(f"{data_dir} holds no vigil lake (no _log folder)")
    catalog = Catalog(data_dir)
    try:
        return catalog.query(sql, params)
    finally:
        catalog.close()


def _feed(state: Run, expected: Counter[tuple[str, str]]) -> list[Check]:
    if state.feed_error:
        return [Check("feed: connected", "hello", "", False, state.feed_error[:160])]
    got = Counter((f.get("kind"), f.get("entity_id")) for f in list(state.frames))
    return [
        Check(f"feed: {kind} on {entity}", str(n), str(got[kind, entity]), got[kind, entity] >= n)
        for (kind, entity), n in sorted(expected.items())
    ]


def _notifications(state: Run, data_dir: Path | None, alerts: list[dict[str, Any]]) -> list[Check]:
    """A delivered receipt for each alert a webhook-style channel of the tenant carries."""
    if not state.channels:
        note = "no webhook-style channel (--notify URL adds one)"
        return [Check("notifications", "-", "", None, note)]
    carried = [a for a in alerts if any(a["severity"] in c.severities for c in state.channels)]
    if data_dir is None:
        return [Check("notifications", str(len(carried)), "", None, "no --data")]
    try:
        rows = _query(
            data_dir,
            "SELECT DISTINCT alert_id FROM notifications "
            "WHERE outcome = 'delivered' AND alert_id IN ?",
            [[a["alert_id"] for a in carried] or [""]],
        )
    except Exception as exc:
        return [Check("notifications", str(len(carried)), "", False, str(exc)[:120])]
    delivered = {r[0] for r in rows}
    return [
        Check(
            f"notification: {a['kind']} on {a['entity_id']}",
            "delivered",
            "delivered" if a["alert_id"] in delivered else "",
            a["alert_id"] in delivered,
        )
        for a in sorted(carried, key=lambda a: (a["kind"], a["entity_id"]))
    ]


def _table(state: Run, checks: list[Check]) -> None:
    table = Table(title=f"vigil verify, run {state.scenario.run} (tenant {state.tenant})")
    for column in ("check", "expected", "found", "result", "note"):
        table.add_column(column, overflow="fold")
    marks = {True: "[green]pass[/]", False: "[red]FAIL[/]", None: "[dim]skipped[/]"}
    for check in checks:
        table.add_row(check.name, check.expected, check.found, marks[check.ok], check.note)
    console.print(table)
