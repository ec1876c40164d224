"""`vigil config show` and `vigil up --config`: what each setting is and where it came from,
and a bad file refused, naming the key, before anything starts (no Ray here)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli import launcher, main
from core.errors import StartupError
from core.settings import Settings

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture(autouse=True)
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder of its own, and none of the caller's VIGIL_* settings."""
    for var in [v for v in os.environ if v.startswith("VIGIL_")]:
        monkeypatch.delenv(var)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What `vigil up` would start the stack with; it then stops short of starting it."""
    seen: dict[str, Any] = {}

    def start_stack(
        settings: Settings, simulate: int, mqtt_port: int | None, *_: Any, **__: Any
    ) -> Any:
        seen.update(settings=settings, mqtt_port=mqtt_port)
        raise StartupError("not in this test")

    def spawn_detached(argv: list[str], data_dir: Path, http_port: int, _: Any) -> int:
        seen.update(argv=argv, data_dir=data_dir, http_port=http_port)
        return 4242

    monkeypatch.setattr(launcher, "start_stack", start_stack)
    monkeypatch.setattr(launcher, "spawn_detached", spawn_detached)
    return seen


def rows(output: str) -> dict[str, tuple[str, str]]:
    """`vigil config show`'s lines: setting -> (value, source)."""
    table = {}
    for line in output.splitlines():
        name, value, source = re.split(r"\s{2,}", line.strip())
        table[name] = (value, source)
    return table


def test_config_show_names_the_source_of_each_value(here: Path) -> None:
    (here / "vigil.toml").write_text("http_port = 9000\nshards = 4\ningest_actors = 3\n")
    result = runner.invoke(
        main.app,
        ["config", "show", "--config", "vigil.toml", "--http-port", "9200"],
        env={"VIGIL_SHARDS": "5", "VIGIL_TOKEN_SECRET": "hush-" + "h" * 32},
    )
    assert result.exit_code == 0, result.output
    table = rows(result.output)
    assert table["http_port"] == ("9200", "--http-port")
    assert table["shards"] == ("5", "VIGIL_SHARDS")
    assert table["ingest_actors"] == ("3", "vigil.toml")
    assert table["roll_rows"] == ("200000", "default")
    assert table["ws_port"] == ("9201", "default (HTTP port + 1)")
    assert table["broker_url"] == ("mqtt://127.0.0.1:1883", "default (local Mosquitto)")
    assert table["token_secret"] == ("(set, not shown)", "VIGIL_TOKEN_SECRET")
    assert "hush-" not in result.output


def test_config_show_lists_every_setting() -> None:
    result = runner.invoke(main.app, ["config", "show"])
    assert result.exit_code == 0, result.output
    assert set(rows(result.output)) - {"setting"} == set(Settings.__dataclass_fields__)


def test_config_show_merges_a_table_and_names_both_sources(here: Path) -> None:
    (here / "vigil.toml").write_text("[offline_after_s]\nsensor = 60\n")
    result = runner.invoke(
        main.app,
        ["config", "show", "--config", "vigil.toml"],
        env={"VIGIL_RETENTION_DAYS": '{"telemetry": 30}'},
    )
    assert result.exit_code == 0, result.output
    table = rows(result.output)
    assert table["offline_after_s"] == (
        "tracker = 300.0, panic_button = 900.0, sensor = 60.0",
        "default + vigil.toml",
    )
    assert table["retention_days"] == (
        "dead_letters = 90, telemetry = 30",
        "default + VIGIL_RETENTION_DAYS",
    )


def test_up_flags_not_given_leave_the_file_and_environment(
    here: Path, started: dict[str, Any]
) -> None:
    (here / "vigil.toml").write_text('http_port = 9000\nshards = 4\nlake_uri = "s3://lake"\n')
    result = runner.invoke(
        main.app,
        ["up", "--config", "vigil.toml", "--ws-port", "0", "--mqtt-port", "1999"],
        env={"VIGIL_SHARDS": "5"},
    )
    assert result.exit_code == 1, result.output  # the fake start_stack's StartupError
    settings = started["settings"]
    assert (settings.http_port, settings.shards, settings.ws_port) == (9000, 5, 0)
    assert settings.lake_uri == "s3://lake"
    assert settings.data_dir == here / "data"
    assert settings.broker_url == "mqtt://127.0.0.1:1999"
    assert started["mqtt_port"] == 1999  # a local Mosquitto


