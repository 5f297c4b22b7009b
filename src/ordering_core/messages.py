"""What the customer is told when an order reaches a status (Message Service)."""

from __future__ import annotations

from datetime import datetime

from attrs import frozen

from ordering_core.errors import InvalidValue
from ordering_core.events import OrderStatusChanged
from ordering_core.orders import CancelReason, OrderStatus

_REASON_WORDS = {
    CancelReason.CUSTOMER: "at your request",
    CancelReason.PAYMENT_TIMEOUT: "payment not received in time",
    CancelReason.OUT_OF_STOCK: "out of stock",
}


def customer_text(order_id: str, status: OrderStatus, reason: CancelReason | None) -> str:
    """The sentence the customer reads, e.g. "Your order o-1 was cancelled (out of stock). ..."."""
    if status is OrderStatus.UNPAID:
        return f"Your order {order_id} is unpaid: please pay to complete it."
    if status is OrderStatus.PAID:
        return f"Your order {order_id} has been paid. Thank you!"
    if reason is None:  # OrderStatusChanged refuses a cancelled status without one; a direct call may not
        raise InvalidValue("reason", "is required for a cancelled order", reason)
    text = f"Your order {order_id} was cancelled ({_REASON_WORDS[reason]})."
    if reason is CancelReason.OUT_OF_STOCK:
        # Only out-of-stock can cancel a paid order, and then the money goes back.
        text += " If you already paid, you will be refunded."
    return text


@frozen
class CustomerMessage:
    """One message to the customer. `message_id` is the status event's, so a notifier can spot repeats."""

    order_id: str
    customer_id: str  # whose message it is: only they (and an admin) read it
    status: OrderStatus
    reason: CancelReason | None
    text: str
    occurred_at: datetime
    message_id: str

    @classmethod
    def from_status_change(cls, event: OrderStatusChanged) -> CustomerMessage:
        envelope = event.envelope
        return cls(
            order_id=envelope.order_id,
            customer_id=event.customer_id,
            status=event.status,
            reason=event.reason,
            text=customer_text(envelope.order_id, event.status, event.reason),
            occurred_at=envelope.occurred_at,
            message_id=envelope.message_id,
        )
