"""Settings from a TOML file, `VIGIL_*` variables and flags, over the defaults."""

from __future__ import annotations

import re
import tempfile
from dataclasses import fields
from pathlib import Path

import hypothesis
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import ConfigError
from core.settings import (
    DEFAULT,
    Settings,
    from_env,
    from_file,
    from_flags,
    load,
)

REPO = Path(__file__).resolve().parents[2]
INT_SETTINGS = [f.name for f in fields(Settings) if f.type == "int"]
FLOAT_SETTINGS = [f.name for f in fields(Settings) if f.type == "float"]


def toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vigil.toml"
    path.write_text(text)
    return path


def test_nothing_given_is_the_defaults_from_default() -> None:
    loaded = load()
    assert loaded.settings == Settings()
    assert set(loaded.sources.values()) == {DEFAULT}


def test_a_file_sets_values_and_is_their_source(tmp_path: Path) -> None:
    path = toml(tmp_path, 'shards = 4\nbroker_url = "mqtt://broker.example:1884"\n')
    loaded = load(from_file(path))
    assert loaded.settings.shards == 4
    address = loaded.settings.broker_address
    assert (address.host, address.port) == ("broker.example", 1884)
    assert loaded.sources["shards"] == str(path)
    assert loaded.sources["http_port"] == DEFAULT


def test_an_integer_in_the_file_fills_a_float_setting(tmp_path: Path) -> None:
    loaded = load(from_file(toml(tmp_path, "batch_max_ms = 10\n")))
    assert loaded.settings.batch_max_ms == 10.0
    assert isinstance(loaded.settings.batch_max_ms, float)


def test_path_settings_take_strings(tmp_path: Path) -> None:
    path = toml(tmp_path, 'data_dir = "/srv/vigil"\nfleet_path = "fleet/mine.yaml"\n')
    settings = load(from_file(path)).settings
    assert settings.data_dir == Path("/srv/vigil")
    assert settings.fleet_path == Path("fleet/mine.yaml")
    env = load(from_env({"VIGIL_DATA_DIR": "/var/lib/vigil"})).settings
    assert env.data_dir == Path("/var/lib/vigil")


def test_a_table_merges_over_the_default_keys(tmp_path: Path) -> None:
    path = toml(tmp_path, "retention_days = {telemetry = 30}\n[offline_after_s]\nsensor = 60\n")
    loaded = load(from_file(path))
    assert loaded.settings.retention_days == {"dead_letters": 90, "telemetry": 30}
    assert loaded.settings.offline_after_s == {
        "tracker": 300.0,
        "panic_button": 900.0,
        "sensor": 60.0,
    }
    assert loaded.sources["offline_after_s"] == f"default + {path}"


def test_environment_values_are_read_from_their_strings() -> None:
    loaded = load(
        from_env(
            {
                "VIGIL_HTTP_PORT": "8080",
                "VIGIL_SHARDS": "3",
                "VIGIL_BATCH_MAX_MS": "2.5",
                "VIGIL_BROKER_URL": "mqtt://10.0.0.5:1883",
                "VIGIL_OFFLINE_AFTER_S": '{"sensor": 600}',
                "PATH": "/usr/bin",  # not vigil's
            }
        )
    )
    settings = loaded.settings
    assert (settings.http_port, settings.shards, settings.batch_max_ms) == (8080, 3, 2.5)
    assert settings.broker_url == "mqtt://10.0.0.5:1883"
    assert settings.offline_after_s["sensor"] == 600.0
    assert settings.offline_after_s["tracker"] == 300.0
    assert loaded.sources["http_port"] == "VIGIL_HTTP_PORT"
    assert loaded.sources["offline_after_s"] == "default + VIGIL_OFFLINE_AFTER_S"


def test_vigils_other_variables_are_not_settings() -> None:
    env = {"VIGIL_TOKEN": "t", "VIGIL_DETACHED": "1", "VIGIL_DATA": "../data"}
    assert from_env(env) == {}


def test_flags_beat_the_environment_which_beats_the_file(tmp_path: Path) -> None:
    path = toml(tmp_path, "http_port = 9000\nshards = 4\ningest_actors = 3\n")
    env = {"VIGIL_HTTP_PORT": "9100", "VIGIL_SHARDS": "5"}
    flag = {"http_port": 9200, "shards": None}  # --shards not given: the variable stays
    loaded = load(from_file(path), from_env(env), from_flags(flag, {"http_port": "--http-port"}))
    assert loaded.settings.http_port == 9200
    assert loaded.settings.shards == 5
    assert loaded.settings.ingest_actors == 3
    assert loaded.sources["http_port"] == "--http-port"
    assert loaded.sources["shards"] == "VIGIL_SHARDS"
    assert loaded.sources["ingest_actors"] == str(path)


