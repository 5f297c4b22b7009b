"""Orders, customer messages and outbox records as table rows: the columns both SQL engines select, and the conversions
between a row's values and the domain's, written once for SQLite (adapters.sqlite) and PostgreSQL
(adapters.postgres). What differs by engine stays there: how an order's lines are stored (JSON text, JSONB)
and the sortable instant written beside `placed_at` (microseconds since the epoch, a timestamptz)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from attrs import frozen

from ordering_core.messages import CustomerMessage
from ordering_core.orders import CancelReason, Order, OrderLine, OrderStatus

ORDER_COLUMNS = "order_id, customer_id, status, cancel_reason, payment_id, placed_at, lines"
MESSAGE_COLUMNS = "message_id, order_id, customer_id, status, reason, text, occurred_at"

Headers = tuple[tuple[str, bytes], ...]


@frozen
class OutboxRow:
    """One record waiting in a SQL outbox to be sent (adapters.messaging.relay's `OutboxRow`); `id` is what
    `mark_sent` takes back."""

    id: int
    topic: str
    key: bytes
    value: bytes
    headers: Headers


def order_from_row(row: Sequence[Any], lines: Sequence[dict[str, Any]]) -> Order:
    """The order in a row selected as ORDER_COLUMNS, whose `lines` column the engine has already decoded."""
    order_id, customer_id, status, cancel_reason, payment_id, placed_at, _stored_lines = row
    return Order(
        order_id,
        tuple(OrderLine(item["product_id"], item["quantity"], Decimal(item["unit_price"])) for item in lines),
        OrderStatus(status),
        datetime.fromisoformat(placed_at),
        None if cancel_reason is None else CancelReason(cancel_reason),
        payment_id,
        customer_id=customer_id,
    )


def order_lines(order: Order) -> list[dict[str, Any]]:
    """The order's lines as the document the `lines` column stores (prices as text: 2.50 stays 2.50)."""
    return [
        {"product_id": line.product_id, "quantity": line.quantity, "unit_price": str(line.unit_price)}
        for line in order.lines
    ]


def order_values(order: Order, placed_instant: object, lines: object) -> tuple[object, ...]:
    """The values an order's row is written with: customer, status, reason, payment, placed_at (ISO text,
    its offset kept), the engine's sortable instant, total, units, the engine's lines, and last the order id
    (the key of an UPDATE's WHERE, the last of an INSERT's columns)."""
    return (
        order.customer_id,
        order.status.value,
        None if order.cancel_reason is None else order.cancel_reason.value,
        order.payment_id,
        order.placed_at.isoformat(),
        placed_instant,
        str(order.total),
        order.units,
        lines,
        order.order_id,
    )


def message_from_row(row: Sequence[Any]) -> CustomerMessage:
    """The message in a row selected as MESSAGE_COLUMNS."""
    message_id, order_id, customer_id, status, reason, text, occurred_at = row
    return CustomerMessage(
        order_id=order_id,
        customer_id=customer_id,
        status=OrderStatus(status),
        reason=None if reason is None else CancelReason(reason),
        text=text,
        occurred_at=datetime.fromisoformat(occurred_at),
        message_id=message_id,
    )
