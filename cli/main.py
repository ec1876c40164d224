"""The `vigil` command."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from cli import launcher
from cli.config import configure, show
from cli.device import device_app
from cli.simulate import simulate
from cli.verify import verify
from core.errors import ConfigError, VigilError
from core.settings import Loaded, Settings

app = typer.Typer(
    help="vigil: real-time operations backbone for security companies.", no_args_is_help=True
)
console = Console()


ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", help="Settings file (TOML); VIGIL_* variables override it, flags both."
    ),
]
FleetOption = Annotated[
    Path | None, typer.Option(help="Fleet file (YAML).", show_default="fleet/sample.yaml")
]
DataDirOption = Annotated[
    Path | None, typer.Option("--data", help="Lake root and runtime files.", show_default="data")
]
BrokerOption = Annotated[
    str | None,
    typer.Option(
        help="External broker: mqtt://host:port or mqtts://user:password@host:port "
        "(VIGIL_BROKER_CA_FILE: its CA).",
        show_default="a local one",
    ),
]
MqttPortOption = Annotated[
    int | None, typer.Option(help="Port of the local Mosquitto.", show_default="1883")
]
HttpPortOption = Annotated[
    int | None, typer.Option(help="Port of the dashboard and API.", show_default="8000")
]
LakeOption = Annotated[
    str | None,
    typer.Option(help="Lake root as a pyarrow.fs URI (s3://...).", show_default="--data"),
]
TlsCertOption = Annotated[
    str | None, typer.Option(help="TLS certificate (PEM): https, wss and the local MQTT over TLS.")
]
TlsKeyOption = Annotated[str | None, typer.Option(help="TLS private key (PEM) of --tls-cert.")]
WsPortOption = Annotated[
    int | None,
    typer.Option(
        help="Port of the live feed's WebSocket gateway (0: Serve's /ws only).",
        show_default="the HTTP port + 1",
    ),
]
OsmandPortOption = Annotated[
    int | None,
    typer.Option(
        help="Port of the Traccar Client (OsmAnd) HTTP ingress (0: none).", show_default="5055"
    ),
]


@app.command()
def up(
    config: ConfigOption = None,
    fleet: FleetOption = None,
    data: DataDirOption = None,
    broker: BrokerOption = None,
    mqtt_port: MqttPortOption = None,
    mqtts_port: Annotated[
        int, typer.Option(help="Port of the local Mosquitto's TLS listener (with --tls-cert).")
    ] = 8883,
    http_port: HttpPortOption = None,
    ray_dashboard_port: Annotated[int, typer.Option(help="Port of the Ray dashboard.")] = 8265,
    simulate: Annotated[int, typer.Option(help="Simulated guards (0: none).")] = 0,
    ray_address: Annotated[
        str, typer.Option(help="Ray to run on: `local` starts one, `auto` joins this node's.")
    ] = "local",
    lake: LakeOption = None,
    detach: Annotated[
        bool, typer.Option(help="Return once running; stop with `vigil down`.")
    ] = False,
    tls_cert: TlsCertOption = None,
    tls_key: TlsKeyOption = None,
    ws_port: WsPortOption = None,
    osmand_port: OsmandPortOption = None,
) -> None:
    """Start vigil on this machine: broker, Ray, actors, the Serve app, a simulated fleet.

    Flags override VIGIL_* variables, which override --config; `vigil config show` lists all."""
    if simulate < 0:
        raise typer.BadParameter("must be 0 or more", param_hint="--simulate")
    flags = _flags(fleet, data, broker, http_port, lake, tls_cert, tls_key, ws_port, osmand_port)
    loaded, local_mqtt_port = _configure(config, flags, mqtt_port)
    settings = loaded.settings
    data_dir, port = settings.data_dir, settings.http_port
    if detach:
        argv = [a for a in sys.argv[1:] if a != "--detach"]
        if settings.tls_certfile and "--tls-cert" not in argv:
            # spawn_detached asks for https only when it sees the flag; the child reads the
            # same file and variables, so naming the same files again changes nothing
            argv += ["--tls-cert", settings.tls_certfile, "--tls-key", settings.tls_keyfile]
        try:
            pid = launcher.spawn_detached(argv, data_dir, port, console)
        except VigilError as exc:
            console.print(f"[red]✗[/] {exc}")
            raise typer.Exit(1) from None
        _where(port, data_dir, f"running in the background (pid {pid}); stop with `vigil down`")
        return
    try:
        stack = launcher.start_stack(
            settings,
            simulate,
            local_mqtt_port,
            ray_dashboard_port,
            console,
            ray_address,
            mqtts_port=mqtts_port,
        )
    except VigilError as exc:
        console.print(f"[red]✗[/] {exc}")
        raise typer.Exit(1) from None
    try:
        _where(
            port,
            data_dir,
            "press Ctrl-C to stop",
            stack.dashboard_url,
            stack.settings.broker_address.redacted,
        )
        launcher.wait_for_signal()
        console.print("stopping…")
    finally:
        stack.close()
        if not os.environ.get("VIGIL_DETACHED"):
            (data_dir / launcher.PID_FILE).unlink(missing_ok=True)


app.command()(simulate)
app.command()(verify)


config_app = typer.Typer(
    help="Settings: the --config file, VIGIL_* variables, flags.", no_args_is_help=True
)
app.add_typer(config_app, name="config")


@config_app.command("show")
def config_show(
    config: ConfigOption = None,
    fleet: FleetOption = None,
    data: DataDirOption = None,
    broker: BrokerOption = None,
    mqtt_port: MqttPortOption = None,
    http_port: HttpPortOption = None,
    lake: LakeOption = None,
    tls_cert: TlsCertOption = None,
    tls_key: TlsKeyOption = None,
    ws_port: WsPortOption = None,
    osmand_port: OsmandPortOption = None,
) -> None:
    """Print every setting `vigil up` would run with (given the same flags), its value and
    where it came from: default, the file, a VIGIL_* variable or a flag."""
    flags = _flags(fleet, data, broker, http_port, lake, tls_cert, tls_key, ws_port, osmand_port)
    loaded, _ = _configure(config, flags, mqtt_port)
    show(loaded, console)


def _flags(
    fleet: Path | None,
    data: Path | None,
    broker: str | None,
    http_port: int | None,
    lake: str | None,
    tls_cert: str | None,
    tls_key: str | None,
    ws_port: int | None,
    osmand_port: int | None,
) -> dict[str, Any]:
    """The setting flags by setting (cli.config.FLAGS), None where not given."""
    return {
        "fleet_path": fleet,
        "data_dir": data,
        "broker_url": broker,
        "http_port": http_port,
        "lake_uri": lake,
        "tls_certfile": tls_cert,
        "tls_keyfile": tls_key,
        "ws_port": ws_port,
        "osmand_port": osmand_port,
    }


def _configure(
    config: Path | None, flags: dict[str, Any], mqtt_port: int | None
) -> tuple[Loaded, int | None]:
    """cli.config.configure, or exit 2 naming the setting before anything starts."""
    try:
        return configure(config, os.environ, flags, mqtt_port)
    except ConfigError as exc:
        console.print(f"[red]✗[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None


@app.command()
def down(
    data: Annotated[Path, typer.Option(help="The --data folder vigil was started with.")] = Path(
        "data"
    ),
) -> None:
    """Stop the vigil started with `vigil up --detach`."""
    pid = launcher.stop_detached(data.resolve())
    if pid is None:
        console.print(f"no vigil running from {data}")
        return
    console.print(f"[green]✓[/] stopped vigil (pid {pid})")


@app.command()
def health(
    data: Annotated[Path, typer.Option(help="The --data folder vigil was started with.")] = Path(
        "data"
    ),
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Check the broker, Ray, every actor, Serve, the lake and the ingest lag.

    Exits non-zero, naming what failed, when any part does not answer."""
    from cli.health import as_json, run_checks

    try:
        checks = run_checks(data.resolve())
    except FileNotFoundError as exc:
        console.print(f"[red]✗[/] {exc}")
        raise typer.Exit(2) from None
    failed = [c.part for c in checks if not c.ok]
    if json_output:
        print(as_json(checks))
    else:
        for check in checks:
            mark = "[green]✓[/]" if check.ok else "[red]✗[/]"
            console.print(f"{mark} {check.part:<16} {check.detail}", soft_wrap=True)
        if failed:
            console.print(f"[red]failing: {', '.join(failed)}[/]")
    if failed:
        raise typer.Exit(1)


