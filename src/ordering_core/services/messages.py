"""Message Service use cases: tell the customer each status their order reaches, and read it back to them."""

from __future__ import annotations

from collections.abc import Sequence

from ordering_core.customers import Caller
from ordering_core.events import OrderStatusChanged
from ordering_core.messages import CustomerMessage
from ordering_core.ports import MessageUnitOfWork, MessageViews
from ordering_core.values import require_id


def record_customer_message(event: OrderStatusChanged, *, uow: MessageUnitOfWork) -> CustomerMessage | None:
    """Notify the customer of the new status, once per event. None for a duplicate."""
    with uow:
        if uow.inbox.seen(event.envelope.message_id):
            return None
        message = CustomerMessage.from_status_change(event)
        uow.notifier.notify(message)
        uow.inbox.record(event.envelope.message_id)
        uow.commit()
    return message


def messages_for(order_id: str, *, caller: Caller, views: MessageViews) -> Sequence[CustomerMessage]:
    """What the order's customer was told, oldest first, if the caller is that customer (or an admin).

    Another customer's order reads as one nothing was heard of yet: an empty list, which tells nothing.
    """
    return views.messages_for(require_id("order_id", order_id), customer_id=caller.listed_customer)
