"""Message Service use cases, run against the in-memory adapters."""

from __future__ import annotations

import pytest

from adapters.memory.messages import InMemoryMessageUnitOfWork
from adapters.memory.views import InMemoryMessageViews
from ordering_core import (
    Caller,
    CancelReason,
    CustomerMessage,
    InvalidValue,
    OrderStatus,
    Role,
    messages_for,
    record_customer_message,
)

from .examples import CUSTOMER, status_changed

OTHER_CUSTOMER = "customer-b"


class TestRecordCustomerMessage:
    def test_tells_the_customer_the_new_status(self) -> None:
        uow = InMemoryMessageUnitOfWork()
        event = status_changed("o-1", OrderStatus.CANCELLED, CancelReason.OUT_OF_STOCK)

        message = record_customer_message(event, uow=uow)

        assert message == CustomerMessage.from_status_change(event)
        assert uow.notifier.sent == [message]
        assert message.text.startswith("Your order o-1 was cancelled (out of stock).")

    def test_the_message_is_the_order_s_customer_s(self) -> None:
        uow = InMemoryMessageUnitOfWork()

        message = record_customer_message(status_changed("o-1", customer_id="auth0|5f7c8ec7"), uow=uow)

        assert message is not None and message.customer_id == "auth0|5f7c8ec7"

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


class TestMessagesFor:
    @pytest.fixture
    def views(self) -> InMemoryMessageViews:
        uow = InMemoryMessageUnitOfWork()
        for event in (
            status_changed("o-1", OrderStatus.UNPAID, customer_id=CUSTOMER),
            status_changed("o-2", OrderStatus.UNPAID, customer_id=OTHER_CUSTOMER),
            status_changed("o-1", OrderStatus.PAID, customer_id=CUSTOMER),
        ):
            record_customer_message(event, uow=uow)
        return InMemoryMessageViews(uow)

    def test_a_customer_reads_what_they_were_told_about_their_order_oldest_first(
        self, views: InMemoryMessageViews
    ) -> None:
        messages = messages_for("o-1", caller=Caller(CUSTOMER), views=views)

        assert [(m.order_id, m.status) for m in messages] == [("o-1", "unpaid"), ("o-1", "paid")]

    def test_another_customer_s_order_reads_as_one_nothing_was_heard_of(
        self, views: InMemoryMessageViews
    ) -> None:
        messages = messages_for("o-2", caller=Caller(CUSTOMER), views=views)

        assert messages == []  # the same answer as for an order with no messages yet: it tells nothing
        assert messages == messages_for("o-9", caller=Caller(CUSTOMER), views=views)

    def test_an_admin_reads_any_customer_s_messages(self, views: InMemoryMessageViews) -> None:
        admin = Caller("admin-1", frozenset({Role.ADMIN}))

        messages = messages_for("o-2", caller=admin, views=views)

        assert [(m.customer_id, m.status) for m in messages] == [(OTHER_CUSTOMER, "unpaid")]

    def test_refuses_an_invalid_order_id(self, views: InMemoryMessageViews) -> None:
        with pytest.raises(InvalidValue) as refused:
            messages_for("o 1", caller=Caller(CUSTOMER), views=views)

        assert refused.value.field == "order_id"