app.add_typer(device_app, name="device")

token_app = typer.Typer(help="API and dashboard tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(help="admin, operator or viewer.")] = "operator",
    tenant: Annotated[str, typer.Option(help="Tenant id ('*': every tenant, admins only).")] = "1",
    user: Annotated[str, typer.Option(help="User id (default: <role>@<tenant>).")] = "",
    ttl_h: Annotated[float, typer.Option("--ttl-h", help="Lifetime in hours.")] = 12.0,
    data: Annotated[Path, typer.Option(help="The --data folder (holds the secret).")] = Path(
        "data"
    ),
) -> None:
    """Print a signed bearer token for the API and the NOC page (its id, which `vigil
    token revoke` takes, goes to stderr)."""
    from serve.tokens import AuthError, issue, load_secret, token_id

    settings = Settings(data_dir=data.resolve())
    try:
        token = issue(load_secret(settings), role, tenant, user, ttl_h, settings.token_max_ttl_h)
    except AuthError as exc:
        console.print(f"[red]✗[/] {exc}")
        raise typer.Exit(2) from None
    print(token)
    Console(stderr=True).print(f"token id {token_id(token)}")


@token_app.command("revoke")
def token_revoke(
    token: Annotated[str, typer.Argument(help="The token, or its id.")],
    data: Annotated[Path, typer.Option(help="The --data folder vigil runs with.")] = Path("data"),
) -> None:
    """Revoke a token at once: REST answers it 401, its open live-feed sockets close."""
    from serve.tokens import AuthError, Revocations

    try:
        ident = Revocations(data.resolve()).revoke(token)
    except AuthError as exc:
        console.print(f"[red]✗[/] {exc}")
        raise typer.Exit(2) from None
    console.print(f"[green]✓[/] revoked token {ident}")


