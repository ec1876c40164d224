"""Broker logins: one per device and per sensor, one per vigil client, each with its ACL.

The broker `vigil up` starts lets nobody in anonymously. Each device of the fleet logs
in as its id and may publish only its own uplink topics (`device/{id}/...` and the
`guard/{guard}/gps` of the guards carrying it, and a phone its `owntracks/{user}/{device}`
and `.../event`) and read only `device/{id}/cmd` (and `owntracks/{user}/{device}/cmd`); a
sensor's gateway logs in as `sensor/{id}` and may publish only `sensor/{id}/reading`
(ids never hold a `/`, so the two can not meet, nor meet vigil's own `vigil/...`).

Passwords are not stored anywhere: each is an HMAC of the login and its generation
under a secret kept in the data dir (`.broker_secret`, 0600), so `vigil device
credentials` can print one at any time and a rotation (the generation + 1, kept in
`broker_generations.json`) makes the old one worthless. Mosquitto holds only salted
PBKDF2 hashes, in its dynamic-security plugin, which vigil seeds at start and edits
live (`$CONTROL/dynamic-security/v1`) when the fleet or a password changes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from core.broker import BrokerAddress
from core.errors import VigilError
from core.fleet import Fleet
from core.keys import data_secret
from core.topics import owntracks_topic

INGEST, DOWNLINK = "vigil/ingest", "vigil/downlink"
SIMULATOR, ADMIN = "vigil/simulator", "vigil/admin"
SECRET_FILE = ".broker_secret"
GENERATIONS_FILE = "broker_generations.json"
#: The passwords are 256-bit HMACs, not words a person chose: key stretching adds nothing,
#: and Mosquitto checks every CONNECT with it. 101 is Mosquitto's own default.
ITERATIONS = 101
CONTROL = "$CONTROL/dynamic-security/v1"


class CredentialsError(VigilError):
    pass


@dataclass(frozen=True)
class Account:
    """A broker login and what it may do: topic filters it may publish and subscribe to."""

    username: str
    password: str = field(repr=False)
    publish: tuple[str, ...] = ()
    subscribe: tuple[str, ...] = ()


def sensor_login(sensor_id: str) -> str:
    return f"sensor/{sensor_id}"


class Credentials:
    """The passwords of one vigil (its data dir): derived, rotated, never stored."""

    def __init__(self, data_dir: str | Path) -> None:
        self.folder = Path(data_dir)
        self._secret = data_secret(self.folder / SECRET_FILE).encode()

    def password(self, username: str, generations: dict[str, int] | None = None) -> str:
        generation = (self.generations() if generations is None else generations).get(username, 0)
        digest = hmac.digest(self._secret, f"{username}\n{generation}".encode(), "sha256")
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def rotate(self, username: str) -> str:
        """A new password for `username` (durable before it returns); the old one is void."""
        generations = self.generations()
        generations[username] = generations.get(username, 0) + 1
        path = self.folder / GENERATIONS_FILE
        partial = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(generations, out, indent=1)
            out.flush()
            os.fsync(out.fileno())
        partial.replace(path)
        return self.password(username, generations)

    def generations(self) -> dict[str, int]:
        try:
            return dict(json.loads((self.folder / GENERATIONS_FILE).read_text()))
        except FileNotFoundError:
            return {}

    def login(self, address: BrokerAddress, username: str) -> BrokerAddress:
        """`address` logged in as `username`."""
        return replace(address, username=username, password=self.password(username))

    def service_accounts(self) -> list[Account]:
        """vigil's own clients: the ingest slots (and `vigil health`), the downlink of
        commands, the simulator, the admin of the accounts."""
        return [
            self._account(INGEST, subscribe=("#",)),
            self._account(
                DOWNLINK,
                publish=("device/+/cmd", owntracks_topic("+/+", "cmd")),
                subscribe=("device/+/cmd/ack",),
            ),
            self._account(
                SIMULATOR,
                publish=("guard/#", "device/#", "sensor/#", "owntracks/#"),
                subscribe=("device/+/cmd",),
            ),
            self._account(ADMIN, publish=(CONTROL,), subscribe=(f"{CONTROL}/response",)),
        ]

    def fleet_accounts(self, fleet: Fleet) -> dict[str, Account]:
        """One account per device and per sensor of `fleet`, by login."""
        generations = self.generations()
        carriers: dict[str, list[str]] = defaultdict(list)
        for guard in fleet.guards:
            if guard.device_id:
                carriers[guard.device_id].append(guard.id)
        found: dict[str, Account] = {}
        for device in fleet.devices:
            own = [f"device/{device.id}/{kind}" for kind in ("telemetry", "alert", "status")]
            own += [f"device/{device.id}/cmd/ack"]
            own += [f"guard/{guard}/gps" for guard in carriers[device.id]]
            subscribe: tuple[str, ...] = (f"device/{device.id}/cmd",)
            if device.owntracks:  # a phone speaking OwnTracks: its own topics, its commands
                own += [
                    owntracks_topic(device.owntracks),
                    owntracks_topic(device.owntracks, "event"),
                ]
                subscribe += (owntracks_topic(device.owntracks, "cmd"),)
            found[device.id] = Account(
                device.id, self.password(device.id, generations), tuple(own), subscribe
            )
        for sensor in fleet.sensors:
            login = sensor_login(sensor.id)
            topic = f"sensor/{sensor.id}/reading"
            found[login] = Account(login, self.password(login, generations), (topic,))
        return found

    def _account(self, username: str, **acls: tuple[str, ...]) -> Account:
        return Account(username, self.password(username), **acls)


# -- Mosquitto's dynamic-security plugin ---------------------------------------------------


def dynsec_config(accounts: Iterable[Account]) -> dict[str, Any]:
    """The plugin's whole configuration file: every account a client and a role of its own;
    whatever no role allows is refused (publishing, subscribing) from the first CONNECT."""
    clients, roles = [], []
    for account in accounts:
        salt = secrets.token_bytes(12)
        digest = hashlib.pbkdf2_hmac("sha512", account.password.encode(), salt, ITERATIONS)
        clients.append(
            {
                "username": account.username,
                "roles": [{"rolename": account.username}],
                "password": base64.b64encode(digest).decode(),
                "salt": base64.b64encode(salt).decode(),
                "iterations": ITERATIONS,
            }
        )
        roles.append({"rolename": account.username, "acls": _acls(account)})
    default = {"publishClientSend": False, "publishClientReceive": True}
    return {
        "defaultACLAccess": default | {"subscribe": False, "unsubscribe": True},
        "clients": clients,
        "groups": [],
        "roles": roles,
    }


def changes(before: dict[str, Account], after: dict[str, Account]) -> list[dict[str, Any]]:
    """The plugin commands that turn the accounts `before` into `after`: each account gone
    or whose rights changed is deleted (which disconnects its client), each new or changed
    one created, deleted first so that sending them twice does no harm. A password alone is
    not compared: a rotation sets it itself."""

    def rights(account: Account | None) -> Any:
        return account and (account.publish, account.subscribe)

    commands: list[dict[str, Any]] = []
    for name in before.keys() | after.keys():
        new = after.get(name)
        if rights(before.get(name)) == rights(new):
            continue
        commands += [
            {"command": "deleteClient", "username": name},
            {"command": "deleteRole", "rolename": name},
        ]
        if new is not None:
            commands += [
                {"command": "createRole", "rolename": name, "acls": _acls(new)},
                {
                    "command": "createClient",
                    "username": name,
                    "password": new.password,
                    "roles": [{"rolename": name}],
                },
            ]
    return commands


def set_password(username: str, password: str) -> dict[str, Any]:
    """The command that re-keys a login; Mosquitto disconnects a client using the old one."""
    return {"command": "setClientPassword", "username": username, "password": password}


def _acls(account: Account) -> list[dict[str, Any]]:
    sends = [{"acltype": "publishClientSend", "topic": t, "allow": True} for t in account.publish]
    subs = [
        {"acltype": kind, "topic": t, "allow": True}
        for t in account.subscribe
        for kind in ("subscribePattern", "publishClientReceive")
    ]
    return sends + subs


def control(address: BrokerAddress, commands: list[dict[str, Any]], timeout: float = 30) -> None:
    """Send plugin commands as `address`'s login (vigil/admin) and wait for every answer;
    CredentialsError naming the first command the broker refused."""
    import threading

    import paho.mqtt.client as mqtt

    if not commands:
        return
    chunks = [commands[i : i + 200] for i in range(0, len(commands), 200)]  # < max packet
    answers: list[dict[str, Any]] = []
    done, subscribed = threading.Event(), threading.Event()

    def on_message(_c: Any, _u: Any, message: Any) -> None:
        answers.extend(json.loads(message.payload).get("responses", []))
        if len(answers) >= len(commands):
            done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    address.configure(client)
    client.on_message = on_message
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_connect = lambda c, _u, _f, code, _p: c.subscribe(f"{CONTROL}/response", qos=1)
    client.connect(address.host, address.port)
    client.loop_start()
    try:
        if not subscribed.wait(timeout):
            raise CredentialsError(f"broker {address.redacted}: no answer as {address.username}")
        for chunk in chunks:
            client.publish(CONTROL, json.dumps({"commands": chunk}), qos=1)
        if not done.wait(timeout):
            raise CredentialsError(f"broker {address.redacted}: commands unanswered")
    finally:
        client.disconnect()
        client.loop_stop()
    for answer in answers:
        error = answer.get("error")
        # Deleting what is not there is what an idempotent change asks for.
        if error and not (answer["command"].startswith("delete") and "not found" in error):
            raise CredentialsError(f"broker refused {answer['command']}: {error}")
