"""Security headers on every HTTP answer of the Serve app.

The page passes a strict Content-Security-Policy: its script and style are files of
/static (no inline script, no eval), it talks to this origin and, when the live feed
has a gateway of its own (`ws_port`), to that port of the same host; no other site may
frame it. `X-Content-Type-Options` stops a browser from guessing types.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.datastructures import Headers, MutableHeaders

_HOST = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d+)?$")


def policy(host: str, ws_port: int) -> str:
    """The Content-Security-Policy for a page served to `host` (the request's Host)."""
    connect = "'self'"
    found = _HOST.match(host)
    if ws_port and found:  # the gateway: same host, its own port
        name = found.group(1)
        connect += f" ws://{name}:{ws_port} wss://{name}:{ws_port}"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src {connect}; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )


class SecurityHeaders:
    """ASGI middleware adding the headers to every HTTP response (WebSockets pass)."""

    def __init__(self, app: Any, ws_port: int = 0) -> None:
        self.app = app
        self.ws_port = ws_port

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = Headers(scope=scope).get("host", "")

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", policy(host, self.ws_port))
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "no-referrer")
            await send(message)

        await self.app(scope, receive, sending)
