"""Bearer tokens: what they carry, and every way one is refused."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import jwt
import pytest

from core.errors import ConfigError
from core.settings import Settings
from serve.tokens import (
    AuthError,
    Forbidden,
    Revocations,
    Role,
    issue,
    load_secret,
    token_id,
    verify,
)

SECRET = "s" * 32


def test_a_token_carries_user_role_and_tenant() -> None:
    principal = verify(SECRET, issue(SECRET, "operator", 1, "olga"))
    assert (principal.user, principal.role, principal.tenant) == ("olga", Role.OPERATOR, 1)
    assert principal.sees(1) and not principal.sees(2)
    assert verify(SECRET, issue(SECRET, "viewer", "2")).user == "viewer@2"


def test_only_an_admin_token_may_cover_every_tenant() -> None:
    admin = verify(SECRET, issue(SECRET, "admin", "*"))
    assert admin.tenant is None and admin.sees(1) and admin.sees(7)
    with pytest.raises(AuthError, match="tenant"):
        issue(SECRET, "operator", "*")


def test_roles_are_ordered_viewer_operator_admin() -> None:
    viewer = verify(SECRET, issue(SECRET, "viewer", 1))
    with pytest.raises(Forbidden, match="needs operator"):
        viewer.require(Role.OPERATOR)
    verify(SECRET, issue(SECRET, "admin", 1)).require(Role.OPERATOR)


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (issue("another secret" * 3, "admin", 1), "invalid token"),
        (issue(SECRET, "operator", 1, ttl_h=-1), "expired"),
        ("not.a.token", "invalid token"),
        (jwt.encode({"iss": "vigil", "sub": "x", "exp": 2**40, "role": "root"}, SECRET), "role"),
        (jwt.encode({"iss": "vigil", "sub": "x", "exp": 2**40, "role": "admin"}, SECRET), "tenant"),
    ],
)
def test_a_token_that_is_not_valid_is_refused_with_the_reason(token: str, reason: str) -> None:
    with pytest.raises(AuthError, match=reason):
        verify(SECRET, token)


def test_the_secret_is_made_once_per_data_dir_readable_by_its_owner_only(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = load_secret(settings)
    assert len(first) == 64 and load_secret(settings) == first
    mode = stat.S_IMODE(os.stat(tmp_path / ".secret").st_mode)
    assert mode == 0o600
    configured = "c" * 32
    assert load_secret(settings.with_(token_secret=configured)) == configured


def test_a_configured_secret_shorter_than_32_characters_is_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError, match="token_secret: at least 32 characters"):
        Settings(token_secret="short")


def test_racing_processes_make_one_secret_and_never_read_a_partial_one(tmp_path: Path) -> None:
    from concurrent.futures import ProcessPoolExecutor

    settings = Settings(data_dir=tmp_path)
    with ProcessPoolExecutor(4) as pool:
        seen = set(pool.map(load_secret, [settings] * 16))
    assert len(seen) == 1 and len(seen.pop()) == 64
    assert [p.name for p in tmp_path.iterdir()] == [".secret"]


def test_a_token_longer_than_the_maximum_lifetime_is_refused() -> None:
    with pytest.raises(AuthError, match="ttl_h: at most 168 hours"):
        issue(SECRET, "operator", 1, ttl_h=169, max_ttl_h=168)


def test_a_revoked_token_is_refused_by_every_reader_of_the_list(tmp_path: Path) -> None:
    kept, dropped = issue(SECRET, "viewer", 1), issue(SECRET, "viewer", 1)
    reader = Revocations(tmp_path)  # a replica's, reading before the revocation
    assert verify(SECRET, dropped, reader).user == "viewer@1"
    Revocations(tmp_path).revoke(token_id(dropped))  # `vigil token revoke <id>`
    with pytest.raises(AuthError, match="token revoked"):
        verify(SECRET, dropped, reader)
    assert verify(SECRET, kept, reader).token_id == token_id(kept)


def test_vigil_token_create_then_revoke_by_its_printed_id(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    runner = CliRunner()
    created = runner.invoke(app, ["token", "create", "--role", "viewer", "--data", str(tmp_path)])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[0]
    ident = token_id(token)
    assert f"token id {ident}" in created.stderr
    revoked = runner.invoke(app, ["token", "revoke", ident, "--data", str(tmp_path)])
    assert revoked.exit_code == 0 and f"revoked token {ident}" in revoked.output
    with pytest.raises(AuthError, match="token revoked"):
        verify(load_secret(Settings(data_dir=tmp_path)), token, Revocations(tmp_path))
    too_long = ["token", "create", "--ttl-h", "1000", "--data", str(tmp_path)]
    refused = runner.invoke(app, too_long)
    assert refused.exit_code == 2 and "ttl_h: at most 168 hours" in refused.output
