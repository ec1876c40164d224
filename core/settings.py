"""Every tunable of vigil, declared once with its default and a one-line doc.

Code receives a `Settings` value; nothing reads the environment on its own. `vigil up`
builds it with `load`: defaults, then a TOML file, then `VIGIL_*` variables, then flags,
each checked against the field's type, keeping where every value came from.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, get_type_hints

import msgspec

from core.broker import BrokerAddress
from core.errors import ConfigError

#: A configured token secret shorter than this is refused (vigil's own: 64 hex digits).
MIN_SECRET_CHARS = 32
SAMPLE_FLEET = Path(__file__).resolve().parent.parent / "fleet" / "sample.yaml"


@dataclass(frozen=True, slots=True)
class Settings:
    #: MQTT broker: mqtt://host:port, or mqtts://user:password@host:port (TLS, 8883).
    broker_url: str = "mqtt://127.0.0.1:1883"
    #: mqtts:// only: the CA file (PEM) that signed the broker's certificate; "" = the system's.
    broker_ca_file: str = ""
    #: vigil keeps the broker's logins and ACLs (core/credentials.py): on for the Mosquitto
    #: `vigil up` starts, so fleet edits and rotations reach it live; off for --broker.
    broker_accounts: bool = False
    #: Root of the Parquet lake (a local folder).
    data_dir: Path = Path("data")
    #: Fleet file (YAML): tenants, sites, zones, guards, devices, sensors.
    fleet_path: Path = SAMPLE_FLEET
    #: Port of the Serve HTTP app.
    http_port: int = 8000
    #: Ray namespace holding vigil's named actors.
    namespace: str = "vigil"
    #: Number of MQTT ingest actors sharing the subscription. One is cheapest on a small
    #: machine (docs/performance.md): more add Ray calls per message; add them with cores.
    ingest_actors: int = 1
    #: Number of entity shards hosting the logical actors (one per few cores, likewise).
    shards: int = 1
    #: A bulk batch is sent when it holds this many messages...
    batch_max_messages: int = 500
    #: ...or when its oldest message has waited this long (ms).
    batch_max_ms: float = 5.0
    #: Bulk batches in flight per ingest actor before it stops reading (back-pressure).
    inflight_batches: int = 2
    #: MQTT v5 receive maximum: unacknowledged messages the broker may send one ingest client.
    receive_maximum: int = 2000
    #: Payloads larger than this are dead-lettered (bytes).
    max_payload_bytes: int = 16_384
    #: Timestamps further than this in the future are dead-lettered (s).
    max_future_skew_s: float = 300.0
    #: How much of a bad payload a dead letter keeps (bytes).
    dead_letter_payload_bytes: int = 1024
    #: The storage log is rolled into Parquet at least this often (s).
    roll_seconds: float = 5.0
    #: ...or when it holds this many rows.
    roll_rows: int = 200_000
    #: Where the Parquet files go: a pyarrow.fs URI (s3://bucket/lake); empty: `data_dir`.
    lake_uri: str = ""
    #: Compaction merges a partition's small files once this many have gathered...
    compact_min_files: int = 8
    #: ...or once the oldest of them is this old (s).
    compact_after_s: float = 60.0
    #: Files this large (MiB) are sealed and never merged again.
    compact_seal_mb: int = 128
    #: The writer checks for compaction and retention this often (s).
    maintenance_s: float = 5.0
    #: Days of data kept per table (partitions older are deleted); absent or 0: forever.
    retention_days: dict[str, int] = field(default_factory=lambda: {"dead_letters": 90})
    #: Shards push live positions to the Hub at most this often (s); newer fixes coalesce.
    position_push_s: float = 0.2
    #: Shards run their timers (offline detection) this often (s).
    tick_seconds: float = 1.0
    #: Shards checkpoint their logical actors' state this often (s), when it changed; a
    #: restarted shard replays the lake from its checkpoint (docs/checkpoints.md).
    checkpoint_s: float = 10.0
    #: `vigil health` fails an ingest slot whose oldest unacknowledged message waited longer (s).
    health_max_ack_age_s: float = 30.0
    #: `vigil health` fails an actor restarted this recently (s): a crash is an incident.
    health_restart_window_s: float = 60.0
    #: Battery (%) below which a device is low; it must recover above `battery_ok_pct`.
    low_battery_pct: float = 20.0
    #: Battery (%) above which a low-battery device counts as recovered.
    battery_ok_pct: float = 30.0
    #: Signal below this (dBm, values <= 0) is weak; recovery needs 6 dB more.
    weak_signal_dbm: float = -105.0
    #: Signal below this (%, values > 0) is weak; recovery needs 10 points more.
    weak_signal_pct: float = 15.0
    #: Smallest margin (m) around a zone border inside which a fix never flips the state.
    geofence_margin_m: float = 15.0
    #: A repeat of an unresolved alert's dedup key this soon (s) after its last one only counts.
    dedup_window_s: float = 300.0
    #: Related alerts (one tenant, one site or entity) this close in time (s) share an incident.
    incident_window_s: float = 600.0
    #: The router looks for due escalations of unacknowledged critical alerts this often (s).
    escalation_tick_s: float = 0.2
    #: On restart the router reloads alerts active this recently (s), and every unresolved one.
    alert_memory_s: float = 7 * 86_400.0
    #: Delivery attempts per notification before it is dead-lettered.
    notify_attempts: int = 5
    #: Back-off before the first retry (s); it doubles with every attempt...
    notify_backoff_s: float = 1.0
    #: ...up to this (s).
    notify_backoff_max_s: float = 60.0
    #: One delivery attempt gives up after this long (s).
    notify_timeout_s: float = 10.0
    #: Deliveries running at once per channel (a slow channel never holds another's).
    notify_workers: int = 4
    #: Deliveries waiting per channel; beyond it a notification is dead-lettered and counted.
    notify_queue: int = 10_000
    #: Seconds without a message after which a device of each class is offline.
    offline_after_s: dict[str, float] = field(
        default_factory=lambda: {"tracker": 300.0, "panic_button": 900.0, "sensor": 1800.0}
    )
    # -- the Serve app (serve/) --
    #: Secret signing API tokens; empty: read from <data_dir>/.secret (created, mode 0600).
    token_secret: str = ""
    #: A scrape of /metrics must send it as a bearer token; empty: /metrics is open.
    metrics_token: str = ""
    #: The longest lifetime a token may be issued with (h).
    token_max_ttl_h: float = 168.0
    #: Lifetime of a token `vigil token create` prints, unless told otherwise (h).
    token_ttl_h: float = 12.0
    #: TLS certificate and key (PEM) for https/wss; empty: plain http/ws.
    tls_certfile: str = ""
    tls_keyfile: str = ""
    #: Requests (WebSocket connections included) one Serve replica takes at once.
    serve_max_ongoing_requests: int = 2000
    #: The largest request body the API takes (bytes); a larger one is a 413.
    api_max_body_bytes: int = 1 << 20
    #: Web origins whose pages may call the API (CORS), space-separated, such as
    #: "https://noc.example.com"; empty: none but the NOC page's own.
    cors_origins: str = ""
    #: Serve replicas of the NOC app.
    serve_replicas: int = 1
    #: Messages waiting per WebSocket client; a client that cannot take an alert is dropped.
    ws_queue: int = 1000
    #: Port of the direct WebSocket gateway (/ws outside Serve's proxy, far faster fan-out);
    #: 0: none, the page uses Serve's /ws.
    ws_port: int = 0
    #: Port of the Traccar Client (OsmAnd) HTTP ingress (actors/edge/osmand.py); 0: none.
    #: `vigil up` opens Traccar's own 5055 unless told otherwise.
    osmand_port: int = 0
    #: Where that ingress listens: phones reach it from the network.
    osmand_host: str = "0.0.0.0"
    #: A WebSocket client gets at most one position update per guard this often (s).
    ws_position_interval_s: float = 0.5

    # -- training (training/) --
    #: CPUs the Ray Train worker asks for (vigil's actors take none; a busy node still fits it).
    train_worker_cpus: float = 0.1
    #: Ray Train's controller polls its worker this often (s); reports wait for the poll.
    train_poll_s: float = 0.5

    # -- the notification outbox (actors/notify/outbox.py) --
    #: A restarted notifier resumes deliveries, and a restarted router hands over tiers it had
    #: not handed over, of alerts raised or escalated this recently (s).
    notify_outbox_s: float = 86_400.0

    def __post_init__(self) -> None:
        if self.token_secret and len(self.token_secret) < MIN_SECRET_CHARS:
            raise ConfigError(
                f"token_secret: at least {MIN_SECRET_CHARS} characters (a guessable secret "
                f"forges every token), got {len(self.token_secret)}; leave it empty and vigil "
                "makes one"
            )

    @property
    def broker_address(self) -> BrokerAddress:
        """`broker_url` and `broker_ca_file`: where every vigil client connects, and how."""
        return BrokerAddress.parse(self.broker_url, self.broker_ca_file)

    @property
    def cors_allowed(self) -> list[str]:
        return self.cors_origins.split()

    @property
    def lake(self) -> str:
        """The lake root as a URI or local path."""
        return self.lake_uri or str(self.data_dir)

    def offline_timeout(self, device_class: str) -> float:
        return self.offline_after_s.get(device_class, self.offline_after_s["tracker"])

    def with_(self, **changes: Any) -> Settings:
        unknown = set(changes) - set(asdict(self))
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return replace(self, **changes)


# -- loading: defaults < file < environment < flags --

#: The source of a value no file, variable or flag set.
DEFAULT = "default"
ENV_PREFIX = "VIGIL_"
#: vigil's environment variables that are not settings; any other `VIGIL_*` fails the start.
OTHER_ENV = frozenset(
    {
        "VIGIL_TOKEN",  # `vigil train`'s bearer token
        "VIGIL_DETACHED",  # set by `vigil up --detach` in the process it starts
        "VIGIL_DATA",  # the notebooks' lake,
        "VIGIL_PLOTS",  # ...where they save their figures,
        "VIGIL_GUARD",  # ...and the guard they plot
        "VIGIL_BROKER",  # cluster.yaml's, passed to `vigil up` as --broker
        "VIGIL_LAKE",  # ...and --lake
    }
)
#: One layer of values: setting -> (value, where it came from).
Layer = dict[str, tuple[Any, str]]

_TYPES: dict[str, Any] = get_type_hints(Settings)
_EXPECTED: dict[Any, str] = {
    int: "an integer",
    float: "a number",
    str: "a string",
    bool: "true or false",
    Path: "a path (a string)",
    dict[str, int]: "a table of integers",
    dict[str, float]: "a table of numbers",
}
#: The dict-valued fields' types, with the type of their values.
_TABLES: dict[Any, type] = {dict[str, int]: int, dict[str, float]: float}


@dataclass(frozen=True, slots=True)
class Loaded:
    """The effective settings and, for each, where its value came from."""

    settings: Settings
    #: setting -> "default", the file, the `VIGIL_*` variable or the flag that set it; a
    #: table's keys merge over the layers below, so its source lists them ("default + f.toml").
    sources: dict[str, str]


def load(*layers: Layer) -> Loaded:
    """The defaults overlaid with `layers`, lowest first (file, environment, flags)."""
    values = asdict(Settings())
    sources = dict.fromkeys(values, DEFAULT)
    for layer in layers:
        for name, (value, source) in layer.items():
            if isinstance(value, dict):  # merged: {sensor = 600} keeps the other classes
                values[name] = {**values[name], **value}
                sources[name] = f"{sources[name]} + {source}"
            else:
                values[name] = value
                sources[name] = source
    settings = Settings(**values)
    try:
        settings.broker_address  # noqa: B018 -- checks the URL's shape
    except ConfigError as exc:
        raise ConfigError(f"{sources['broker_url']}: {exc}") from None
    return Loaded(settings, sources)


def from_file(path: Path) -> Layer:
    """The settings of a TOML file: top-level keys named as the fields, tables for dicts."""
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    layer: Layer = {}
    for key, value in table.items():
        if key not in _TYPES:
            raise ConfigError(f"{path}: unknown setting {key!r}{_did_you_mean(key, _TYPES)}")
        layer[key] = (_convert(key, value, f"{path}: {key}", strict=True), str(path))
    return layer


def from_env(env: Mapping[str, str]) -> Layer:
    """The settings of `VIGIL_<NAME>` variables (VIGIL_HTTP_PORT=8080); tables as JSON
    objects (VIGIL_OFFLINE_AFTER_S='{"sensor": 600}')."""
    names = {ENV_PREFIX + name.upper(): name for name in _TYPES}
    layer: Layer = {}
    for var, text in env.items():
        if not var.startswith(ENV_PREFIX) or var in OTHER_ENV:
            continue
        if var not in names:
            raise ConfigError(f"{var}: no such setting{_did_you_mean(var, names)}")
        name = names[var]
        value: Any = text
        if _TYPES[name] in _TABLES:
            try:
                value = msgspec.json.decode(text)
            except msgspec.DecodeError:
                example = msgspec.json.encode(getattr(Settings(), name)).decode()
                raise ConfigError(
                    f"{var}: expected a JSON object such as '{example}', got {text!r}"
                ) from None
        layer[name] = (_convert(name, value, var, strict=False), var)
    return layer


def from_flags(given: Mapping[str, Any], flags: Mapping[str, str]) -> Layer:
    """The settings given on the command line: `given` by setting (None: not given), with
    `flags` naming the flag of each (http_port -> --http-port)."""
    return {
        name: (_convert(name, value, flags[name], strict=True), flags[name])
        for name, value in given.items()
        if value is not None
    }


def _convert(name: str, value: Any, where: str, strict: bool) -> Any:
    """`value` as the field's type; `strict=False` also reads numbers from strings."""
    expected = _TYPES[name]
    if expected in _TABLES and isinstance(value, dict):  # each entry checked, and named
        item = _TABLES[expected]
        return {str(k): _as(item, v, f"{where}.{k}", strict) for k, v in value.items()}
    return _as(expected, value, where, strict)


def _as(expected: Any, value: Any, where: str, strict: bool) -> Any:
    try:
        return msgspec.convert(value, expected, strict=strict, dec_hook=_path)
    except msgspec.ValidationError:
        got = f"{value!r} ({type(value).__name__})"
        raise ConfigError(f"{where}: expected {_EXPECTED[expected]}, got {got}") from None


def _path(kind: type, value: Any) -> Any:
    if kind is Path and isinstance(value, str | Path):
        return Path(value)
    raise TypeError(f"expected a string, got {value!r}")  # msgspec: a ValidationError


def _did_you_mean(key: str, known: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    return f" (did you mean {close[0]}?)" if close else ""
