"""OpenTelemetry tracing, when a service's ``tracing`` setting is on.

Messages carry the W3C ``traceparent`` in their AMQP headers (FastStream's telemetry
middleware writes it on publish and continues it on consume). Two hops leave that path and
take the context with them by hand: the scheduler keeps an assignment's ``traceparent``
with its timers and fires reminders inside it (``continued``), and the notifier puts it in
the Twilio status callback URL (``with_traceparent``), which the HTTP instrumentation here
reads back (``QueryTraceparent``).

Each service gets its own ``TracerProvider`` (not the global one), so spans name the
service that made them even when several run in one process, as the tests do. When
tracing is off none of this is installed, and the helpers below return after reading one
context variable.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import FastAPI
from opentelemetry import context as otel_context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared.logging import get_logger
from shared.settings import ServiceSettings

TRACEPARENT = "traceparent"
# Probes and scrapes every few seconds would bury the traces worth reading.
UNTRACED_PATHS = "/healthz,/readyz,/metrics"
_PROPAGATOR = TraceContextTextMapPropagator()
log = get_logger("shared.tracing")


def tracer_provider(service_name: str, settings: ServiceSettings) -> TracerProvider | None:
    """The service's tracer provider when tracing is on, exporting to the OTLP endpoint."""
    if not settings.tracing:
        return None
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
    if settings.otlp_endpoint:
        exporter = OTLPSpanExporter(endpoint=settings.otlp_endpoint)
        provider.add_span_processor(BatchSpanProcessor(exporter))
    else:
        # Context still propagates, so this service does not break other services' traces.
        log.warning("tracing is on without an OTLP endpoint: spans are not exported")
    return provider


def instrument_http(app: FastAPI, provider: TracerProvider) -> None:
    """A server span per request (but the probes), continuing the caller's trace."""
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls=UNTRACED_PATHS)
    # The instrumentation wraps the middleware stack it builds, so a middleware added the
    # usual way would run inside it, after the trace context was read: wrap it once more.
    build = app.build_middleware_stack

    def build_with_query_traceparent() -> Any:
        return QueryTraceparent(build())

    app.build_middleware_stack = build_with_query_traceparent  # type: ignore[method-assign]


class QueryTraceparent:
    """Takes a ``traceparent`` query parameter as the header when there is none.

    Providers call back on a URL we chose but never with our headers; the URL is the only
    thing that comes back (Twilio signs it, query included, so adding to it is safe)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and TRACEPARENT.encode() in scope.get("query_string", b""):
            headers = scope.get("headers", [])
            if not any(name == TRACEPARENT.encode() for name, _ in headers):
                query = dict(parse_qsl(scope["query_string"].decode("latin-1")))
                if value := query.get(TRACEPARENT):
                    header = (TRACEPARENT.encode(), value.encode("latin-1"))
                    scope = {**scope, "headers": [*headers, header]}
        await self.app(scope, receive, send)


def current_traceparent() -> str | None:
    """The W3C traceparent of the span in progress, or None (always, when tracing is off)."""
    if not otel_context.get_current():  # nothing attached: no span to carry
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get(TRACEPARENT)


def with_traceparent(url: str) -> str:
    """``url`` with the current traceparent as a query parameter (unchanged without one)."""
    traceparent = current_traceparent()
    if traceparent is None:
        return url
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}{urlencode({TRACEPARENT: traceparent})}"


@contextmanager
def continued(traceparent: str | None) -> Iterator[None]:
    """Run the block inside the trace ``traceparent`` names (as is, without one)."""
    if not traceparent:
        yield
        return
    token = otel_context.attach(_PROPAGATOR.extract({TRACEPARENT: traceparent}))
    try:
        yield
    finally:
        otel_context.detach(token)
