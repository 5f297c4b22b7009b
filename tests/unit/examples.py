"""Builders for the examples in the unit tests: readable defaults, every id unique."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from ordering_core import (
    CancelReason,
    Envelope,
    Line,
    Order,
    OrderLine,
    OrderStatus,
    OrderStatusChanged,
    Product,
    Shortage,
    StockReleaseRequested,
    StockReservationRejected,
    StockReservationRequested,
    UnavailableLine,
)

T = TypeVar("T")

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
# The customer an example order belongs to unless a test says otherwise.
CUSTOMER = "customer-a"


class Ids:
    """A `new_id` for tests: "id-1", "id-2", ... and what it handed out."""

    def __init__(self, prefix: str = "id") -> None:
        self.prefix = prefix
        self.issued: list[str] = []

    def __call__(self) -> str:
        self.issued.append(f"{self.prefix}-{len(self.issued) + 1}")
        return self.issued[-1]


_ids = Ids("example")


def unique(prefix: str) -> str:
    return f"{prefix}-{_ids()}"


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def product(product_id: str = "p-1", *, price: str = "2.50", stock: int = 10, name: str = "") -> Product:
    return Product(product_id, name or f"Product {product_id}", Decimal(price), stock)


def order(
    order_id: str = "o-1",
    *,
    status: OrderStatus = OrderStatus.UNPAID,
    lines: tuple[OrderLine, ...] = (OrderLine("p-1", 2, Decimal("2.50")),),
    placed_at: datetime = NOW,
    cancel_reason: CancelReason | None = None,
    payment_id: str | None = None,
    customer_id: str = CUSTOMER,
) -> Order:
    if status is OrderStatus.PAID and payment_id is None:
        payment_id = "pay-1"
    if status is OrderStatus.CANCELLED and cancel_reason is None:
        cancel_reason = CancelReason.CUSTOMER
    return Order(order_id, lines, status, placed_at, cancel_reason, payment_id, customer_id=customer_id)


def envelope(order_id: str = "o-1", *, message_id: str = "", correlation_id: str = "corr-1") -> Envelope:
    return Envelope(message_id or unique("msg"), NOW, order_id, correlation_id, None)


def reservation_requested(order_id: str = "o-1", *lines: Line) -> StockReservationRequested:
    return StockReservationRequested(envelope(order_id), lines or (Line("p-1", 2),))


def release_requested(order_id: str = "o-1") -> StockReleaseRequested:
    return StockReleaseRequested(envelope(order_id))


def reservation_rejected(order_id: str = "o-1") -> StockReservationRejected:
    return StockReservationRejected(
        envelope(order_id), (UnavailableLine("p-1", 2, Shortage.INSUFFICIENT_STOCK, 1),)
    )


def status_changed(
    order_id: str = "o-1",
    status: OrderStatus = OrderStatus.UNPAID,
    reason: CancelReason | None = None,
    *,
    customer_id: str = CUSTOMER,
) -> OrderStatusChanged:
    return OrderStatusChanged(envelope(order_id), status, reason, customer_id=customer_id)
