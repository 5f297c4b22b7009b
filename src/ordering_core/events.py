"""The messages the services exchange: one class per Kafka topic (docs/design.md, "Topics").

Each event is a frozen value with an `envelope` (ids, time, and the order id that is its Kafka key) and its
payload. `TYPE` is the topic name and `SCHEMA_VERSION` the payload's version; both are class constants, so
the adapters can route and (de)serialise without this module knowing how.

The events about an order for its customer and for other teams (create-order, paid-order, cancel-order,
order-status) carry the order's `customer_id` since schema version 2; the stock messages between the
services do not need it and stay at version 1.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import ClassVar

import attrs
from attrs import frozen

from ordering_core.availability import UnavailableLine
from ordering_core.errors import InvalidValue
from ordering_core.orders import CancelReason, OrderLine, OrderStatus, require_order_lines
from ordering_core.values import (
    Line,
    optional,
    require_aware_datetime,
    require_customer_id,
    require_id,
    require_lines,
    require_member,
    rule,
)


@frozen
class Envelope:
    """Where a message comes from.

    `correlation_id` is shared by every message of one business flow (an HTTP request, a timeout sweep);
    `causation_id` is the `message_id` of the message that caused this one, None when a request did.
    """

    message_id: str = attrs.field(validator=rule(require_id))
    occurred_at: datetime = attrs.field(validator=rule(require_aware_datetime))
    order_id: str = attrs.field(validator=rule(require_id))
    correlation_id: str = attrs.field(validator=rule(require_id))
    causation_id: str | None = attrs.field(default=None, validator=rule(optional(require_id)))


@frozen
class EnvelopeFactory:
    """Envelopes for the messages one use case call emits: a fresh id each, the rest shared."""

    new_id: Callable[[], str]
    now: datetime = attrs.field(validator=rule(require_aware_datetime))
    correlation_id: str = attrs.field(validator=rule(require_id))
    causation_id: str | None = attrs.field(default=None, validator=rule(optional(require_id)))

    @classmethod
    def from_cause(cls, cause: Event, *, new_id: Callable[[], str], now: datetime) -> EnvelopeFactory:
        """For messages caused by consuming `cause`: same flow, caused by that message."""
        return cls(new_id, now, cause.envelope.correlation_id, cause.envelope.message_id)

    def __call__(self, order_id: str) -> Envelope:
        return Envelope(self.new_id(), self.now, order_id, self.correlation_id, self.causation_id)


@frozen
class OrderCreated:
    """An order was accepted; it waits for payment."""

    TYPE: ClassVar[str] = "create-order"
    SCHEMA_VERSION: ClassVar[int] = 2

    envelope: Envelope
    customer_id: str = attrs.field(kw_only=True, validator=rule(require_customer_id))
    lines: tuple[OrderLine, ...] = attrs.field(validator=rule(require_order_lines))
    total: Decimal

    def __attrs_post_init__(self) -> None:
        if self.total != sum((line.subtotal for line in self.lines), Decimal(0)):
            raise InvalidValue("total", "must be the sum of the line subtotals", self.total)


@frozen
class StockReservationRequested:
    """Take the order's quantities out of stock (applied by the Product Service's ledger)."""

    TYPE: ClassVar[str] = "update-stock"
    SCHEMA_VERSION: ClassVar[int] = 1

    envelope: Envelope
    lines: tuple[Line, ...] = attrs.field(validator=rule(require_lines))


@frozen
class OrderPaid:
    TYPE: ClassVar[str] = "paid-order"
    SCHEMA_VERSION: ClassVar[int] = 2

    envelope: Envelope
    customer_id: str = attrs.field(kw_only=True, validator=rule(require_customer_id))
    payment_id: str = attrs.field(validator=rule(require_id))


@frozen
class OrderCancelled:
    TYPE: ClassVar[str] = "cancel-order"
    SCHEMA_VERSION: ClassVar[int] = 2

    envelope: Envelope
    customer_id: str = attrs.field(kw_only=True, validator=rule(require_customer_id))
    reason: CancelReason = attrs.field(validator=rule(require_member(CancelReason)))


@frozen
class StockReleaseRequested:
    """Give back what the cancelled order reserved. No payload: the ledger knows what it took."""

    TYPE: ClassVar[str] = "restore-canceled-item"
    SCHEMA_VERSION: ClassVar[int] = 1

    envelope: Envelope


@frozen
class OrderStatusChanged:
    """The order reached `status`; one topic, so the customer hears of the statuses in the order they happened."""

    TYPE: ClassVar[str] = "order-status"
    SCHEMA_VERSION: ClassVar[int] = 2

    envelope: Envelope
    customer_id: str = attrs.field(kw_only=True, validator=rule(require_customer_id))
    status: OrderStatus = attrs.field(validator=rule(require_member(OrderStatus)))
    reason: CancelReason | None = attrs.field(
        default=None, validator=rule(optional(require_member(CancelReason)))
    )

    def __attrs_post_init__(self) -> None:
        if (self.status is OrderStatus.CANCELLED) != (self.reason is not None):
            raise InvalidValue("reason", "must be set exactly when the status is cancelled", self.reason)


@frozen
class StockReservationRejected:
    """The ledger could not take the order's lines; `lines` are those that did not fit."""

    TYPE: ClassVar[str] = "stock-reservation-rejected"
    SCHEMA_VERSION: ClassVar[int] = 1

    envelope: Envelope
    lines: tuple[UnavailableLine, ...] = attrs.field(validator=rule(require_lines))


Event = (
    OrderCreated
    | StockReservationRequested
    | OrderPaid
    | OrderCancelled
    | StockReleaseRequested
    | OrderStatusChanged
    | StockReservationRejected
)

EVENT_CLASSES: tuple[type[Event], ...] = (
    OrderCreated,
    StockReservationRequested,
    OrderPaid,
    OrderCancelled,
    StockReleaseRequested,
    OrderStatusChanged,
    StockReservationRejected,
)

# What a consumer reads from a record's topic (or type header) to know which class to build.
EVENT_TYPES: Mapping[str, type[Event]] = MappingProxyType({cls.TYPE: cls for cls in EVENT_CLASSES})
