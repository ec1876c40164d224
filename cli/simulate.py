"""`vigil simulate`: a realistic fleet against any broker, with the ground truth alongside.

Guards walk patrol rounds inside their zones and now and then out and back, trackers
report draining batteries, sensors follow the day, and events are injected at random
(panics, smoke, doors after hours, devices going silent, anomalies). `--truth FILE`
writes one JSON line per injected event: what it is, on whom, when, and the alert it
should cause. The same seed and start give the same run.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from cli.device import local_login
from core.credentials import Credentials
from core.errors import VigilError
from core.fleet import Fleet, load_fleet
from core.settings import from_env, from_file, load
from simulator.engine import Params, Simulation
from simulator.events import Outgoing, Scenario
from simulator.fleet import simulated_fleet
from simulator.phones import Phones, PhoneSender
from simulator.publish import Progress as Done
from simulator.publish import Publisher, broker_address, run

console = Console()


def simulate(
    broker: Annotated[
        str | None,
        typer.Option(
            help="Broker: mqtt://host:port or mqtts://user:password@host:port.",
            show_default="the settings'",
        ),
    ] = None,
    username: Annotated[str | None, typer.Option(help="MQTT user name.")] = None,
    password: Annotated[
        str | None, typer.Option(envvar="VIGIL_MQTT_PASSWORD", help="MQTT password.")
    ] = None,
    fleet: Annotated[
        Path | None, typer.Option(help="Fleet file (YAML).", show_default="fleet/sample.yaml")
    ] = None,
    guards: Annotated[
        int, typer.Option(help="Simulated guards added to the fleet (sim-guard-NNNN).")
    ] = 0,
    scenario: Annotated[
        list[str] | None,
        typer.Option(help="all, gps, panic, sensors, offline or anomaly (repeatable)."),
    ] = None,
    rate: Annotated[
        float | None,
        typer.Option(
            help="Messages per second (guards report more often).", show_default="a fix every 5 s"
        ),
    ] = None,
    duration: Annotated[float | None, typer.Option(help="Seconds to run.")] = None,
    count: Annotated[int | None, typer.Option(help="Messages to send.")] = None,
    event_every: Annotated[
        float, typer.Option(help="Mean seconds between injected events.")
    ] = 60.0,
    seed: Annotated[int, typer.Option(help="Same seed, same run.")] = 1,
    start: Annotated[
        datetime | None,
        typer.Option(help="Simulated start (ISO 8601, UTC unless given).", show_default="now"),
    ] = None,
    truth: Annotated[
        Path | None, typer.Option(help="Write the ground truth here (JSON lines).")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="vigil's settings file: its thresholds and timeouts."),
    ] = None,
    osmand_percent: Annotated[
        float,
        typer.Option(
            min=0,
            max=100,
            help="Share of the devices (%) that are Traccar Client phones, sending over HTTP "
            "to --osmand-url (devices with `owntracks` in the fleet speak OwnTracks anyway).",
        ),
    ] = 0.0,
    osmand_url: Annotated[
        str, typer.Option(help="vigil's Traccar Client (OsmAnd) ingress.")
    ] = "http://127.0.0.1:5055/",
) -> None:
    """Publish a simulated fleet's traffic, with injected events and their ground truth."""
    for name, value in (("--rate", rate), ("--duration", duration), ("--count", count)):
        if value is not None and value <= 0:
            raise typer.BadParameter("must be more than 0", param_hint=name)
    try:
        settings = load(from_file(config) if config else {}, from_env(os.environ)).settings
        chosen = Scenario.chosen(scenario or [])
        the_fleet = _fleet(fleet or settings.fleet_path, guards)
        address = broker_address(
            broker or settings.broker_url, username, password, settings.broker_ca_file
        )
        address = local_login(address, settings.data_dir.resolve())
    except (VigilError, ValueError) as exc:
        console.print(f"[red]✗[/] {exc}")
        raise typer.Exit(2) from None
    if start is not None and start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    began = start.timestamp() if start else time.time()
    params = Params.of(settings, event_every_s=event_every)
    try:
        simulation = Simulation(the_fleet, scenarios=chosen, seed=seed, start=began, params=params)
    except ValueError as exc:  # a zone too small to patrol: named
        console.print(f"[red]✗[/] {exc}")
        raise typer.Exit(2) from None
    if rate:
        simulation.pace(rate)
    if duration:
        simulation.end = began + duration
    elif count:
        simulation.end = began + count / simulation.per_round() * simulation.params.interval_s
    for guard in simulation.skipped:
        console.print(f"[yellow]![/] guard {guard}: its site has no zone to patrol; no fixes")
    try:
        publisher = Publisher(address)
    except VigilError as exc:
        console.print(f"[red]✗[/] {exc}")
        raise typer.Exit(1) from None
    sender = PhoneSender(Phones(the_fleet, osmand_percent), publisher.send)
    if osmand_percent:  # Traccar Client phones log in with their devices' credentials
        sender.url, sender.password_of = osmand_url, Credentials(settings.data_dir).password
    done = _publish(simulation, sender.send, count, duration, truth)
    missing = sender.close() + publisher.close()
    shown = ", ".join(f"{k} {v}" for k, v in sorted(done.truths.items())) or "none"
    console.print(f"[green]✓[/] {done.sent:,} messages to {publisher.where}; events: {shown}")
    if sender.sent["owntracks"] or sender.sent["osmand"]:
        ways = ", ".join(f"{k} {v:,}" for k, v in sorted(sender.sent.items()))
        console.print(f"  as the devices speak: {ways}")
    if truth:
        console.print(f"  ground truth in {truth}")
    if missing:
        console.print(f"[red]✗[/] {missing} messages not acknowledged by the broker")
        raise typer.Exit(1)


def _fleet(path: Path, guards: int) -> Fleet:
    base = load_fleet(path)
    return simulated_fleet(base, guards) if guards else base


def _publish(
    simulation: Simulation,
    send: Callable[[Outgoing], None],
    count: int | None,
    duration: float | None,
    truth: Path | None,
) -> Done:
    """Run with a progress bar; Ctrl-C (or SIGTERM) stops after the message in hand."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    total = float(count) if count else duration
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
    )
    out = truth.open("w", encoding="utf-8") if truth else None
    try:
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task("simulating", total=total, info="")

            def shown(p: Done) -> None:
                events = sum(p.truths.values())
                done = p.sent if count else p.elapsed_s
                bar.update(task, completed=done, info=f"{p.sent:,} messages, {events} events")

            return run(
                simulation,
                send,
                count=count,
                duration_s=duration,
                truth=out,
                on_progress=shown,
                stop=stop,
            )
    finally:
        signal.signal(signal.SIGTERM, previous)
        if out is not None:
            out.close()
