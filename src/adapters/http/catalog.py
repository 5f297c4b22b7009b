"""The `ProductCatalog` port over HTTP: one `POST /products/availability` to the Product Service per order.

It also reads the Product Service's list (`GET /products`, `products()`) for the Order Service's demo page
(`GET /catalog`): the browser reaches only the Order Service, so the Order Service asks for it.

The caller makes the `httpx.AsyncClient` (one per process, pooled, with `base_url` and explicit timeouts;
`product_service_client` makes the one the Order Service uses) and closes it; this class only uses it.

Any way of not getting a usable answer is `CatalogUnavailable`: no connection, a timeout, a status other
than 200, or a body that is not the documented answer to the lines asked. Nothing is retried here: the
Order Service answers 503 with Retry-After, and the client decides.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import aiohttp
import httpx
from attrs import frozen
from httpx_aiohttp import AiohttpTransport

from adapters.http.json import Id, Name, Price, Quantity, StockLevel, parse_json, structure
from adapters.http.problems import ApiError, InvalidRequest
from ordering_core.availability import Availability, Shortage, UnavailableLine
from ordering_core.errors import CatalogUnavailable, InvalidValue
from ordering_core.orders import OrderLine
from ordering_core.products import Product
from ordering_core.values import Line

AVAILABILITY_PATH = "/products/availability"
PRODUCTS_PATH = "/products"


@frozen
class ItemAnswer:
    product_id: Id
    quantity: Quantity
    available: bool
    unit_price: Price | None = None
    reason: Shortage | None = None
    in_stock: StockLevel | None = None


@frozen
class AvailabilityAnswer:
    available: bool
    items: list[ItemAnswer]


@frozen
class ProductAnswer:
    product_id: Id
    name: Name
    price: Price
    stocks: StockLevel


def product_service_client(base_url: str, timeout_s: float) -> httpx.AsyncClient:
    """The Order Service's one pooled client for the Product Service: the httpx API over aiohttp's pool.

    httpx's own pool cost 80% of the order path's event-loop time under load; over aiohttp's, the path ran
    3.2x faster (BENCHMARKS.md). The caller closes it (`aclose`) at shutdown.
    """
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    return httpx.AsyncClient(
        base_url=base_url, timeout=httpx.Timeout(timeout_s), transport=_AiohttpPool(limits=limits)
    )


class _AiohttpPool(AiohttpTransport):
    """httpx-aiohttp (0.2) reports every aiohttp connection error as `httpx.ConnectTimeout`, a refused
    connection included: here only a timeout is a timeout, so a Product Service that is down is "could not
    reach it", not "no answer in time"."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except httpx.ConnectTimeout as error:
            cause = error.__cause__
            timed_out = isinstance(cause, asyncio.TimeoutError)
            if timed_out or not isinstance(cause, aiohttp.ClientConnectionError):
                raise
            kind = httpx.ConnectError if isinstance(cause, aiohttp.ClientConnectorError) else httpx.ReadError
            raise kind(str(cause), request=request) from cause


class HttpProductCatalog:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def check(self, lines: Sequence[Line]) -> Availability:
        request = {"items": [{"product_id": line.product_id, "quantity": line.quantity} for line in lines]}
        response = await self._ask("POST", AVAILABILITY_PATH, json=request)
        try:
            return _availability(lines, structure(parse_json(response.content), AvailabilityAnswer))
        except (ApiError, InvalidValue) as error:
            raise CatalogUnavailable(f"its answer is not the documented one: {_why(error)}") from error

    async def products(self) -> list[Product]:
        """Every product with its stock now, in the Product Service's order (by id)."""
        response = await self._ask("GET", PRODUCTS_PATH)
        try:
            answers = structure(parse_json(response.content), list[ProductAnswer])
            return [Product(a.product_id, a.name, a.price, a.stocks) for a in answers]
        except (ApiError, InvalidValue) as error:
            raise CatalogUnavailable(f"its answer is not the documented one: {_why(error)}") from error

    async def _ask(self, method: str, path: str, **options: Any) -> httpx.Response:
        """The Product Service's 200 answer, or `CatalogUnavailable` saying why there is none."""
        try:
            response = await self._client.request(method, path, **options)
        except httpx.TimeoutException as error:
            raise CatalogUnavailable(f"no answer in time ({type(error).__name__})") from error
        except httpx.TransportError as error:
            raise CatalogUnavailable(f"could not reach it ({type(error).__name__}: {error})") from error
        if response.status_code != 200:
            raise CatalogUnavailable(f"it answered {response.status_code} to {path}")
        return response


def _availability(lines: Sequence[Line], answer: AvailabilityAnswer) -> Availability:
    asked = [(line.product_id, line.quantity) for line in lines]
    answered = [(item.product_id, item.quantity) for item in answer.items]
    if answered != asked:
        # The lines were merged before they were sent, so the answer must be for exactly these, in order.
        raise InvalidValue("items", "must answer the items asked, in order", answered)
    availability = Availability(tuple(_line(item) for item in answer.items))
    if availability.is_ok != answer.available:
        raise InvalidValue("available", "must be true exactly when every item is available", answer.available)
    return availability


def _line(item: ItemAnswer) -> OrderLine | UnavailableLine:
    if item.available and item.unit_price is not None and item.reason is None:
        return OrderLine(item.product_id, item.quantity, item.unit_price)
    if not item.available and item.reason is not None and item.in_stock is not None:
        return UnavailableLine(item.product_id, item.quantity, item.reason, item.in_stock)
    raise InvalidValue(
        "items", "an available item has a unit_price, an unavailable one a reason and in_stock", item
    )


def _why(error: ApiError | InvalidValue) -> str:
    if isinstance(error, InvalidRequest):
        return "; ".join(f"{e.field} {e.message}" for e in error.errors)
    return str(error)
