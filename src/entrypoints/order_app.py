"""The Order Service's HTTP app: place, pay, cancel and read orders (openapi.yaml, tag "Order Service").

`create_app` takes every dependency; nothing here connects or reads the environment. The use cases are
called on the event loop: a use case's SQLite transaction is short (measured in shared/notes/
performance.md, not the bottleneck), and a hop to a thread per request would cost more than it saves. The
one slow step, asking the Product Service, is awaited (`ProductCatalog.check`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Protocol

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.http.bodies import (
    CancelBody,
    ItemsBody,
    PaymentBody,
    optional_query_id,
    query_limit,
    query_newest_first,
)
from adapters.http.correlation import correlation_id
from adapters.http.demo_page import ProductListing, page_routes
from adapters.http.idempotency import IdempotencyStore, Reply, fingerprint, once
from adapters.http.json import structure
from adapters.http.probes import Check
from adapters.http.problems import FieldError, InvalidRequest
from adapters.http.representations import order_json, status_json
from adapters.http.service import OPENAPI_PATH, Lifespan, build_app, json_bytes, read_json
from ordering_core.errors import UnknownOrder
from ordering_core.orders import CancelReason
from ordering_core.ports import OrderUnitOfWork, OrderViews, ProductCatalog
from ordering_core.services.orders import cancel_order, mark_paid, place_order
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
    views: OrderViews,
    catalog: Catalog,
    idempotency: IdempotencyStore,
    new_id: Callable[[], str],
    clock: Callable[[], datetime],
    readiness: Mapping[str, Check],
    lifespan: Lifespan | None = None,
    on_commit: Callable[[], None] | None = None,
    openapi_path: Path = OPENAPI_PATH,
    registry: CollectorRegistry | None = None,
) -> Starlette:
    """The Order Service.

    `uow` makes a fresh unit of work per request; `clock` must return timezone-aware datetimes;
    `on_commit` is called after each request that may have committed events (so an outbox relay can wake
    up instead of waiting for its next look); `lifespan` runs the composition root's background work;
    `registry` is what GET /metrics reports, the HTTP metrics added (a new one when not given).
    """
    api = _OrderApi(uow, views, catalog, idempotency, new_id, clock, on_commit or _nothing)
    routes = [
        Route("/orders/order", api.place, methods=["POST"]),
        Route("/orders/paid", api.pay, methods=["POST"]),
        Route("/orders/cancel", api.cancel, methods=["POST"]),
        Route("/orders/{order_id}", api.get, methods=["GET"]),
        Route("/orders", api.page, methods=["GET"]),
        *page_routes(catalog),
    ]
    return build_app(
        routes,
        new_id=new_id,
        readiness=readiness,
        lifespan=lifespan,
        openapi_path=openapi_path,
        registry=registry,
    )


class _OrderApi:
    def __init__(
        self,
        uow: Callable[[], OrderUnitOfWork],
        views: OrderViews,
        catalog: ProductCatalog,
        idempotency: IdempotencyStore,
        new_id: Callable[[], str],
        clock: Callable[[], datetime],
        on_commit: Callable[[], None],
    ) -> None:
        self._uow = uow
        self._views = views
        self._catalog = catalog
        self._idempotency = idempotency
        self._new_id = new_id
        self._clock = clock
        self._on_commit = on_commit

    async def place(self, request: Request) -> Response:
        document = await read_json(request)
        lines = structure(document, ItemsBody).lines()
        key = _idempotency_key(request)

        async def place_now() -> Reply:
            return await self._place(lines, correlation_id(request))

        if key is None:
            reply, replayed = await place_now(), False
        else:
            reply, replayed = await once(
                self._idempotency, key, fingerprint(document), self._clock(), place_now
            )
        headers = {"Location": f"/orders/{reply.order_id}"}
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(reply.body, status_code=201, media_type="application/json", headers=headers)

    async def _place(self, lines: Sequence[Line], correlation: str) -> Reply:
        order = await place_order(
            lines,
            catalog=self._catalog,
            uow=self._uow(),
            new_id=self._new_id,
            now=self._clock(),
            correlation_id=correlation,
        )
        self._on_commit()
        log.info(
            "order placed",
            extra={"order_id": order.order_id, "total": str(order.total), "lines": len(order.lines)},
        )
        return Reply(order.order_id, json_bytes(order_json(order)))

    async def pay(self, request: Request) -> Response:
        body = structure(await read_json(request), PaymentBody)
        order = mark_paid(
            body.order_id,
            body.effective_payment_id,
            uow=self._uow(),
            new_id=self._new_id,
            now=self._clock(),
            correlation_id=correlation_id(request),
        )
        self._on_commit()
        log.info("order paid", extra={"order_id": order.order_id, "payment_id": order.payment_id})
        return JSONResponse(status_json(order))

    async def cancel(self, request: Request) -> Response:
        body = structure(await read_json(request), CancelBody)
        order = cancel_order(
            body.order_id,
            CancelReason.CUSTOMER,
            uow=self._uow(),
            new_id=self._new_id,
            now=self._clock(),
            correlation_id=correlation_id(request),
        )
        self._on_commit()
        log.info("order cancelled", extra={"order_id": order.order_id, "reason": order.cancel_reason})
        return JSONResponse(status_json(order))

    async def get(self, request: Request) -> Response:
        order_id = request.path_params["order_id"]
        order = self._views.order(order_id)
        if order is None:
            raise UnknownOrder(order_id)
        return JSONResponse(order_json(order))

    async def page(self, request: Request) -> Response:
        limit = query_limit(request.query_params)
        after = optional_query_id(request.query_params, "after")
        newest_first = query_newest_first(request.query_params)
        # One more than asked: whether it comes back says whether there is a next page.
        found = self._views.orders(after=after, limit=limit + 1, newest_first=newest_first)
        orders = list(found[:limit])
        next_cursor = orders[-1].order_id if len(found) > limit else None
        return JSONResponse({"orders": [order_json(order) for order in orders], "next": next_cursor})


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
