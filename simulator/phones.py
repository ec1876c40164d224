"""Simulated phones: the same traffic, sent as OwnTracks or Traccar Client would send it.

A device of the fleet with `owntracks` set is an OwnTracks phone: its guard's fixes go
out as `{"_type": "location", ...}` on `owntracks/{user}/{device}` and its "offline" as
the app's last will (`_type: lwt`). A share of the other devices (`osmand_percent`, by a
stable hash of the id) is a Traccar Client phone: fixes and alarms (with a position) go
as HTTP requests to vigil's OsmAnd ingress, logged in with the device's credentials,
each sent again until vigil answers 200 (as the app does). Everything else stays on
vigil's own topics, so a fleet of phones runs beside native devices.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import httpx

from core.fleet import Fleet
from simulator.events import Outgoing

KNOTS_PER_MPS = 3600 / 1852
HTTP_WORKERS = 16  # requests in flight at once (each waits until its fix is applied)
RETRY_S = 0.5


class Phones:
    """Which device speaks what, and each message in its device's protocol."""

    def __init__(self, fleet: Fleet, osmand_percent: float = 0.0) -> None:
        self.carried = {g.id: g.device_id for g in fleet.guards if g.device_id}
        self.owntracks = {d.id: d.owntracks for d in fleet.devices if d.owntracks}
        devices = {g.device_id for g in fleet.guards if g.device_id} | {d.id for d in fleet.devices}
        self.osmand = {
            d
            for d in devices
            if d not in self.owntracks and zlib.crc32(d.encode()) % 10_000 < osmand_percent * 100
        }

    def device_of(self, message: Outgoing) -> str | None:
        kind, entity = message.topic.split("/")[:2]
        return self.carried.get(entity) if kind == "guard" else entity if kind == "device" else None

    def as_owntracks(self, message: Outgoing) -> Outgoing | None:
        """The message as the OwnTracks app sends it, None when it has no such message."""
        device = self.device_of(message)
        phone = self.owntracks.get(device or "")
        if phone is None or not isinstance(message.payload, dict):
            return None
        body, tst = message.payload, int(message.ts)
        if message.topic.endswith("/gps"):
            location: dict[str, Any] = {"_type": "location", "tid": phone[-2:], "tst": tst}
            location |= {"lat": body["lat"], "lon": body["lon"], "acc": round(body["accuracy"])}
            if body.get("speed") is not None:
                location["vel"] = round(body["speed"] * 3.6)
            if body.get("heading") is not None:
                location["cog"] = round(body["heading"])
            if body.get("battery") is not None:
                location["batt"] = round(body["battery"])
            return replace(message, topic=f"owntracks/{phone}", payload=location)
        if message.topic.endswith("/status") and body.get("status") == "offline":
            return replace(
                message, topic=f"owntracks/{phone}", payload={"_type": "lwt", "tst": tst}
            )
        return None

    def as_osmand(self, message: Outgoing) -> tuple[str, dict[str, str]] | None:
        """(device, query parameters) of the request Traccar Client sends for the message."""
        device = self.device_of(message)
        if device not in self.osmand or not isinstance(message.payload, dict):
            return None
        body = message.payload
        if body.get("lat") is None or body.get("lon") is None:
            return None
        params = {"id": device, "lat": str(body["lat"]), "lon": str(body["lon"])}
        params["timestamp"] = str(int(message.ts * 1000))  # ms: Traccar's rule reads them so
        if message.topic.endswith("/alert"):
            params["alarm"] = str(body["type"])
        elif not message.topic.endswith("/gps"):
            return None
        for ours, theirs, scale in (
            ("accuracy", "accuracy", 1.0),
            ("speed", "speed", KNOTS_PER_MPS),
            ("heading", "bearing", 1.0),
            ("battery", "batt", 1.0),
        ):
            if body.get(ours) is not None:
                params[theirs] = f"{body[ours] * scale:.6g}"
        return device, params


class PhoneSender:
    """Sends each message the way its device speaks: `mqtt` for vigil's topics and
    OwnTracks', HTTP for Traccar Client's (`osmand_url`, `password_of` a device)."""

    def __init__(
        self,
        phones: Phones,
        mqtt: Callable[[Outgoing], None],
        osmand_url: str = "",
        password_of: Callable[[str], str] | None = None,
    ) -> None:
        self.phones, self.mqtt = phones, mqtt
        self.url, self.password_of = osmand_url, password_of
        self.sent: Counter[str] = Counter()
        self._pending: list[Future[int]] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(HTTP_WORKERS, thread_name_prefix="vigil-osmand-sim")
        self.stopping = threading.Event()

    def send(self, message: Outgoing) -> None:
        request = self.phones.as_osmand(message) if self.url else None
        if request is not None:
            with self._lock:
                self._pending = [f for f in self._pending if not f.done()]
                self._pending.append(self._pool.submit(self._post, *request))
            self.sent["osmand"] += 1
            return
        translated = self.phones.as_owntracks(message)
        self.sent["owntracks" if translated else "mqtt"] += 1
        self.mqtt(translated or message)

    def close(self, timeout_s: float = 30.0) -> int:
        """Wait for the requests in flight; returns how many vigil did not answer 200."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            pending = list(self._pending)
        missing = 0
        for future in pending:
            try:
                status = future.result(timeout=max(deadline - time.monotonic(), 0.01))
            except Exception:
                status = 0
            missing += status != 200
        self.stopping.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        return missing

    def _post(self, device: str, params: dict[str, str]) -> int:
        """One fix, sent again until vigil answers 200 (or a 4xx: it is refused for good)."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = httpx.Client(timeout=60)
        password = self.password_of(device) if self.password_of else ""
        while True:
            try:
                status = client.post(self.url, params=params, auth=(device, password)).status_code
            except httpx.HTTPError:
                status = 0
            if status == 200 or 400 <= status < 500 or self.stopping.is_set():
                return status
            time.sleep(RETRY_S)
