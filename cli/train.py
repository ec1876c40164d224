"""`vigil train`: training runs through the API (start, list, watch, cancel, promote).

The commands speak HTTP to the Serve app like any client; the token is `--token`,
`VIGIL_TOKEN`, or one minted from the `--data` folder's secret (an all-tenant admin:
whoever can read that folder runs vigil).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from core.errors import VigilError
from core.settings import Settings

FINAL = ("succeeded", "failed", "cancelled")


class ApiCallError(VigilError):
    """The API answered with an error (the message is its own)."""


class Client:
    def __init__(self, url: str, token: str, data: Path) -> None:
        if not token:
            from serve.tokens import issue, load_secret

            token = issue(load_secret(Settings(data_dir=data)), "admin", "*", "cli")
        self.url = url.rstrip("/")
        self.token = token

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = json.loads(exc.read() or b"{}")
            raise ApiCallError(f"{exc.code}: {detail.get('error', exc.reason)}") from None
        except urllib.error.URLError as exc:
            raise ApiCallError(f"cannot reach {self.url}: {exc.reason}") from None


def watch(client: Client, run_id: str, interval: float = 0.5) -> dict[str, Any]:
    """A progress bar until the run ends; returns the run."""
    from rich.progress import BarColumn, Progress, TextColumn

    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"))
    with Progress(*columns) as bar:
        task = bar.add_task(run_id, total=1.0, info="")
        while True:
            run: dict[str, Any] = client.call("GET", f"/api/training/runs/{run_id}")
            metrics = run.get("metrics") or {}
            shown = " ".join(
                f"{k}={v:.3f}" for k, v in metrics.items() if isinstance(v, float) and "loss" in k
            )
            info = f"{run['status']} {run['phase']} {run['rows_done']:,}/{run['rows_total']:,}"
            bar.update(task, completed=run["progress"], info=f"{info} {shown}")
            if run["status"] in FINAL:
                return run
            time.sleep(interval)
