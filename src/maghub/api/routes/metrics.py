"""``GET /metrics``: the Prometheus metrics (SPEC §14 Observability).

Open in local mode like the MAG routes; in auth mode it needs a token, unless
``MAGHUB_METRICS_PUBLIC=true`` opens it for a Prometheus that scrapes without one.
"""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter, Response
from fastapi.responses import PlainTextResponse

from maghub.api.deps import RuntimeDep
from maghub.api.security import MetricsAccess
from maghub.mcp.connections.status import ConnectionState
from maghub.observability import metrics

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    summary="Prometheus metrics (text exposition format)",
    dependencies=[MetricsAccess],
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def prometheus_metrics(runtime: RuntimeDep) -> Response:
    states = Counter(status.state.value for status in runtime.mcp.manager.status().values())
    metrics.set_mcp_connection_states(dict(states), [state.value for state in ConnectionState])
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)
