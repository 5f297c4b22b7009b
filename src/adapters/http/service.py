"""One way to assemble a service's Starlette app, so the three behave alike at the edges.

Every app gets: its endpoints, each behind the guard its access declares (`access`), plus the probes and
GET /metrics, public (its own registry unless given one, with the HTTP requests counted and timed);
correlation ids; every error as problem+json (`problems`), the database's outages (`unavailable`) as 503;
and the lifespan the composition root gives it.
`app.state.access` maps each (method, path template) to its access, for the contract tests. Endpoints read bodies with
`read_json` and answer JSON with `json_bytes`, so a stored answer (Idempotency-Key) is byte-identical to
the first one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request

from adapters.http.access import Access, Endpoint, Verifier, routes
from adapters.http.correlation import CorrelationIds
from adapters.http.json import parse_json
from adapters.http.metrics import HttpMetrics, RequestMetrics, metrics_route
from adapters.http.probes import Check, probe_routes
from adapters.http.problems import (
    BODY_TOO_LARGE,
    EXCEPTION_HANDLERS,
    MAX_BODY_BYTES,
    ApiError,
    DatabaseErrors,
    database_error_handlers,
)

Lifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]


def build_app(
    endpoints: Sequence[Endpoint],
    *,
    verifier: Verifier,
    new_id: Callable[[], str],
    readiness: Mapping[str, Check],
    lifespan: Lifespan | None,
    registry: CollectorRegistry | None = None,
    unavailable: DatabaseErrors | None = None,
) -> Starlette:
    """`unavailable`: the errors by which the service's database says it did not answer, each answered 503
    (none when not given: an app over memory adapters)."""
    registry = CollectorRegistry() if registry is None else registry
    operations = [*probe_routes(readiness), metrics_route(registry)]
    app = Starlette(
        routes=[*routes(endpoints, verifier), *operations],
        middleware=[
            Middleware(CorrelationIds, new_id=new_id),
            # Inside CorrelationIds, which passes on a copy of the scope: this one reads the route the router
            # wrote into its scope.
            Middleware(RequestMetrics, metrics=HttpMetrics(registry)),
        ],
        exception_handlers={**EXCEPTION_HANDLERS, **database_error_handlers(unavailable or DatabaseErrors())},
        lifespan=lifespan,
    )
    access: dict[tuple[str, str], Access] = {
        (method, e.path): e.access for e in endpoints for method in e.methods
    }
    access.update({("GET", route.path): Access.PUBLIC for route in operations})
    app.state.access = access
    return app


async def read_json(request: Request) -> Any:
    """The request's JSON document, read up to `MAX_BODY_BYTES` and no further (then 413)."""
    # Not Starlette's `max_body_size`: when Content-Length is over it, it answers 413 in text/plain, over
    # whatever problem+json response the app had made.
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise _too_large()
    return parse_json(bytes(body))


def _too_large() -> ApiError:
    return ApiError(BODY_TOO_LARGE, f"the body is over the limit of {MAX_BODY_BYTES // 1024} KiB")


def json_bytes(content: Any) -> bytes:
    # Starlette's JSONResponse encoding, written out so it can be stored and replayed.
    return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
