"""Orders and their life cycle (docs/design.md, "Order life cycle").

    unpaid --pay--> paid
    unpaid --cancel(customer | payment_timeout | out_of_stock)--> cancelled
    paid   --cancel(out_of_stock)--> cancelled

`pay` and `cancel` return a `Transition`: the order after the action and whether anything changed, so a use
case publishes events only for changes. Repeating a transition that already happened is a no-op.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

import attrs
from attrs import frozen

from ordering_core.errors import AlreadyPaid, InvalidTransition, InvalidValue
from ordering_core.values import (
    optional,
    require_aware_datetime,
    require_customer_id,
    require_id,
    require_lines,
    require_member,
    require_price,
    require_quantity,
    rule,
)


class OrderStatus(StrEnum):
    UNPAID = "unpaid"
    PAID = "paid"
    CANCELLED = "cancelled"


class CancelReason(StrEnum):
    CUSTOMER = "customer"
    PAYMENT_TIMEOUT = "payment_timeout"
    OUT_OF_STOCK = "out_of_stock"


@frozen
class OrderLine:
    """A line of an order, priced when the order was placed (later price changes do not reach it)."""

    product_id: str = attrs.field(validator=rule(require_id))
    quantity: int = attrs.field(validator=rule(require_quantity))
    unit_price: Decimal = attrs.field(validator=rule(require_price))

    @property
    def subtotal(self) -> Decimal:
        return self.unit_price * self.quantity


def require_order_lines(field: str, lines: tuple[OrderLine, ...]) -> None:
    require_lines(field, lines)
    product_ids = [line.product_id for line in lines]
    if len(set(product_ids)) != len(product_ids):
        raise InvalidValue(field, "must name each product once (merge the lines first)", product_ids)


@frozen
class Order:
    order_id: str = attrs.field(validator=rule(require_id))
    # Who placed it: the verified caller's id, never a field of a request (ordering_core.customers).
    customer_id: str = attrs.field(kw_only=True, validator=rule(require_customer_id))
    lines: tuple[OrderLine, ...] = attrs.field(validator=rule(require_order_lines))
    status: OrderStatus = attrs.field(validator=rule(require_member(OrderStatus)))
    placed_at: datetime = attrs.field(validator=rule(require_aware_datetime))
    cancel_reason: CancelReason | None = attrs.field(
        default=None, validator=rule(optional(require_member(CancelReason)))
    )
    # Kept after a paid order is cancelled out of stock: it is what the refund refers to.
    payment_id: str | None = attrs.field(default=None, validator=rule(optional(require_id)))

    def __attrs_post_init__(self) -> None:
        if (self.status is OrderStatus.CANCELLED) != (self.cancel_reason is not None):
            raise InvalidValue(
                "cancel_reason", "must be set exactly when the order is cancelled", self.cancel_reason
            )
        if self.status is OrderStatus.PAID and self.payment_id is None:
            raise InvalidValue("payment_id", "must be set on a paid order", self.payment_id)
        # Only a paid order can be cancelled out of stock, so any other order has never been paid.
        could_have_been_paid = (
            self.status is OrderStatus.PAID or self.cancel_reason is CancelReason.OUT_OF_STOCK
        )
        if self.payment_id is not None and not could_have_been_paid:
            raise InvalidValue("payment_id", "must be empty on an order that was never paid", self.payment_id)

    @classmethod
    def place(
        cls, order_id: str, lines: Iterable[OrderLine], placed_at: datetime, *, customer_id: str
    ) -> Order:
        """A new order of `customer_id`'s, waiting for payment."""
        return cls(order_id, tuple(lines), OrderStatus.UNPAID, placed_at, customer_id=customer_id)

    @property
    def total(self) -> Decimal:
        return sum((line.subtotal for line in self.lines), Decimal(0))

    @property
    def units(self) -> int:
        """How many units the order holds while it is unpaid (the hold limit counts them)."""
        return sum(line.quantity for line in self.lines)

    def pay(self, payment_id: str) -> Transition:
        require_id("payment_id", payment_id)
        if self.payment_id == payment_id:
            # This payment already happened; the order may since have been cancelled out of stock.
            return Transition(self, changed=False)
        if self.status is OrderStatus.PAID:
            # A paid order always has its payment id (__attrs_post_init__); "" only satisfies the type.
            raise AlreadyPaid(self.order_id, self.payment_id or "", payment_id)
        if self.status is OrderStatus.CANCELLED:
            raise InvalidTransition(self.order_id, self.status, "pay")
        return Transition(attrs.evolve(self, status=OrderStatus.PAID, payment_id=payment_id), changed=True)

    def cancel(self, reason: CancelReason) -> Transition:
        require_member(CancelReason)("reason", reason)
        if self.status is OrderStatus.CANCELLED:
            # Whatever the reason now, the first one stays: it is what the customer was told.
            return Transition(self, changed=False)
        if self.status is OrderStatus.PAID and reason is not CancelReason.OUT_OF_STOCK:
            # Stock is the truth: only a rejected reservation may undo a payment (the customer is refunded).
            raise InvalidTransition(self.order_id, self.status, f"cancel with reason {reason}")
        return Transition(
            attrs.evolve(self, status=OrderStatus.CANCELLED, cancel_reason=reason), changed=True
        )


@frozen
class Transition:
    """What an action did: the order after it, and whether it changed (False for a repeat)."""

    order: Order
    changed: bool