def test_an_unknown_key_in_the_file_is_named_with_a_suggestion(tmp_path: Path) -> None:
    path = toml(tmp_path, "htp_port = 8000\n")
    with pytest.raises(ConfigError, match=r"vigil\.toml: unknown setting 'htp_port'") as error:
        from_file(path)
    assert "did you mean http_port?" in str(error.value)


def test_an_unknown_variable_is_named() -> None:
    with pytest.raises(ConfigError, match="VIGIL_SHARD: no such setting") as error:
        from_env({"VIGIL_SHARD": "4"})
    assert "did you mean VIGIL_SHARDS?" in str(error.value)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('http_port = "8000"', "http_port: expected an integer, got '8000' (str)"),
        ("shards = 2.5", "shards: expected an integer, got 2.5 (float)"),
        ("shards = true", "shards: expected an integer, got True (bool)"),
        ("namespace = 3", "namespace: expected a string, got 3 (int)"),
        ("data_dir = 3", "data_dir: expected a path (a string), got 3 (int)"),
        ("batch_max_ms = 'fast'", "batch_max_ms: expected a number, got 'fast' (str)"),
        ("retention_days = 30", "retention_days: expected a table of integers, got 30 (int)"),
        (
            "offline_after_s = {sensor = 'long'}",
            "offline_after_s.sensor: expected a number, got 'long' (str)",
        ),
    ],
)
def test_a_wrong_type_in_the_file_names_the_key_and_the_type(
    tmp_path: Path, line: str, message: str
) -> None:
    path = toml(tmp_path, line + "\n")
    with pytest.raises(ConfigError) as error:
        from_file(path)
    assert str(error.value) == f"{path}: {message}"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"VIGIL_SHARDS": "two"}, "VIGIL_SHARDS: expected an integer, got 'two' (str)"),
        ({"VIGIL_HTTP_PORT": ""}, "VIGIL_HTTP_PORT: expected an integer, got '' (str)"),
        (
            {"VIGIL_RETENTION_DAYS": "telemetry=30"},
            "VIGIL_RETENTION_DAYS: expected a JSON object such as '{\"dead_letters\":90}'",
        ),
        (
            {"VIGIL_RETENTION_DAYS": '{"telemetry": 1.5}'},
            "VIGIL_RETENTION_DAYS.telemetry: expected an integer, got 1.5 (float)",
        ),
    ],
)
def test_a_wrong_type_in_a_variable_names_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        from_env(env)
    assert str(error.value).startswith(message)


def test_a_broker_url_of_the_wrong_shape_names_its_source() -> None:
    with pytest.raises(ConfigError, match="VIGIL_BROKER_URL: broker_url: expected mqtt://"):
        load(from_env({"VIGIL_BROKER_URL": "http://broker:1883"}))


def test_a_missing_or_broken_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: cannot read the config file"):
        from_file(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match=r"vigil\.toml: not valid TOML"):
        from_file(toml(tmp_path, "shards = \n"))


def test_the_example_file_loads() -> None:
    loaded = load(from_file(REPO / "vigil.example.toml"))
    assert loaded.settings.http_port == 8000
    assert {s for s in loaded.sources.values() if s != DEFAULT}


def test_the_runbooks_example_loads(tmp_path: Path) -> None:
    runbook = (REPO / "docs" / "runbook.md").read_text()
    example = re.search(r"```toml\n(.*?)```", runbook, re.S)
    assert example, "docs/runbook.md has a ```toml example"
    text = "\n".join(line.strip() for line in example[1].splitlines())
    settings = load(from_file(toml(tmp_path, text))).settings
    assert settings.shards == 4
    assert settings.offline_after_s["sensor"] == 600.0


@hypothesis.settings(deadline=None)  # a file per example, on a shared machine
@given(name=st.sampled_from(INT_SETTINGS), value=st.integers(-(2**63), 2**63 - 1))
def test_any_integer_written_to_the_file_or_a_variable_comes_back(name: str, value: int) -> None:
    with tempfile.TemporaryDirectory() as folder:  # one file per example, not per test
        path = Path(folder) / "vigil.toml"
        path.write_text(f"{name} = {value}\n")
        assert getattr(load(from_file(path)).settings, name) == value
    variable = f"VIGIL_{name.upper()}"
    assert getattr(load(from_env({variable: str(value)})).settings, name) == value


@hypothesis.settings(deadline=None)
@given(name=st.sampled_from(FLOAT_SETTINGS), value=st.floats(allow_nan=False))
def test_any_number_written_to_the_file_comes_back(name: str, value: float) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "vigil.toml"
        path.write_text(f"{name} = {value!r}\n")  # repr is valid TOML: 1e+16, -inf, 0.1
        assert getattr(load(from_file(path)).settings, name) == value
