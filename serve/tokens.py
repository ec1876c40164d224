"""Bearer tokens: signed (HS256, PyJWT) claims of who is calling, their role and tenant.

    token = issue(secret, role="operator", tenant=1, user="olga")
    principal = verify(secret, token)   # AuthError says what was wrong

The secret is `Settings.token_secret`, or the one kept in `<data_dir>/.secret`
(created on first use, readable by its owner only), so `vigil token create` and the
Serve app agree without configuration.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

import jwt

from core.errors import VigilError
from core.settings import Settings

ALGORITHM = "HS256"
ISSUER = "vigil"
SECRET_FILE = ".secret"
ALL_TENANTS = "*"


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
    secret: str, role: str | Role, tenant: int | str, user: str = "", ttl_h: float = 12.0
) -> str:
    """A token for `user` (default `<role>@<tenant>`); tenant "*" only for admins."""
    role = role if isinstance(role, Role) else parse_role(role)
    if tenant == ALL_TENANTS:
        if role != Role.ADMIN:
            raise AuthError("tenant: only an admin token may cover every tenant ('*')")
    else:
        tenant = _tenant(tenant)
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": user or f"{role}@{tenant}",
        "role": str(role),
        "tenant": tenant,
        "iat": now,
        "exp": now + int(ttl_h * 3600),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify(secret: str, token: str) -> Principal:
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
    tenant = claims.get("tenant")
    role = parse_role(str(claims.get("role", "")))
    if tenant == ALL_TENANTS and role == Role.ADMIN:
        return Principal(str(claims["sub"]), role, None)
    return Principal(str(claims["sub"]), role, _tenant(tenant))


def _tenant(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise AuthError(f"tenant: expected a tenant id (an integer), got {value!r}") from None


def load_secret(settings: Settings) -> str:
    """`settings.token_secret`, else the data dir's secret (created once, mode 0600)."""
    if settings.token_secret:
        return settings.token_secret
    path = Path(settings.data_dir) / SECRET_FILE
    if not path.exists():
        # Written whole under another name, then linked into place: a process that reads
        # it never sees a half-written secret, and of two racing, one secret wins.
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))  # 32 random bytes
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):  # another process's won
            os.link(partial, path)
        partial.unlink()
    return path.read_text().strip()
