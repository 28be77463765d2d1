"""OpenTelemetry traces, exported over OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set, and free when it is not: without it the SDK is never
imported and every helper here returns at once.

The standard ``OTEL_*`` variables apply as the SDK reads them (service name and resource attributes,
exporter headers, timeout, compression, batch processor limits, ``OTEL_SDK_DISABLED``,
``OTEL_TRACES_EXPORTER=none``). The exporter installed is the HTTP/protobuf one; a request for
another protocol (gRPC) leaves tracing off with a warning rather than sending to the wrong port.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the SDK loads only when tracing is configured
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

log = logging.getLogger(__name__)

SUPPORTED_PROTOCOL = "http/protobuf"
AttributeValue = str | int | float | bool | list[str]

_tracer: Tracer | None = None
_provider: TracerProvider | None = None


def wanted(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the environment asks for traces (an OTLP endpoint, the SDK not disabled)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return bool(environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def configure_from_environment() -> bool:
    """Set up the exporter once per process if the environment asks for it. Returns whether traces are on."""
    global _tracer, _provider
    if _tracer is not None:
        return True
    if not wanted():
        return False
    protocol = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or ""
    ).strip()
    if protocol and protocol != SUPPORTED_PROTOCOL:
        log.warning(
            "traces are off: OTEL_EXPORTER_OTLP_PROTOCOL=%s is not supported; use http/protobuf "
            "(the collector's OTLP/HTTP port, usually 4318)",
            protocol,
        )
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from maghub import __version__

    # Resource.create adds OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME; "maghub" only names a
    # service neither of them names.
    attributes: dict[str, str] = {"service.version": __version__}
    if not os.environ.get("OTEL_SERVICE_NAME") and "service.name=" not in os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    ):
        attributes[SERVICE_NAME] = "maghub"
    resource = Resource.create(attributes)
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    _provider, _tracer = provider, provider.get_tracer("maghub", __version__)
    log.info("exporting traces over OTLP/HTTP")
    return True


def enabled() -> bool:
    return _tracer is not None


def start_span(
    name: str, attributes: Mapping[str, AttributeValue], *, server: bool = False, internal: bool = False
) -> Span | None:
    """A span, child of the current one (None when traces are off). The caller ends it with :func:`end`."""
    if _tracer is None:
        return None
    from opentelemetry.trace import SpanKind

    kind = SpanKind.SERVER if server else SpanKind.INTERNAL if internal else SpanKind.CLIENT
    return _tracer.start_span(name, kind=kind, attributes=dict(attributes))


def current(span: Span | None) -> AbstractContextManager[Any]:
    """Makes ``span`` the parent of the spans started inside (nothing when traces are off)."""
    if span is None:
        return nullcontext()
    from opentelemetry.trace import use_span

    return use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False)


def end(span: Span | None, attributes: Mapping[str, AttributeValue] | None = None, error: str | None = None) -> None:
    if span is None:
        return
    from opentelemetry.trace import Status, StatusCode

    if attributes:
        span.set_attributes(dict(attributes))
    if error is not None:
        span.set_status(Status(StatusCode.ERROR, error))
        span.set_attribute("error.type", error)
    span.end()


def current_ids() -> dict[str, str]:
    """The current trace and span ids, hex as OTLP backends show them (empty when traces are off)."""
    if _tracer is None:
        return {}
    from opentelemetry.trace import get_current_span

    context = get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": format(context.trace_id, "032x"), "span_id": format(context.span_id, "016x")}


def flush(timeout_seconds: float = 5.0) -> None:
    """Export what is buffered (blocking: call it off the event loop)."""
    if _provider is not None:
        _provider.force_flush(int(timeout_seconds * 1000))
