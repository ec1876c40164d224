"""`vigil device credentials|rotate`: a device's broker login, and a new one at once.

A device logs in as its id, a sensor's gateway as `sensor/{id}` (core/credentials.py).
Both commands work whether vigil runs or not: the password is derived from the data
dir's secret, and a rotation is on disk before the running broker is told (Mosquitto then
disconnects the client holding the old password); a broker not running takes the new
password when `vigil up` seeds it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from cli import health
from core.broker import BrokerAddress
from core.credentials import (
    ADMIN,
    SIMULATOR,
    Credentials,
    CredentialsError,
    control,
    sensor_login,
    set_password,
)
from core.fleet import load_fleet
from core.settings import Settings

device_app = typer.Typer(help="Devices' broker logins.", no_args_is_help=True)
errors = Console(stderr=True)

DeviceArgument = Annotated[
    str, typer.Argument(help="A device id, or sensor/ID for a sensor's gateway.")
]
DataOption = Annotated[Path, typer.Option(help="The --data folder vigil runs with.")]
FleetOption = Annotated[
    Path | None,
    typer.Option(help="The fleet file, when vigil has not yet started with --data."),
]


@device_app.command("credentials")
def credentials(
    device: DeviceArgument, data: DataOption = Path("data"), fleet: FleetOption = None
) -> None:
    """Print `USERNAME PASSWORD`: the device's login on vigil's broker."""
    login = known_login(device, data.resolve(), fleet)
    print(login, Credentials(data.resolve()).password(login))


@device_app.command("rotate")
def rotate(
    device: DeviceArgument, data: DataOption = Path("data"), fleet: FleetOption = None
) -> None:
    """Give the device a new password and refuse the old one from now on; prints
    `USERNAME PASSWORD` with the new one."""
    folder = data.resolve()
    login = known_login(device, folder, fleet)
    try:
        state = health.read_state(folder)
    except FileNotFoundError:
        state = {}
    running = None
    if state.get("broker_accounts"):
        running = BrokerAddress.parse(state["broker_url"], state.get("broker_ca_file", ""))
    try:
        password = rotate_login(folder, login, running)
    except OSError:  # its broker is not running: it starts with the new password
        password = Credentials(folder).password(login)
        errors.print("vigil's broker is not running; it will start with the new password")
    except CredentialsError as exc:
        errors.print(f"[red]✗[/] rotated on disk, but the broker did not take it: {exc}")
        raise typer.Exit(1) from None
    print(login, password)
    errors.print(f"[green]✓[/] {login}: new password; the old one is refused from now on")


def local_login(address: BrokerAddress, data: Path, username: str = SIMULATOR) -> BrokerAddress:
    """`address` logged in as `username` when it is the broker of the vigil running with
    `data` and no login was given: `vigil simulate` and `vigil verify` just work there."""
    try:
        state = health.read_state(data)
    except FileNotFoundError:
        return address
    running = BrokerAddress.parse(state["broker_url"])
    ours = (address.host, address.port) == (running.host, running.port)
    if address.username is None and state.get("broker_accounts") and ours:
        return Credentials(data).login(address, username)
    return address


def rotate_login(data: Path, login: str, running: BrokerAddress | None) -> str:
    """A new password for `login`, on disk first, then on the `running` broker of vigil's
    (which disconnects whoever holds the old one). Returns the new password."""
    credentials = Credentials(data)
    password = credentials.rotate(login)
    if running is not None:
        control(credentials.login(running, ADMIN), [set_password(login, password)])
    return password


def known_login(device: str, data: Path, fleet_path: Path | None) -> str:
    """`device`'s login, or exit 2 when the fleet vigil runs (or will run) has no such one."""
    from actors.registry import started_fleet

    fleet = started_fleet(data) if fleet_path is None else None
    if fleet is None:
        fleet = load_fleet(fleet_path or Settings().fleet_path)
    if device in {d.id for d in fleet.devices} or device in {
        sensor_login(s.id) for s in fleet.sensors
    }:
        return device
    errors.print(
        f"[red]✗[/] device {device!r}: not in the fleet ({len(fleet.devices)} devices, "
        f"{len(fleet.sensors)} sensors as sensor/ID)"
    )
    raise typer.Exit(2)
