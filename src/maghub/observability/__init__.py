"""Operations telemetry (SPEC §14 Observability): Prometheus metrics and OpenTelemetry traces.

The rest of maghub reports through the seams in :mod:`maghub.observability.seams`, one call per
event where runs, nodes, LLM calls and tool calls start and end. No FastAPI here: the HTTP
middleware and the ``/metrics`` route live in ``api/``.
"""
