"""The messages between services: one class per topic, envelopes, and their invariants."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

import pytest

from ordering_core import (
    EVENT_CLASSES,
    EVENT_TYPES,
    UNIDENTIFIED_CUSTOMER,
    CancelReason,
    Envelope,
    EnvelopeFactory,
    InvalidValue,
    OrderCancelled,
    OrderCreated,
    OrderLine,
    OrderPaid,
    OrderStatus,
    OrderStatusChanged,
    StockReleaseRequested,
    StockReservationRejected,
    StockReservationRequested,
)

from .examples import CUSTOMER, NOW, Ids, envelope

# The topic table of docs/design.md.
TOPICS = {
    "create-order": OrderCreated,
    "update-stock": StockReservationRequested,
    "paid-order": OrderPaid,
    "cancel-order": OrderCancelled,
    "restore-canceled-item": StockReleaseRequested,
    "order-status": OrderStatusChanged,
    "stock-reservation-rejected": StockReservationRejected,
}


class TestEventClasses:
    def test_there_is_one_class_per_topic_and_its_type_is_the_topic_name(self) -> None:
        assert dict(EVENT_TYPES) == TOPICS
        assert {cls.TYPE for cls in EVENT_CLASSES} == set(TOPICS)

    def test_the_events_about_an_order_are_at_schema_version_2_and_the_stock_messages_at_1(self) -> None:
        # Version 2 added the order's customer_id; docs/design.md and asyncapi.yaml say what version 1 was.
        assert {cls.TYPE: cls.SCHEMA_VERSION for cls in EVENT_CLASSES} == {
            "create-order": 2,
            "update-stock": 1,
            "paid-order": 2,
            "cancel-order": 2,
            "restore-canceled-item": 1,
            "order-status": 2,
            "stock-reservation-rejected": 1,
        }

    def test_the_mapping_of_types_cannot_be_changed(self) -> None:
        with pytest.raises(TypeError):
            EVENT_TYPES["update-stock"] = OrderPaid  # type: ignore[index]


class TestEnvelope:
    def test_refuses_a_naive_time(self) -> None:
        with pytest.raises(InvalidValue, match="occurred_at must be a timezone-aware datetime"):
            Envelope("m-1", datetime(2025, 1, 1), "o-1", "corr-1")

    @pytest.mark.parametrize("field", ["message_id", "order_id", "correlation_id", "causation_id"])
    def test_refuses_an_invalid_id(self, field: str) -> None:
        ids = {"message_id": "m-1", "order_id": "o-1", "correlation_id": "c-1", "causation_id": "m-0"}
        ids[field] = "not an id"

        with pytest.raises(InvalidValue) as refused:
            Envelope(occurred_at=NOW, **ids)

        assert refused.value.field == field


class TestEnvelopeFactory:
    def test_gives_each_message_a_fresh_id_and_shares_the_rest(self) -> None:
        make = EnvelopeFactory(Ids("m"), NOW, "corr-1", "cause-1")

        first, second = make("o-1"), make("o-1")

        assert (first.message_id, second.message_id) == ("m-1", "m-2")
        assert first == Envelope("m-1", NOW, "o-1", "corr-1", "cause-1")

    def test_for_a_consumed_message_keeps_its_correlation_and_is_caused_by_it(self) -> None:
        cause = StockReleaseRequested(envelope("o-1", message_id="m-7", correlation_id="corr-3"))

        made = EnvelopeFactory.from_cause(cause, new_id=Ids("m"), now=NOW)("o-1")

        assert (made.correlation_id, made.causation_id) == ("corr-3", "m-7")

    def test_refuses_a_naive_now_before_making_any_id(self) -> None:
        ids = Ids()

        with pytest.raises(InvalidValue, match="now must be a timezone-aware datetime"):
            EnvelopeFactory(ids, datetime(2025, 1, 1), "corr-1")

        assert ids.issued == []


class TestPayloads:
    def test_order_created_refuses_a_total_that_is_not_the_sum_of_its_lines(self) -> None:
        lines = (OrderLine("p-1", 2, Decimal("1.50")),)

        with pytest.raises(InvalidValue, match="total must be the sum of the line subtotals"):
            OrderCreated(envelope(), lines, Decimal("2.00"), customer_id=CUSTOMER)

    def test_order_created_accepts_the_right_total(self) -> None:
        created = OrderCreated(
            envelope(), (OrderLine("p-1", 2, Decimal("1.50")),), Decimal("3.00"), customer_id=CUSTOMER
        )

        assert created.total == Decimal("3.00")

    def test_lines_must_be_a_tuple_so_the_event_stays_immutable(self) -> None:
        with pytest.raises(InvalidValue, match=r"lines must be a tuple, got \[\]"):
            StockReservationRequested(envelope(), [])  # type: ignore[arg-type]

    def test_a_reservation_needs_at_least_one_line(self) -> None:
        with pytest.raises(InvalidValue, match="lines must hold from 1 to 100 lines, got 0"):
            StockReservationRequested(envelope(), ())

    @pytest.mark.parametrize(
        ("status", "reason"),
        [(OrderStatus.CANCELLED, None), (OrderStatus.PAID, CancelReason.CUSTOMER)],
    )
    def test_a_status_change_has_a_reason_exactly_when_cancelled(
        self, status: OrderStatus, reason: CancelReason | None
    ) -> None:
        with pytest.raises(InvalidValue, match="reason must be set exactly when the status is cancelled"):
            OrderStatusChanged(envelope(), status, reason, customer_id=CUSTOMER)

    def test_a_cancellation_refuses_a_reason_given_as_a_plain_string(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            OrderCancelled(envelope(), "customer", customer_id=CUSTOMER)  # type: ignore[arg-type]

        assert refused.value.field == "reason"

    def test_a_payment_refuses_an_invalid_payment_id(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            OrderPaid(envelope(), "", customer_id=CUSTOMER)

        assert refused.value.field == "payment_id"


OrderEvent = OrderCreated | OrderPaid | OrderCancelled | OrderStatusChanged
# One of each event about an order, for the given customer.
ORDER_EVENTS: dict[str, Callable[[str], OrderEvent]] = {
    "create-order": lambda customer_id: OrderCreated(
        envelope(), (OrderLine("p-1", 1, Decimal("1.00")),), Decimal("1.00"), customer_id=customer_id
    ),
    "paid-order": lambda customer_id: OrderPaid(envelope(), "pay-1", customer_id=customer_id),
    "cancel-order": lambda customer_id: OrderCancelled(
        envelope(), CancelReason.CUSTOMER, customer_id=customer_id
    ),
    "order-status": lambda customer_id: OrderStatusChanged(
        envelope(), OrderStatus.UNPAID, customer_id=customer_id
    ),
}


class TestTheOrdersOwner:
    @pytest.mark.parametrize("make", ORDER_EVENTS.values(), ids=ORDER_EVENTS.keys())
    @pytest.mark.parametrize("customer_id", ["auth0|5f7c8ec7", UNIDENTIFIED_CUSTOMER, "~" * 255])
    def test_an_event_about_an_order_carries_its_customer_id(
        self, make: Callable[[str], OrderEvent], customer_id: str
    ) -> None:
        event = make(customer_id)

        assert event.customer_id == customer_id

    @pytest.mark.parametrize("make", ORDER_EVENTS.values(), ids=ORDER_EVENTS.keys())
    @pytest.mark.parametrize("customer_id", ["", "auth0 5f7c8ec7", "c" * 256, "jos\u00e9", "auth0|5f7c\n"])
    def test_an_event_about_an_order_refuses_an_invalid_customer_id(
        self, make: Callable[[str], OrderEvent], customer_id: str
    ) -> None:
        with pytest.raises(InvalidValue) as refused:
            make(customer_id)

        assert refused.value.field == "customer_id"

    def test_the_customer_id_is_named_so_it_cannot_be_taken_for_another_id(self) -> None:
        with pytest.raises(TypeError, match="customer_id"):
            OrderPaid(envelope(), "pay-1")  # type: ignore[call-arg]
