"""CommandDesk: downlink commands operators send from the API, and the devices' replies.

A command goes out on `device/{id}/cmd` as `{cmd_id, type, args}` (QoS 1) through a
Downlink with a stable client id, so replies sent while the actor restarts wait at
the broker. Its network loop runs on the desk's `Threads`: `get_stats()["threads"]`
shows its heartbeat, and a loop that dies ends the actor (Ray restarts it). The desk
remembers the last `REMEMBERED` commands and their replies.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter, OrderedDict
from typing import Any

import ray

from actors.edge.downlink import CommandReply, Downlink
from actors.registry import current_fleet
from core.fleet import Fleet, FleetIndex
from core.loops import Threads
from core.settings import Settings

REMEMBERED = 10_000


@ray.remote
class CommandDesk:
    def __init__(self, settings: Settings) -> None:
        self.sent: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.stats: Counter[str] = Counter({"sent": 0, "replies": 0, "unknown_replies": 0})
        self._lock = threading.Lock()  # the network thread records replies
        self.threads = Threads("vigil-commands")
        self.downlink = Downlink(settings, self._on_reply, "vigil-commands", self.threads)
        self.downlink.phones = FleetIndex(current_fleet(settings)).phone_of

    def update_fleet(self, fleet: Fleet) -> int:
        """A changed fleet (the API's edits): which devices are OwnTracks phones."""
        self.downlink.phones = FleetIndex(fleet).phone_of
        return len(fleet.devices)

    def send(
        self, device_id: str, client_id: int, cmd_type: str, args: dict[str, Any], who: str
    ) -> dict[str, Any]:
        cmd_id = uuid.uuid4().hex[:16]
        command = {
            "cmd_id": cmd_id,
            "device_id": device_id,
            "client_id": client_id,
            "type": cmd_type,
            "args": args,
            "by": who,
            "sent_at": time.time_ns() // 1000,
            "reply": None,
            "replied_at": None,
        }
        with self._lock:
            self.sent[cmd_id] = command
            while len(self.sent) > REMEMBERED:
                self.sent.popitem(last=False)
        if self.downlink.send(device_id, cmd_id, cmd_type, args):
            self.stats["sent"] += 1
        else:  # an OwnTracks phone has no such command: say so, do not wait for a reply
            with self._lock:
                command["reply"] = "unsupported"
            self.stats["unsupported"] += 1
        return command

    def commands(self, device_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """A device's commands, newest first."""
        with self._lock:
            found = [c for c in reversed(self.sent.values()) if c["device_id"] == device_id]
            return [dict(c) for c in found[:limit]]

    def get_stats(self) -> dict[str, Any]:
        return {
            **self.stats,
            "downlink": self.downlink.report(),
            "connected": self.downlink.connected,  # `vigil health` reads it
            "threads": self.threads.report(),
            "problems": self.threads.problems(),
        }

    def _on_reply(self, reply: CommandReply) -> None:
        with self._lock:
            command = self.sent.get(reply.cmd_id)
            if command is None or command["device_id"] != reply.device_id:
                self.stats["unknown_replies"] += 1  # the router's alarm_ack replies come too
                return
            command["reply"] = reply.status
            command["replied_at"] = time.time_ns() // 1000
        self.stats["replies"] += 1