def test_up_without_settings_runs_as_before(here: Path, started: dict[str, Any]) -> None:
    result = runner.invoke(main.app, ["up"])
    assert result.exit_code == 1, result.output
    settings = started["settings"]
    assert (settings.http_port, settings.ws_port, started["mqtt_port"]) == (8000, 8001, 1883)
    assert settings.broker_url == "mqtt://127.0.0.1:1883"
    assert settings.fleet_path == Settings().fleet_path


def test_up_uses_a_broker_the_environment_names(started: dict[str, Any]) -> None:
    env = {"VIGIL_BROKER_URL": "mqtt://broker.example:1884"}
    result = runner.invoke(main.app, ["up", "--mqtt-port", "1999"], env=env)
    assert result.exit_code == 1, result.output
    assert started["settings"].broker_url == "mqtt://broker.example:1884"
    assert started["mqtt_port"] is None  # no local Mosquitto


def test_up_detach_with_tls_from_the_file_waits_for_https(
    here: Path, started: dict[str, Any]
) -> None:
    (here / "vigil.toml").write_text('tls_certfile = "c.pem"\ntls_keyfile = "k.pem"\n')
    result = runner.invoke(main.app, ["up", "--config", "vigil.toml", "--detach"])
    assert result.exit_code == 0, result.output
    assert started["argv"][-4:] == ["--tls-cert", "c.pem", "--tls-key", "k.pem"]
    assert "--detach" not in started["argv"]
    assert "pid 4242" in result.output


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("htp_port = 8000\n", "vigil.toml: unknown setting 'htp_port' (did you mean http_port?)"),
        ('shards = "four"\n', "vigil.toml: shards: expected an integer, got 'four' (str)"),
    ],
)
def test_up_refuses_a_bad_file_naming_the_key(
    here: Path, started: dict[str, Any], text: str, named: str
) -> None:
    (here / "vigil.toml").write_text(text)
    result = runner.invoke(main.app, ["up", "--config", "vigil.toml"])
    assert result.exit_code == 2
    assert named in result.output
    assert started == {}  # nothing started


def test_up_refuses_an_unknown_variable(started: dict[str, Any]) -> None:
    result = runner.invoke(main.app, ["up", "--detach"], env={"VIGIL_HTTP_PROT": "8080"})
    assert result.exit_code == 2
    assert "VIGIL_HTTP_PROT: no such setting (did you mean VIGIL_HTTP_PORT?)" in result.output
    assert started == {}


def test_the_vigil_command_refuses_a_bad_file_before_starting_ray(here: Path) -> None:
    (here / "bad.toml").write_text("http_port = 80.5\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "up", "--config", "bad.toml"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "bad.toml: http_port: expected an integer, got 80.5 (float)" in done.stdout
    assert "Ray" not in done.stdout + done.stderr
    assert not (here / "data").exists()


def test_the_ray_dashboard_line_says_how_to_get_its_token(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    monkeypatch.chdir(REPO)
    main._where(8000, REPO / "data", "press Ctrl-C to stop", "http://127.0.0.1:8265")
    line = next(x for x in capsys.readouterr().out.splitlines() if "Ray dashboard" in x)
    command = re.search(r"\(token: (\S+) get-auth-token\)", line)
    assert command, line
    assert (REPO / command[1]).exists()  # the virtualenv's ray, which has the subcommand


def test_config_show_hides_the_brokers_password() -> None:
    result = runner.invoke(
        main.app,
        ["config", "show", "--broker", "mqtts://vigil:s3cret-pw@broker.example"],
        env={"VIGIL_BROKER_CA_FILE": "/etc/vigil/ca.pem"},
    )
    assert result.exit_code == 0, result.output
    table = rows(result.output)
    assert table["broker_url"] == ("mqtts://vigil:***@broker.example:8883", "--broker")
    assert table["broker_ca_file"] == ("/etc/vigil/ca.pem", "VIGIL_BROKER_CA_FILE")
    assert "s3cret" not in result.output
