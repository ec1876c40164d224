"""The NOC feed as a page sees it: a gateway socket that reconnects with its last seq, and
the REST reload a page makes when the feed says it cannot replay (a Hub restart)."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import connect


class FeedWatcher:
    def __init__(self, ws_port: int, http_port: int, token: str) -> None:
        self.ws_url = f"ws://127.0.0.1:{ws_port}/ws"
        self.api = f"http://127.0.0.1:{http_port}/api/alerts?limit=5000"
        self.token = token
        self.seen: dict[str, float] = {}  # alert id -> when it first reached the feed
        self.reconnects = 0
        self._lock = threading.Lock()
        self._stop = False
        self._since: int | None = None
        self._epoch: str | None = None
        self._thread = threading.Thread(target=self._run, name="feed", daemon=True)

    def start(self) -> FeedWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop = True
        self._thread.join(timeout=10)

    def has(self, alert_id: str) -> bool:
        with self._lock:
            return alert_id in self.seen

    def _run(self) -> None:
        while not self._stop:
            query = f"?token={self.token}&positions=0"
            if self._since is not None:
                query += f"&since={self._since}&epoch={self._epoch}"
            try:
                with connect(self.ws_url + query, open_timeout=5) as ws:
                    self.reconnects += 1
                    while not self._stop:
                        try:
                            self._take(json.loads(ws.recv(timeout=0.5)))
                        except TimeoutError:
                            continue
            except (OSError, InvalidHandshake, ConnectionClosed, TimeoutError):
                time.sleep(0.2)  # the gateway restarting: try again, as the page does

    def _take(self, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            if message.get("type") == "hello":
                data = message["data"]
                self._epoch = data.get("epoch")
                self._since = data.get("seq", self._since)
                if not data.get("complete", True):
                    self._reload()
                continue
            if "seq" in message:
                self._since = message["seq"]
            if message.get("type") == "alert":
                self._note(message["data"]["alert_id"])

    def _reload(self) -> None:
        request = urllib.request.Request(
            self.api, headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            for alert in json.loads(response.read()):
                self._note(alert["alert_id"])

    def _note(self, alert_id: str) -> None:
        with self._lock:
            self.seen.setdefault(alert_id, time.monotonic())