train_app = typer.Typer(help="Anomaly model training runs (through the API).", no_args_is_help=True)
app.add_typer(train_app, name="train")
UrlOption = Annotated[str, typer.Option(help="The Serve app.")]
TokenOption = Annotated[
    str, typer.Option(envvar="VIGIL_TOKEN", help="Bearer token (default: from --data).")
]
DataOption = Annotated[Path, typer.Option(help="The --data folder (holds the secret).")]


def _train_client(url: str, token: str, data: Path) -> Any:
    from cli.train import Client

    return Client(url, token, data.resolve())


def _train_call(action: Any) -> Any:
    try:
        return action()
    except VigilError as exc:
        console.print(f"[red]✗[/] {exc}")
        raise typer.Exit(1) from None


@train_app.command("start")
def train_start(
    url: UrlOption = "http://127.0.0.1:8000",
    token: TokenOption = "",
    data: DataOption = Path("data"),
    chunk_rows: Annotated[int, typer.Option(help="Rows per chunk (one report each).")] = 20_000,
    holdout: Annotated[float, typer.Option(help="Share of the time range held out.")] = 0.25,
    detach: Annotated[bool, typer.Option(help="Print the run id and return.")] = False,
) -> None:
    """Start a run on the lake and watch it (a progress bar) until it ends."""
    from cli.train import watch

    client = _train_client(url, token, data)
    body = {"chunk_rows": chunk_rows, "holdout": holdout}
    run = _train_call(lambda: client.call("POST", "/api/training/runs", body))
    if detach:
        print(run["run_id"])
        return
    _report_run(_train_call(lambda: watch(client, run["run_id"])))


