"""HTTP request metrics for every service, per route template and status code.

prometheus-fastapi-instrumentator resolves the route template (``/done/{code}``, never
the path with its token), captures the status and times the request; we record into our
own two metrics so that the method label is bounded too (any token is a valid HTTP
method) and an app built twice in one process (tests) still counts.
"""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_fastapi_instrumentator import Instrumentator
from prometheus_fastapi_instrumentator.metrics import Info

from shared.metrics import HTTP_REQUESTS, HTTP_SECONDS, OTHER

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Probes and scrapes would drown the traffic an operator wants to see.
NOT_COUNTED = ("^/metrics$", "^/healthz$", "^/readyz$")


def _record(info: Info) -> None:
    method = info.method if info.method in METHODS else OTHER
    HTTP_REQUESTS.labels(method, info.modified_handler, info.modified_status).inc()
    HTTP_SECONDS.labels(method, info.modified_handler).observe(info.modified_duration)


def instrument(app: FastAPI) -> None:
    """Count every request but probes; a path no route matches is counted as ``none``."""
    Instrumentator(
        should_group_status_codes=False,  # a 403 must stay a 403 (refused callbacks)
        should_group_untemplated=True,
        excluded_handlers=list(NOT_COUNTED),
    ).add(_record).instrument(app)
