"""`/metrics`: Prometheus text for the whole of vigil, gathered from every named actor.

Each replica asks the actors themselves (serve.exporter), so whichever replica is
scraped, the figures are cluster-wide, not that replica's own.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from core.settings import Settings
from serve.exporter import gather, render

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def metrics_endpoint(settings: Settings):  # type: ignore[no-untyped-def]
    async def metrics(_: Request) -> Response:
        return Response(render(await gather(settings)), media_type=CONTENT_TYPE)

    return metrics
