"""Where an MQTT broker is and how to log in: `mqtt://` or `mqtts://user:password@host:port`.

Every vigil client (ingest slots, the router's downlink, `vigil health`, the simulators)
connects through one `BrokerAddress`, so a secured external broker (a password, TLS with
the system's CAs or a CA file of its own) works for all of them or for none. The password
never leaves this value in a message: `redacted` is what logs, errors and health print.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from core.errors import ConfigError

PLAIN, TLS = ("mqtt", "tcp"), ("mqtts", "ssl")
PLAIN_PORT, TLS_PORT = 1883, 8883


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str = ""  # TLS: the CA that signed the broker's certificate; "" = the system's

    @classmethod
    def parse(cls, url: str, ca_file: str = "", setting: str = "broker_url") -> BrokerAddress:
        """A URL as an operator writes it (`host` alone means mqtt://host:1883); a
        ConfigError naming `setting` (never the password) when it is not one."""
        parts = urlsplit(url if "://" in url else f"mqtt://{url}")
        shown = cls._redact(url)
        if parts.scheme not in PLAIN + TLS or not parts.hostname:
            raise ConfigError(
                f"{setting}: expected mqtt://host:port or mqtts://user:password@host:port, "
                f"got {shown!r}"
            )
        try:
            port = parts.port
        except ValueError:
            raise ConfigError(f"{setting}: the port of {shown!r} is not a number") from None
        tls = parts.scheme in TLS
        if ca_file and not tls:
            raise ConfigError(f"{setting}: a CA file is for mqtts:// only, got {shown!r}")
        return cls(
            host=parts.hostname,
            port=port or (TLS_PORT if tls else PLAIN_PORT),
            tls=tls,
            username=unquote(parts.username) if parts.username is not None else None,
            password=unquote(parts.password) if parts.password is not None else None,
            ca_file=ca_file,
        )

    @property
    def url(self) -> str:
        """The address as a URL, the password included (for a client's own settings)."""
        login = ""
        if self.username is not None:
            login = quote(self.username, safe="")
            if self.password is not None:
                login += ":" + quote(self.password, safe="")
            login += "@"
        return f"{'mqtts' if self.tls else 'mqtt'}://{login}{self.host}:{self.port}"

    @property
    def redacted(self) -> str:
        return self._redact(self.url)

    def configure(self, client: Any) -> None:
        """Give a paho client this address's login and TLS (before it connects)."""
        if self.username is not None:
            client.username_pw_set(self.username, self.password)
        if self.tls:
            client.tls_set(ca_certs=self.ca_file or None)

    @staticmethod
    def _redact(url: str) -> str:
        scheme, sep, rest = url.rpartition("://")
        login, at, where = rest.rpartition("@")
        if not at or ":" not in login:
            return url
        return f"{scheme}{sep}{login.split(':', 1)[0]}:***@{where}"
