"""Who may call what: every endpoint declares its access here, and one guard enforces it.

An app's routes are `Endpoint`s, each made by one of three functions that say who may call it:

    public(path, handler)        anyone; no token is read (the catalog, availability, probes, the page)
    signed_in(path, handler)     any caller with a valid bearer token; the handler gets the `Caller`, and
                                 the use case decides what that caller may do to an order (customers.py)
    admin_only(path, handler)    a caller with the role admin (renaming, repricing, restocking)

There is no other way to add a route to a service (`service.build_app` takes only `Endpoint`s), so a new
endpoint says who may call it where it is declared, and `guard` is the one place that checks. openapi.yaml
declares the same for each operation and a contract test holds the two together.

The answers follow RFC 6750. No token (or another scheme than Bearer): 401 with `WWW-Authenticate: Bearer
realm="ordering"`. A token that is not valid (malformed, badly signed, expired, not yet valid, for another
issuer or audience, with an unknown key): 401 with `error="invalid_token"`; why goes to the log, never to
the caller, who learns nothing that would help forge one. A valid token without the role: 403 with
`error="insufficient_scope"`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from enum import StrEnum
from typing import Protocol

from attrs import frozen
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, request_response
from starlette.types import Receive, Scope, Send

from adapters.http.problems import FORBIDDEN, INVALID_TOKEN, UNAUTHENTICATED, ApiError
from adapters.identity.verifier import TokenRefused
from ordering_core.customers import Caller

log = logging.getLogger(__name__)

REALM = "ordering"
PublicHandler = Callable[[Request], Awaitable[Response]]
CallerHandler = Callable[[Request, Caller], Awaitable[Response]]


class Verifier(Protocol):
    async def verify(self, token: str) -> Caller:
        """The caller the token identifies, or `TokenRefused` saying why not (for the log)."""


class Access(StrEnum):
    PUBLIC = "public"
    SIGNED_IN = "signed in"
    ADMIN = "admin"


@frozen
class Endpoint:
    """One operation of a service: where, which methods, who may call it, and what answers it."""

    path: str
    methods: tuple[str, ...]
    access: Access
    handler: PublicHandler | CallerHandler


def public(path: str, handler: PublicHandler, *, methods: Sequence[str] = ("GET",)) -> Endpoint:
    return Endpoint(path, tuple(methods), Access.PUBLIC, handler)


def signed_in(path: str, handler: CallerHandler, *, methods: Sequence[str] = ("GET",)) -> Endpoint:
    return Endpoint(path, tuple(methods), Access.SIGNED_IN, handler)


def admin_only(path: str, handler: CallerHandler, *, methods: Sequence[str] = ("GET",)) -> Endpoint:
    return Endpoint(path, tuple(methods), Access.ADMIN, handler)


def routes(endpoints: Sequence[Endpoint], verifier: Verifier) -> list[Route]:
    """One Starlette route per path, in the order the paths first appear; each method's handler behind
    `guard` unless public.

    A path's route takes every method and dispatches them itself, because Starlette's own 405 names only
    the methods of the first route that matched the path (`Allow: GET, HEAD` on a path that also has PUT),
    and a later route with a parameter would take a static path's other methods (GET /products/availability
    read as the product "availability"). So any method a path does not have, OPTIONS included, answers 405
    with `Allow` listing every method it has (RFC 9110 15.5.6).
    """
    by_path: dict[str, dict[str, PublicHandler]] = {}
    for e in endpoints:
        handlers = by_path.setdefault(e.path, {})
        for method in e.methods:
            if method in handlers:
                raise ValueError(f"{method} {e.path} is declared twice")
            handlers[method] = guard(e, verifier)
    return [Route(path, _ByMethod(handlers), methods=None) for path, handlers in by_path.items()]


class _ByMethod:
    """An ASGI app answering each method with its handler, any other with 405 and `Allow`.

    An ASGI app, not a function: Starlette would give a function endpoint the methods GET and HEAD alone.
    """

    def __init__(self, handlers: dict[str, PublicHandler]) -> None:
        if "GET" in handlers and "HEAD" not in handlers:
            handlers = {**handlers, "HEAD": handlers["GET"]}  # as Starlette does: the server drops the body
        self._handlers = handlers
        self._allow = ", ".join(sorted(handlers))
        self._app = request_response(self._dispatch)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    async def _dispatch(self, request: Request) -> Response:
        handler = self._handlers.get(request.method)
        if handler is None:
            raise HTTPException(status_code=405, headers={"Allow": self._allow})
        return await handler(request)


def guard(endpoint: Endpoint, verifier: Verifier) -> PublicHandler:
    """The endpoint's handler, called only for a caller its access admits."""
    if endpoint.access is Access.PUBLIC:
        return endpoint.handler  # type: ignore[return-value]
    handler: CallerHandler = endpoint.handler  # type: ignore[assignment]
    needs_admin = endpoint.access is Access.ADMIN

    async def guarded(request: Request) -> Response:
        caller = await authenticate(request, verifier)
        if needs_admin and not caller.is_admin:
            raise ApiError(
                FORBIDDEN,
                "this operation needs the role admin",
                headers={"WWW-Authenticate": _challenge('error="insufficient_scope"')},
            )
        return await handler(request, caller)

    return guarded


async def authenticate(request: Request, verifier: Verifier) -> Caller:
    """The caller the request's bearer token identifies, or the 401 that says there is none."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        raise ApiError(
            UNAUTHENTICATED,
            "this operation needs a bearer token (Authorization: Bearer <token>)",
            headers={"WWW-Authenticate": _challenge()},
        )
    try:
        return await verifier.verify(token.strip())
    except TokenRefused as refused:
        log.info("bearer token refused: %s", refused.reason, extra={"path": request.url.path})
        raise ApiError(
            INVALID_TOKEN,
            "the bearer token is not valid: it may have expired, or not be one these services accept",
            headers={"WWW-Authenticate": _challenge('error="invalid_token"')},
        ) from None


def _challenge(*parameters: str) -> str:
    return ", ".join([f'Bearer realm="{REALM}"', *parameters])
