"""A simulation onto a broker: paced against the wall clock, QoS 1, truth written alongside.

paho stays in this module: `Publisher` connects (with credentials when the broker asks
for them) and says why it could not; `run` paces the rounds' messages so each leaves at
its stamp (relative to the start) and writes each truth once its message is out.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, TextIO

import paho.mqtt.client as mqtt

from core.broker import BrokerAddress
from core.errors import ConfigError, VigilError
from simulator.engine import Round, Simulation
from simulator.events import Outgoing, Truth

CONNECT_TIMEOUT_S = 10.0
#: QoS 1 messages the broker has not acknowledged yet: bounded (ids wrap at 65,535).
INFLIGHT = 200
EARLY_S = 0.002  # a message this close to its time leaves without a sleep


class SimulatorError(VigilError):
    """The broker could not be reached or refused us; the message says which and why."""


def broker_address(
    url: str, username: str | None = None, password: str | None = None, ca_file: str = ""
) -> BrokerAddress:
    """The broker of `--broker` (mqtt://host:port, mqtts://user:password@host:port, port 1883
    or 8883 when left out); `--username`/`--password` replace the URL's login."""
    try:
        address = BrokerAddress.parse(url, ca_file, setting="--broker")
    except ConfigError as exc:
        raise SimulatorError(str(exc)) from None
    if username is not None:
        address = replace(address, username=username, password=password)
    return address


class Publisher:
    """One paho client publishing QoS 1; `close` waits for the broker's acknowledgements."""

    def __init__(self, broker: BrokerAddress, client_id: str = "") -> None:
        self.where = broker.redacted
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or f"vigil-simulate-{os.getpid()}",
        )
        broker.configure(self.client)
        self.client.max_inflight_messages_set(INFLIGHT)
        self._connected = threading.Event()
        self._refused: str | None = None
        self.client.on_connect = self._on_connect
        try:
            self.client.connect(broker.host, broker.port)
        except (OSError, ValueError) as exc:
            raise SimulatorError(f"cannot reach the broker {self.where}: {exc}") from None
        self.client.loop_start()
        if not self._connected.wait(CONNECT_TIMEOUT_S) or self._refused:
            self.client.loop_stop()
            reason = self._refused or f"no answer within {CONNECT_TIMEOUT_S:.0f} s"
            raise SimulatorError(f"the broker {self.where} refused the connection: {reason}")
        self.pending: list[mqtt.MQTTMessageInfo] = []

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self._refused = str(reason)
        self._connected.set()

    def send(self, message: Outgoing) -> None:
        info = self.client.publish(message.topic, message.body(), qos=1)
        self.pending.append(info)
        if len(self.pending) > 10 * INFLIGHT:
            self.pending = [i for i in self.pending if not i.is_published()]

    def close(self, timeout_s: float = 30.0) -> int:
        """Wait until the broker acknowledged every message; returns how many it did not."""
        deadline = time.monotonic() + timeout_s
        for info in self.pending:
            left = deadline - time.monotonic()
            if left <= 0 or info.rc != mqtt.MQTT_ERR_SUCCESS:
                break
            try:
                info.wait_for_publish(left)
            except (RuntimeError, ValueError):
                break
        missing = sum(not i.is_published() for i in self.pending)
        self.client.loop_stop()
        self.client.disconnect()
        return missing


@dataclass
class Progress:
    sent: int = 0
    elapsed_s: float = 0.0  # simulated time covered
    truths: Counter[str] = field(default_factory=Counter)


def run(
    simulation: Simulation,
    send: Callable[[Outgoing], None],
    *,
    count: int | None = None,
    duration_s: float | None = None,
    truth: TextIO | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    stop: threading.Event | None = None,
    paced: bool = True,
    batches: Iterable[Round] | None = None,
) -> Progress:
    """Publish the simulation's rounds (or `batches` of them) until `count` messages or
    `duration_s` of simulated time, `stop` or Ctrl-C; each truth is written once the
    message carrying it is sent."""
    stop = stop or threading.Event()
    progress = Progress()

    def record(found: tuple[Truth, ...] | list[Truth]) -> None:
        for item in found:
            progress.truths[item.event] += 1
            if truth is not None:
                truth.write(item.to_json() + "\n")
        if found and truth is not None:
            truth.flush()

    def full() -> bool:
        return count is not None and progress.sent >= count

    started = time.monotonic()
    try:
        for batch in batches if batches is not None else simulation.rounds():
            if duration_s is not None and batch.t - simulation.start >= duration_s:
                break
            record(batch.truths)
            for message in batch.messages:
                if full() or stop.is_set():
                    return progress
                delay = (message.ts - simulation.start) - (time.monotonic() - started)
                if paced and delay > EARLY_S and stop.wait(delay):
                    return progress
                send(message)
                progress.sent += 1
                record(message.truths)
            progress.elapsed_s = batch.t - simulation.start + simulation.params.interval_s
            if on_progress is not None:
                on_progress(progress)
            if full():
                break
    except KeyboardInterrupt:  # what was sent is sent, and the truth of it written
        stop.set()
    return progress
