"""X-Correlation-Id: taken from the request if valid, else made; given to the endpoint and sent back.

A pure ASGI middleware (no BaseHTTPMiddleware: it would buffer and add a task per request). The id is an id
by the domain's rule (it travels in every event's envelope), so anything else a client sends is replaced,
never echoed: a header is no way to smuggle text into the logs or the events.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
        sent = Headers(scope=scope).get(HEADER)
        correlation_id = sent if sent is not None and ID_PATTERN.fullmatch(sent) else self._new_id()
        # A new scope and state dict: the server's may be shared with other requests (lifespan state).
        scope = {**scope, "state": {**scope.get("state", {}), "correlation_id": correlation_id}}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = correlation_id
            await send(message)

        await self._app(scope, receive, send_with_id)


def correlation_id(request: Request) -> str:
    """The request's correlation id (set by `CorrelationIds`, which every service app has)."""
    value: str = request.state.correlation_id
    return value
