"""The Order Service's HTTP app: place, pay, cancel and read orders (openapi.yaml, tag "Order Service").

Every order operation needs a signed-in caller (`adapters.http.access`); what that caller may do to an order
is the use cases' rule (`ordering_core.customers`): their own orders, any for an admin, payments by the
payment provider. `create_app` takes every dependency; nothing here connects or reads the environment.

The event loop never waits for the database: every unit of work and every Idempotency-Key step is handed to
`offload` and awaited (in production: run at once if nothing else writes, else on the database's writer
thread), so a long write on another thread (the expiry sweep, the relay, a consumer) holds back only the
writes queued behind it, never a read, a probe or a request still asking the Product Service
(`ProductCatalog.check`, awaited too).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Protocol

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from adapters.http.access import Endpoint, Verifier, signed_in
from adapters.http.bodies import (
    CancelBody,
    ItemsBody,
    PaymentBody,
    optional_query_id,
    query_limit,
    query_newest_first,
)
from adapters.http.correlation import correlation_id
from adapters.http.demo_page import DemoSignIn, ProductListing, page_endpoints
from adapters.http.idempotency import fingerprint, once
from adapters.http.json import structure
from adapters.http.probes import Check
from adapters.http.problems import DatabaseErrors, FieldError, InvalidRequest
from adapters.http.representations import order_json, status_json
from adapters.http.service import Lifespan, build_app, json_bytes, read_json
from ordering_core.customers import Caller
from ordering_core.holds import HoldLimit
from ordering_core.orders import CancelReason, Order
from ordering_core.ports import (
    IdempotencyStore,
    KeyedPlacement,
    Offload,
    OrderUnitOfWork,
    OrderViews,
    ProductCatalog,
    Reply,
)
from ordering_core.services.orders import cancel_order, mark_paid, order_for, orders_page, place_order
from ordering_core.values import Line

log = logging.getLogger(__name__)

IDEMPOTENCY_KEY = "Idempotency-Key"
_MAX_KEY_LENGTH = 128


class Catalog(ProductCatalog, ProductListing, Protocol):
    """What the Order Service asks the Product Service: whether an order's lines can be served (the domain's
    port), and its product list, for the demo page (`GET /catalog`)."""


def create_app(
    *,
    uow: Callable[[], OrderUnitOfWork],
    offload: Offload,
    views: OrderViews,
    catalog: Catalog,
    idempotency: IdempotencyStore,
    verifier: Verifier,
    new_id: Callable[[], str],
    clock: Callable[[], datetime],
    readiness: Mapping[str, Check],
    hold_limit: HoldLimit | None = None,
    demo_sign_in: DemoSignIn | None = None,
    lifespan: Lifespan | None = None,
    on_commit: Callable[[], None] | None = None,
    registry: CollectorRegistry | None = None,
    dead_letters: Sequence[Endpoint] = (),
    unavailable: DatabaseErrors | None = None,
) -> Starlette:
    """The Order Service.

    `uow` makes a fresh unit of work per request, run by `offload`; `verifier` checks bearer tokens; `clock` must return
    timezone-aware datetimes; `hold_limit` caps what one customer's unpaid orders hold (None: no cap);
    `demo_sign_in` adds the demo page's one-click sign-in (None: it does not exist); `on_commit` is called
    after each request that may have committed events (so an outbox relay can wake up instead of waiting
    for its next look); `lifespan` runs the composition root's background work; `registry` is what
    GET /metrics reports, the HTTP metrics added (a new one when not given); `dead_letters` are the
    dead-letter operations (entrypoints.dead_letters), none when not given; `unavailable` the errors by which
    the database says it did not answer, each answered 503 (entrypoints.storage; none when not given).
    """
    api = _OrderApi(uow, offload, views, catalog, idempotency, new_id, clock, hold_limit, on_commit or _nothing)
    endpoints = [
        signed_in("/orders/order", api.place, methods=["POST"]),
        signed_in("/orders/paid", api.pay, methods=["POST"]),
        signed_in("/orders/cancel", api.cancel, methods=["POST"]),
        signed_in("/orders/{order_id}", api.get),
        signed_in("/orders", api.page),
        *page_endpoints(catalog, demo_sign_in),
        *dead_letters,
    ]
    return build_app(
        endpoints,
        verifier=verifier,
        new_id=new_id,
        readiness=readiness,
        lifespan=lifespan,
        registry=registry,
        unavailable=unavailable,
    )


class _OrderApi:
    def __init__(
        self,
        uow: Callable[[], OrderUnitOfWork],
        offload: Offload,
        views: OrderViews,
        catalog: ProductCatalog,
        idempotency: IdempotencyStore,
        new_id: Callable[[], str],
        clock: Callable[[], datetime],
        hold_limit: HoldLimit | None,
        on_commit: Callable[[], None],
    ) -> None:
        self._uow = uow
        self._offload = offload
        self._views = views
        self._catalog = catalog
        self._idempotency = idempotency
        self._new_id = new_id
        self._clock = clock
        self._hold_limit = hold_limit
        self._on_commit = on_commit

    async def place(self, request: Request, caller: Caller) -> Response:
        document = await read_json(request)
        lines = structure(document, ItemsBody).lines()
        key = _idempotency_key(request)
        keyed = None if key is None else KeyedPlacement(key, _order_body)

        async def place_now() -> Reply:
            return await self._place(lines, caller.customer_id, correlation_id(request), keyed)

        if key is None:
            reply, replayed = await place_now(), False
        else:
            # Keys are the customer's own: another customer's request with the same key is another request.
            reply, replayed = await once(
                self._idempotency,
                self._offload,
                caller.customer_id,
                key,
                fingerprint(document),
                self._clock(),
                place_now,
            )
        headers = {"Location": f"/orders/{reply.order_id}"}
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(reply.body, status_code=201, media_type="application/json", headers=headers)

    async def _place(
        self, lines: Sequence[Line], customer_id: str, correlation: str, keyed: KeyedPlacement | None
    ) -> Reply:
        order = await place_order(
            lines,
            customer_id=customer_id,
            catalog=self._catalog,
            uow=self._uow(),
            new_id=self._new_id,
            now=self._clock(),
            correlation_id=correlation,
            hold_limit=self._hold_limit,
            offload=self._offload,
            keyed=keyed,  # its reply is bound to the key in the order's own unit of work
        )
        self._on_commit()
        log.info(
            "order placed",
            extra={
                "order_id": order.order_id,
                "customer_id": order.customer_id,
                "total": str(order.total),
                "lines": len(order.lines),
            },
        )
        return Reply(order.order_id, _order_body(order))

    async def pay(self, request: Request, caller: Caller) -> Response:
        body = structure(await read_json(request), PaymentBody)
        order = await self._offload(
            partial(
                mark_paid,
                body.order_id,
                body.effective_payment_id,
                caller=caller,
                uow=self._uow(),
                new_id=self._new_id,
                now=self._clock(),
                correlation_id=correlation_id(request),
            )
        )
        self._on_commit()
        log.info("order paid", extra={"order_id": order.order_id, "payment_id": order.payment_id})
        return JSONResponse(status_json(order))

    async def cancel(self, request: Request, caller: Caller) -> Response:
        body = structure(await read_json(request), CancelBody)
        order = await self._offload(
            partial(
                cancel_order,
                body.order_id,
                CancelReason.CUSTOMER,
                caller=caller,
                uow=self._uow(),
                new_id=self._new_id,
                now=self._clock(),
                correlation_id=correlation_id(request),
            )
        )
        self._on_commit()
        log.info("order cancelled", extra={"order_id": order.order_id, "reason": order.cancel_reason})
        return JSONResponse(status_json(order))

    async def get(self, request: Request, caller: Caller) -> Response:
        order = order_for(request.path_params["order_id"], caller=caller, views=self._views)
        return JSONResponse(order_json(order))

    async def page(self, request: Request, caller: Caller) -> Response:
        orders, next_cursor = orders_page(
            caller=caller,
            views=self._views,
            after=optional_query_id(request.query_params, "after"),
            limit=query_limit(request.query_params),
            newest_first=query_newest_first(request.query_params),
        )
        return JSONResponse({"orders": [order_json(order) for order in orders], "next": next_cursor})


def _order_body(order: Order) -> bytes:
    """The 201 answer's body: what a repeat of the request with the same Idempotency-Key gets, byte for byte."""
    return json_bytes(order_json(order))


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get(IDEMPOTENCY_KEY)
    if key is None:
        return None
    if not (1 <= len(key) <= _MAX_KEY_LENGTH and all("!" <= char <= "~" for char in key)):
        raise InvalidRequest(
            [
                FieldError(
                    IDEMPOTENCY_KEY, f"must be 1 to {_MAX_KEY_LENGTH} printable ASCII characters, no spaces"
                )
            ]
        )
    return key


def _nothing() -> None:
    """No outbox relay to wake (tests, or a composition root that polls)."""
