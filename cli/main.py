"""The `vigil` command."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from cli import launcher
from core.errors import VigilError
from core.settings import SAMPLE_FLEET, Settings

app = typer.Typer(
    help="vigil: real-time operations backbone for security companies.", no_args_is_help=True
)
console = Console()


@app.command()
def up(
    fleet: Annotated[Path, typer.Option(help="Fleet file (YAML).")] = SAMPLE_FLEET,
    data: Annotated[Path, typer.Option(help="Lake root and runtime files.")] = Path("data"),
    broker: Annotated[str | None, typer.Option(help="External broker, mqtt://host:port.")] = None,
    mqtt_port: Annotated[int, typer.Option(help="Port of the local Mosquitto.")] = 1883,
    http_port: Annotated[int, typer.Option(help="Port of the dashboard and API.")] = 8000,
    ray_dashboard_port: Annotated[int, typer.Option(help="Port of the Ray dashboard.")] = 8265,
    simulate: Annotated[int, typer.Option(help="Simulated guards (0: none).")] = 0,
    ray_address: Annotated[
        str, typer.Option(help="Ray to run on: `local` starts one, `auto` joins this node's.")
    ] = "local",
    lake: Annotated[
        str, typer.Option(help="Lake root as a pyarrow.fs URI (s3://...); default: --data.")
    ] = "",
    detach: Annotated[
        bool, typer.Option(help="Return once running; stop with `vigil down`.")
    ] = False,
    tls_cert: Annotated[str, typer.Option(help="TLS certificate (PEM): https and wss.")] = "",
    tls_key: Annotated[str, typer.Option(help="TLS private key (PEM) of --tls-cert.")] = "",
    ws_port: Annotated[
        int,
        typer.Option(
            help="Port of the live feed's WebSocket gateway (default: the HTTP port + 1; "
            "0: Serve's /ws only)."
        ),
    ] = -1,
) -> None:
    """Start vigil on this machine: broker, Ray, actors, the Serve app, a simulated fleet."""
    if simulate < 0:
        raise typer.BadParameter("must be 0 or more", param_hint="--simulate")
    if ws_port < 0:
        ws_port = http_port + 1
    data = data.resolve()
    if detach:
        argv = [a for a in sys.argv[1:] if a != "--detach"]
        try:
            pid = launcher.spawn_detached(argv, data, http_port, console)
        except VigilError as exc:
            console.print(f"[red]✗[/] {exc}")
            raise typer.Exit(1) from None
        _where(http_port, data, f"running in the background (pid {pid}); stop with `vigil down`")
        return
    settings = Settings(
        broker_url=broker or f"mqtt://127.0.0.1:{mqtt_port}",
        data_dir=data,
        fleet_path=fleet,
        http_port=http_port,
        lake_uri=lake,
        tls_certfile=tls_cert,
        tls_keyfile=tls_key,
        ws_port=ws_port,
    )
    try:
        stack = launcher.start_stack(
            settings,
            simulate,
            None if broker else mqtt_port,
            ray_dashboard_port,
            console,
            ray_address,
        )
    except VigilError as exc:
        console.print(f"[red]✗[/] {exc}")
        raise typer.Exit(1) from None
    try:
        _where(
            http_port, data, "press Ctrl-C to stop", stack.dashboard_url, stack.settings.broker_url
        )
        launcher.wait_for_signal()
        console.print("stopping…")
    finally:
        stack.close()
        if not os.environ.get("VIGIL_DETACHED"):
            (data / launcher.PID_FILE).unlink(missing_ok=True)


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
    """Print a signed bearer token for the API and the NOC page."""
    from serve.tokens import AuthError, issue, load_secret

    secret = load_secret(Settings(data_dir=data.resolve()))
    try:
        print(issue(secret, role, tenant, user, ttl_h))
    except AuthError as exc:
        console.print(f"[red]✗[/] {exc}")
        raise typer.Exit(2) from None


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


if __name__ == "__main__":
    app()
