"""Message Service use case, run against the in-memory adapters."""

from __future__ import annotations

from adapters.memory.messages import InMemoryMessageUnitOfWork
from ordering_core import CancelReason, CustomerMessage, OrderStatus, record_customer_message

from .examples import status_changed


class TestRecordCustomerMessage:
    def test_tells_the_customer_the_new_status(self) -> None:
        uow = InMemoryMessageUnitOfWork()
        event = status_changed("o-1", OrderStatus.CANCELLED, CancelReason.OUT_OF_STOCK)

        message = record_customer_message(event, uow=uow)

        assert message == CustomerMessage.from_status_change(event)
        assert uow.notifier.sent == [message]
        assert message.text.startswith("Your order o-1 was cancelled (out of stock).")

    def test_a_duplicate_tells_the_customer_nothing_more(self) -> None:
        uow = InMemoryMessageUnitOfWork()
        event = status_changed("o-1", OrderStatus.PAID)
        record_customer_message(event, uow=uow)

        again = record_customer_message(event, uow=uow)

        assert again is None
        assert len(uow.notifier.sent) == 1

    def test_messages_keep_the_order_of_the_statuses(self) -> None:
        uow = InMemoryMessageUnitOfWork()

        for status in (OrderStatus.UNPAID, OrderStatus.PAID):
            record_customer_message(status_changed("o-1", status), uow=uow)

        assert [message.status for message in uow.notifier.sent] == [OrderStatus.UNPAID, OrderStatus.PAID]
