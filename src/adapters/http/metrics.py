"""GET /metrics on every service, and the HTTP requests each one counts and times (docs/observability.md).

The answer is Prometheus' text format (version 0.0.4), written by its own client library from the app's
`CollectorRegistry`: the two HTTP metrics below plus whatever scrape-time collectors the composition root
registered (adapters/metrics.py). Every app has a registry of its own, never prometheus_client's global
one: tests build many apps in one process, and the second would find every name taken. The answer is made
on a worker thread, because those collectors read SQLite.

`RequestMetrics` is a pure ASGI middleware (as `CorrelationIds`: BaseHTTPMiddleware would buffer and add a
task per request). Its `route` label is the path template of the route that matched (`/orders/{order_id}`),
never the path itself, so the number of series stays that of the routes however many ids are asked for; a
request no route matches counts under `unmatched`. The router writes the route it chose into the scope
(`scope["route"]`), and only into the scope it was given: `CorrelationIds` hands the app a copy, so this
middleware must come after it (inside it) to read that. A method other than the usual ones is `other`, for
the same reason. Each label set's child is looked up once and kept: `.labels()` on every request would cost
a lock and a tuple of strings.
"""

from __future__ import annotations

import asyncio
import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = "http_requests_total"
DURATION = "http_request_duration_seconds"
UNMATCHED = "unmatched"  # the route of a request no route matched (a template always starts with "/")
OTHER_METHOD = "other"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# From 1 ms (an order answers in a few) to 10 s (past the Product Service's 2 s timeout, which is a 503).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class HttpMetrics:
    """An app's request counter and duration histogram, registered in its registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._requests = Counter(
            REQUESTS.removesuffix("_total"),
            "HTTP requests answered, by method, route template and status code.",
            ["method", "route", "status"],
            registry=registry,
        )
        self._durations = Histogram(
            DURATION,
            "Time from a request's arrival to the end of its answer, by method and route template.",
            ["method", "route"],
            registry=registry,
            buckets=BUCKETS,
        )
        self._counted: dict[tuple[str, str, int], Counter] = {}
        self._timed: dict[tuple[str, str], Histogram] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        counted = self._counted.get((method, route, status))
        if counted is None:
            counted = self._requests.labels(method, route, str(status))
            self._counted[(method, route, status)] = counted
        counted.inc()
        timed = self._timed.get((method, route))
        if timed is None:
            timed = self._durations.labels(method, route)
            self._timed[(method, route)] = timed
        timed.observe(seconds)


class RequestMetrics:
    def __init__(self, app: ASGIApp, *, metrics: HttpMetrics) -> None:
        self._app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before answering (ServerErrorMiddleware)

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, send_noting_status)
        finally:
            method = scope["method"] if scope["method"] in METHODS else OTHER_METHOD
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            self._metrics.observe(method, route, status, time.perf_counter() - started)


def metrics_route(registry: CollectorRegistry) -> Route:
    async def metrics(_request: Request) -> Response:
        # Off the event loop: the scrape-time collectors query SQLite.
        exposition = await asyncio.to_thread(generate_latest, registry)
        return Response(exposition, media_type=CONTENT_TYPE_PLAIN_0_0_4)

    return Route("/metrics", metrics, methods=["GET"])
