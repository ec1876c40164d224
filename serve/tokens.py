"""Bearer tokens: signed (HS256, PyJWT) claims of who is calling, their role and tenant.

    token = issue(secret, role="operator", tenant=1, user="olga")
    principal = verify(secret, token)   # AuthError says what was wrong

The secret is `Settings.token_secret`, or the one kept in `<data_dir>/.secret`
(created on first use, readable by its owner only), so `vigil token create` and the
Serve app agree without configuration.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

import jwt

from core.errors import VigilError
from core.keys import data_secret
from core.settings import Settings

ALGORITHM = "HS256"
ISSUER = "vigil"
SECRET_FILE = ".secret"
ALL_TENANTS = "*"
REVOKED_FILE = "revoked_tokens.txt"
#: The longest lifetime a token may have (Settings.token_max_ttl_h).
MAX_TTL_H = 7 * 24.0


class Role(IntEnum):
    """Each role may do what the ones below it may."""

    VIEWER = 1  # reads the tenant's NOC: map, alerts, history
    OPERATOR = 2  # ...and acts: acknowledge, resolve, assign, send commands
    ADMIN = 3  # ...and changes the fleet

    def __str__(self) -> str:
        return self.name.lower()


class AuthError(VigilError):
    """No token, or one that is not valid; the message says why (401)."""

    http_status = 401
    field = "authorization"


class Forbidden(VigilError):
    """A valid token that may not do this (403)."""

    http_status = 403
    field = "role"


@dataclass(frozen=True, slots=True)
class Principal:
    user: str
    role: Role
    tenant: int | None  # None: every tenant (the operating company's own admins)
    token_id: str = ""
    expires_at: float = float("inf")  # epoch seconds

    def sees(self, client_id: int | None) -> bool:
        return self.tenant is None or client_id == self.tenant

    def require(self, role: Role) -> None:
        if self.role < role:
            raise Forbidden(f"role {self.role} may not do this; it needs {role}")

    def as_dict(self) -> dict[str, Any]:
        tenant: int | str = ALL_TENANTS if self.tenant is None else self.tenant
        return {"user": self.user, "role": str(self.role), "tenant": tenant}


def parse_role(name: str) -> Role:
    try:
        return Role[name.upper()]
    except KeyError:
        known = ", ".join(str(r) for r in Role)
        raise AuthError(f"role: unknown role {name!r} (known: {known})") from None


def issue(
    secret: str,
    role: str | Role,
    tenant: int | str,
    user: str = "",
    ttl_h: float = 12.0,
    max_ttl_h: float = MAX_TTL_H,
) -> str:
    """A token for `user` (default `<role>@<tenant>`); tenant "*" only for admins."""
    role = role if isinstance(role, Role) else parse_role(role)
    if tenant == ALL_TENANTS:
        if role != Role.ADMIN:
            raise AuthError("tenant: only an admin token may cover every tenant ('*')")
    else:
        tenant = _tenant(tenant)
    if ttl_h > max_ttl_h:
        raise AuthError(f"ttl_h: at most {max_ttl_h:g} hours (token_max_ttl_h), got {ttl_h:g}")
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "jti": secrets.token_hex(8),  # the token's id: what `vigil token revoke` names
        "sub": user or f"{role}@{tenant}",
        "role": str(role),
        "tenant": tenant,
        "iat": now,
        "exp": now + int(ttl_h * 3600),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def token_id(token: str) -> str:
    """The id of a token (unverified: only to name it), or the argument if it is one."""
    if "." not in token:
        return token
    try:
        return str(jwt.decode(token, options={"verify_signature": False}).get("jti", ""))
    except jwt.PyJWTError as exc:
        raise AuthError(f"token: not a vigil token ({exc})") from None


class Revocations:
    """Revoked token ids, kept in `<data_dir>/revoked_tokens.txt` (one id per line):
    `vigil token revoke` appends, every replica and the gateway read it again whenever
    it changed, so a revoked token is refused at its next request."""

    def __init__(self, data_dir: str | Path) -> None:
        self.path = Path(data_dir) / REVOKED_FILE
        self._seen: tuple[float, int] = (0.0, -1)
        self._ids: frozenset[str] = frozenset()

    def revoke(self, token: str) -> str:
        ident = token_id(token)
        if not ident:
            raise AuthError("token: it has no id (issued before tokens had one); rotate the secret")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as out:
            out.write(ident + "\n")
            out.flush()
            os.fsync(out.fileno())
        return ident

    def __contains__(self, ident: object) -> bool:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return False
        if (stat.st_mtime, stat.st_size) != self._seen:
            self._seen = (stat.st_mtime, stat.st_size)
            self._ids = frozenset(self.path.read_text().split())
        return ident in self._ids


def verify(secret: str, token: str, revoked: Revocations | None = None) -> Principal:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "sub", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise AuthError("token expired") from None
    except jwt.PyJWTError as exc:
        raise AuthError(f"invalid token: {exc}") from None
    ident = str(claims.get("jti", ""))
    if revoked is not None and ident in revoked:
        raise AuthError("token revoked")
    tenant = claims.get("tenant")
    role = parse_role(str(claims.get("role", "")))
    expires = float(claims["exp"])
    if tenant == ALL_TENANTS and role == Role.ADMIN:
        return Principal(str(claims["sub"]), role, None, ident, expires)
    return Principal(str(claims["sub"]), role, _tenant(tenant), ident, expires)


def _tenant(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise AuthError(f"tenant: expected a tenant id (an integer), got {value!r}") from None


def load_secret(settings: Settings) -> str:
    """`settings.token_secret`, else the data dir's secret (created once, mode 0600)."""
    if settings.token_secret:
        return settings.token_secret
    return data_secret(Path(settings.data_dir) / SECRET_FILE)
