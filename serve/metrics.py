"""`/metrics`: Prometheus text for the whole of vigil, gathered from every named actor.

Each replica asks the actors themselves (serve.exporter), so whichever replica is
scraped, the figures are cluster-wide, not that replica's own.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import Response

from core.settings import Settings
from serve.exporter import gather, render

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def metrics_endpoint(settings: Settings):  # type: ignore[no-untyped-def]
    """With `metrics_token`, a scrape must send `Authorization: Bearer <metrics_token>`
    (Prometheus: `authorization: {credentials: ...}`); without, /metrics is open to
    whoever reaches the HTTP port (bound to 127.0.0.1 unless told otherwise)."""
    expected = f"Bearer {settings.metrics_token}".encode()

    async def metrics(request: Request) -> Response:
        if settings.metrics_token:
            given = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return Response(
                    "metrics: Authorization: Bearer <metrics_token> required\n",
                    401,
                    headers={"WWW-Authenticate": "Bearer"},
                    media_type="text/plain",
                )
        return Response(render(await gather(settings)), media_type=CONTENT_TYPE)

    return metrics
