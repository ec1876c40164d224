"""What `vigil up` runs with: the defaults, the --config file, `VIGIL_*` variables and the
flags (core/settings.load), then the command's own defaults: a local Mosquitto unless a
broker is named, the live feed's gateway beside the HTTP port unless a port is, and the
Traccar Client ingress on Traccar's port 5055 unless another is."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console

from core.broker import BrokerAddress
from core.settings import DEFAULT, Loaded, from_env, from_file, from_flags, load

#: `vigil up`'s flags that set a setting, by setting.
FLAGS = {
    "fleet_path": "--fleet",
    "data_dir": "--data",
    "broker_url": "--broker",
    "http_port": "--http-port",
    "lake_uri": "--lake",
    "tls_certfile": "--tls-cert",
    "tls_keyfile": "--tls-key",
    "ws_port": "--ws-port",
    "osmand_port": "--osmand-port",
}
#: Port of the Traccar Client (OsmAnd) ingress when --osmand-port is not given: Traccar's own.
OSMAND_PORT = 5055
#: Port of the local Mosquitto when --mqtt-port is not given.
MQTT_PORT = 1883
#: Settings `vigil config show` never prints.
SECRETS = frozenset({"token_secret"})


def configure(
    config: Path | None, env: Mapping[str, str], flags: Mapping[str, Any], mqtt_port: int | None
) -> tuple[Loaded, int | None]:
    """The settings `vigil up` runs with (`flags` by setting, None: not given), and the port
    of the Mosquitto it starts; None when the file, a variable or --broker names a broker."""
    loaded = load(from_file(config) if config else {}, from_env(env), from_flags(flags, FLAGS))
    settings, sources = loaded.settings, dict(loaded.sources)
    changes: dict[str, Any] = {"data_dir": settings.data_dir.resolve()}
    local = sources["broker_url"] == DEFAULT
    port = mqtt_port or MQTT_PORT
    if local:
        changes["broker_url"] = f"mqtt://127.0.0.1:{port}"
        sources["broker_url"] = f"{'--mqtt-port' if mqtt_port else DEFAULT} (local Mosquitto)"
    if sources["ws_port"] == DEFAULT:
        changes["ws_port"] = settings.http_port + 1
        sources["ws_port"] = f"{DEFAULT} (HTTP port + 1)"
    if sources["osmand_port"] == DEFAULT:
        changes["osmand_port"] = OSMAND_PORT
        sources["osmand_port"] = f"{DEFAULT} (Traccar's)"
    return Loaded(settings.with_(**changes), sources), port if local else None


def show(loaded: Loaded, console: Console) -> None:
    """Every setting, its value and where the value came from, one per line in columns
    (whole lines, never folded: `vigil config show | grep port` finds a setting)."""
    lines = [("setting", "value", "source")] + [
        (name, _shown(name, value), loaded.sources[name])
        for name, value in asdict(loaded.settings).items()
    ]
    widths = [max(len(line[i]) for line in lines) for i in (0, 1)]
    for name, value, source in lines:
        row = f"{name:<{widths[0]}}  {value:<{widths[1]}}  {source}"
        console.print(row, markup=False, highlight=False, soft_wrap=True)


def _shown(name: str, value: Any) -> str:
    if name in SECRETS and value:
        return "(set, not shown)"
    if name == "broker_url":
        return BrokerAddress.parse(value).redacted  # checked by load: it parses
    if isinstance(value, dict):
        return ", ".join(f"{key} = {item}" for key, item in value.items())
    return str(value) if value != "" else '""'