@train_app.command("watch")
def train_watch(
    run_id: str,
    url: UrlOption = "http://127.0.0.1:8000",
    token: TokenOption = "",
    data: DataOption = Path("data"),
) -> None:
    """Follow a run with a progress bar until it ends."""
    from cli.train import watch

    client = _train_client(url, token, data)
    _report_run(_train_call(lambda: watch(client, run_id)))


@train_app.command("list")
def train_list(
    url: UrlOption = "http://127.0.0.1:8000",
    token: TokenOption = "",
    data: DataOption = Path("data"),
) -> None:
    """Runs, newest first, then the model versions (* marks the live one)."""
    client = _train_client(url, token, data)
    for run in _train_call(lambda: client.call("GET", "/api/training/runs")):
        done = f"{run['rows_done']:,}/{run['rows_total']:,}"
        console.print(f"{run['run_id']}  {run['status']:<10} {done:>15}  {run['version'] or ''}")
    for model in _train_call(lambda: client.call("GET", "/api/training/models")):
        m = model["metrics"]
        mark = "*" if model["live"] else " "
        console.print(
            f"{mark} {model['version']}  model P {m['model_precision']:.2f} "
            f"R {m['model_recall']:.2f}  baseline P {m['baseline_precision']:.2f} "
            f"R {m['baseline_recall']:.2f}"
        )


@train_app.command("cancel")
def train_cancel(
    run_id: str,
    url: UrlOption = "http://127.0.0.1:8000",
    token: TokenOption = "",
    data: DataOption = Path("data"),
) -> None:
    """Cancel a run: its Ray Train workers stop."""
    client = _train_client(url, token, data)
    run = _train_call(lambda: client.call("POST", f"/api/training/runs/{run_id}/cancel"))
    console.print(f"{run_id}: {run['status']}")


@train_app.command("promote")
def train_promote(
    version: str,
    url: UrlOption = "http://127.0.0.1:8000",
    token: TokenOption = "",
    data: DataOption = Path("data"),
) -> None:
    """Make a model version live: every shard hot-loads it and scores with it."""
    client = _train_client(url, token, data)
    done = _train_call(lambda: client.call("POST", f"/api/training/models/{version}/promote"))
    console.print(f"[green]✓[/] {version} live in {len(done['shards'])} shard(s)")


def _report_run(run: dict[str, Any]) -> None:
    m = run.get("metrics") or {}
    if run["status"] != "succeeded":
        console.print(f"[red]✗[/] run {run['run_id']} {run['status']} {run.get('error', '')}")
        raise typer.Exit(1)
    console.print(f"[green]✓[/] run {run['run_id']} → model {run['version']}")
    for who in ("model", "baseline"):
        console.print(
            f"  {who:<9} precision {m[f'{who}_precision']:.3f}  recall {m[f'{who}_recall']:.3f}"
        )


def _where(http_port: int, data: Path, note: str, ray_url: str = "", broker: str = "") -> None:
    if ray_url and os.environ.get("RAY_AUTH_MODE", "token").lower() == "token":
        # Ray 2.59+ local clusters ask for the token (~/.ray/auth_token) on the dashboard too
        ray_url += f"  (token: {_ray_command()} get-auth-token)"
    rows = {
        "dashboard": f"http://127.0.0.1:{http_port}/",
        "Ray dashboard": ray_url,
        "broker": broker,
        "lake": str(data),
    }
    for label, value in rows.items():
        if value:  # soft_wrap: a long path stays whole, never cut with an ellipsis
            console.print(f"  [bold]{label:<14}[/] {value}", soft_wrap=True)
    console.print(note)


def _ray_command() -> str:
    """The `ray` beside this Python (the virtualenv's), relative to here when inside it."""
    ray = Path(sys.executable).with_name("ray")
    return str(ray.relative_to(Path.cwd())) if ray.is_relative_to(Path.cwd()) else str(ray)


if __name__ == "__main__":
    app()
