"""Message Service use case: tell the customer each status their order reaches."""

from __future__ import annotations

from ordering_core.events import OrderStatusChanged
from ordering_core.messages import CustomerMessage
from ordering_core.ports import MessageUnitOfWork


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
