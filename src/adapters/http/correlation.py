"""X-Correlation-Id: taken from the request if valid, else made; given to the endpoint and sent back.

A pure ASGI middleware (no BaseHTTPMiddleware: it would buffer and add a task per request). The id is an id
by the domain's rule (it travels in every event's envelope), so anything else a client sends is replaced,
never echoed: a header is no way to smuggle text into the logs or the events.

A request without a valid X-Correlation-Id but with a valid W3C `traceparent` gets its trace id as the
correlation id, so the order's flow continues the caller's trace (adapters.tracecontext). Every line logged
while the request is handled carries `correlation_id` and `trace_id` (adapters.logs).
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters import tracecontext
from adapters.logs import log_context
from ordering_core.values import ID_PATTERN

HEADER = "X-Correlation-Id"


class CorrelationIds:
    def __init__(self, app: ASGIApp, *, new_id: Callable[[], str]) -> None:
        self._app = app
        self._new_id = new_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        sent = headers.get(HEADER)
        if sent is not None and ID_PATTERN.fullmatch(sent):
            correlation_id = sent
        else:
            trace = tracecontext.parse(headers.get(tracecontext.HEADER))
            correlation_id = trace.trace_id if trace is not None else self._new_id()
        # A new scope and state dict: the server's may be shared with other requests (lifespan state).
        scope = {**scope, "state": {**scope.get("state", {}), "correlation_id": correlation_id}}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = correlation_id
            await send(message)

        with log_context(correlation_id=correlation_id, trace_id=tracecontext.trace_id_for(correlation_id)):
            await self._app(scope, receive, send_with_id)


def correlation_id(request: Request) -> str:
    """The request's correlation id (set by `CorrelationIds`, which every service app has)."""
    value: str = request.state.correlation_id
    return value
