"""Order Service use cases, run against the in-memory adapters."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

import pytest

from adapters.memory.catalog import InMemoryProductCatalog
from adapters.memory.orders import InMemoryOrderUnitOfWork
from adapters.memory.products import InMemoryProductUnitOfWork
from ordering_core import (
    AlreadyPaid,
    CancelReason,
    Event,
    InvalidTransition,
    InvalidValue,
    Line,
    Order,
    OrderCancelled,
    OrderCreated,
    OrderLine,
    OrderPaid,
    OrderStatus,
    OrderStatusChanged,
    OrderUnavailable,
    Shortage,
    StockReleaseRequested,
    StockReservationRejected,
    StockReservationRequested,
    UnknownOrder,
    cancel_order,
    expire_unpaid_orders,
    handle_reservation_rejected,
    mark_paid,
    place_order,
)

from .examples import NOW, Ids, order, product, reservation_rejected, run

TIMEOUT = timedelta(minutes=30)


def types(events: Sequence[Event]) -> list[str]:
    return [event.TYPE for event in events]


class TestPlaceOrder:
    @pytest.fixture
    def shelf(self) -> InMemoryProductUnitOfWork:
        return InMemoryProductUnitOfWork(
            [product("p-1", price="2.50", stock=5), product("p-2", price="1.00", stock=1)]
        )

    def place(self, shelf: InMemoryProductUnitOfWork, uow: InMemoryOrderUnitOfWork, *lines: Line) -> Order:
        return run(
            place_order(
                lines,
                catalog=InMemoryProductCatalog(shelf),
                uow=uow,
                new_id=Ids(),
                now=NOW,
                correlation_id="corr-1",
            )
        )

    def test_stores_an_unpaid_order_priced_by_the_catalog(self, shelf: InMemoryProductUnitOfWork) -> None:
        uow = InMemoryOrderUnitOfWork()

        placed = self.place(shelf, uow, Line("p-1", 2), Line("p-2", 1))

        assert placed.status is OrderStatus.UNPAID
        assert placed.lines == (OrderLine("p-1", 2, Decimal("2.50")), OrderLine("p-2", 1, Decimal("1.00")))
        assert placed.total == Decimal("6.00")
        assert uow.orders.get(placed.order_id) == placed

    def test_merges_lines_of_the_same_product(self, shelf: InMemoryProductUnitOfWork) -> None:
        uow = InMemoryOrderUnitOfWork()

        placed = self.place(shelf, uow, Line("p-1", 2), Line("p-1", 3))

        assert placed.lines == (OrderLine("p-1", 5, Decimal("2.50")),)

    def test_announces_the_order_the_reservation_and_the_unpaid_status(
        self, shelf: InMemoryProductUnitOfWork
    ) -> None:
        uow = InMemoryOrderUnitOfWork()

        placed = self.place(shelf, uow, Line("p-1", 2))

        created, reservation, status = uow.events.published
        assert types(uow.events.published) == ["create-order", "update-stock", "order-status"]
        assert isinstance(created, OrderCreated) and created.total == Decimal("5.00")
        assert isinstance(reservation, StockReservationRequested) and reservation.lines == (Line("p-1", 2),)
        assert isinstance(status, OrderStatusChanged) and status.status is OrderStatus.UNPAID
        assert {event.envelope.order_id for event in uow.events.published} == {placed.order_id}

    def test_events_share_the_correlation_id_and_each_has_its_own_message_id(
        self, shelf: InMemoryProductUnitOfWork
    ) -> None:
        uow = InMemoryOrderUnitOfWork()

        self.place(shelf, uow, Line("p-1", 2))

        envelopes = [event.envelope for event in uow.events.published]
        assert {(e.correlation_id, e.causation_id, e.occurred_at) for e in envelopes} == {
            ("corr-1", None, NOW)
        }
        assert len({e.message_id for e in envelopes}) == 3

    def test_refuses_order_when_any_line_is_out_of_stock(self, shelf: InMemoryProductUnitOfWork) -> None:
        uow = InMemoryOrderUnitOfWork()

        with pytest.raises(OrderUnavailable) as refused:
            self.place(shelf, uow, Line("p-1", 2), Line("p-2", 2), Line("p-9", 1))

        assert [(f.product_id, f.reason, f.available) for f in refused.value.failures] == [
            ("p-2", Shortage.INSUFFICIENT_STOCK, 1),
            ("p-9", Shortage.UNKNOWN_PRODUCT, 0),
        ]
        assert (uow.orders.orders, uow.events.published, uow.commits) == ({}, [], 0)

    @pytest.mark.parametrize(
        "lines", [(), (Line("p-1", 6_000), Line("p-1", 4_001))], ids=["no lines", "too many"]
    )
    def test_refuses_invalid_lines_without_asking_the_catalog(
        self, shelf: InMemoryProductUnitOfWork, lines: tuple[Line, ...]
    ) -> None:
        catalog, uow = InMemoryProductCatalog(shelf), InMemoryOrderUnitOfWork()

        with pytest.raises(InvalidValue):
            run(place_order(lines, catalog=catalog, uow=uow, new_id=Ids(), now=NOW, correlation_id="corr-1"))

        assert catalog.checks == 0
        assert uow.commits == 0

    def test_refuses_an_invalid_correlation_id(self, shelf: InMemoryProductUnitOfWork) -> None:
        uow = InMemoryOrderUnitOfWork()

        with pytest.raises(InvalidValue) as refused:
            run(
                place_order(
                    [Line("p-1", 1)],
                    catalog=InMemoryProductCatalog(shelf),
                    uow=uow,
                    new_id=Ids(),
                    now=NOW,
                    correlation_id="",
                )
            )

        assert refused.value.field == "correlation_id"

    def test_stores_nothing_when_the_outbox_write_fails(self, shelf: InMemoryProductUnitOfWork) -> None:
        uow = InMemoryOrderUnitOfWork()
        uow.events = BrokenPublisher()  # type: ignore[assignment]

        with pytest.raises(OSError, match="disk full"):
            self.place(shelf, uow, Line("p-1", 1))

        assert uow.orders.orders == {}


class BrokenPublisher:
    """An outbox whose write fails, to show that the order is not stored without its events."""

    def publish(self, events: Sequence[Event]) -> None:
        raise OSError("disk full")

    def copy(self) -> BrokenPublisher:
        return self

    def adopt(self, other: BrokenPublisher) -> None:
        """Nothing to keep."""


class TestMarkPaid:
    def pay(self, uow: InMemoryOrderUnitOfWork, payment_id: str = "pay-1", order_id: str = "o-1") -> Order:
        return mark_paid(order_id, payment_id, uow=uow, new_id=Ids(), now=NOW, correlation_id="corr-2")

    def test_marks_an_unpaid_order_paid(self) -> None:
        uow = InMemoryOrderUnitOfWork([order("o-1")])

        paid = self.pay(uow)

        assert (paid.status, paid.payment_id) == (OrderStatus.PAID, "pay-1")
        assert uow.orders.get("o-1") == paid

    def test_announces_the_payment_and_the_paid_status(self) -> None:
        uow = InMemoryOrderUnitOfWork([order("o-1")])

        self.pay(uow)

        payment, status = uow.events.published
        assert isinstance(payment, OrderPaid) and payment.payment_id == "pay-1"
        assert isinstance(status, OrderStatusChanged) and status.status is OrderStatus.PAID
        assert {(e.envelope.order_id, e.envelope.correlation_id) for e in (payment, status)} == {
            ("o-1", "corr-2")
        }

    def test_paying_again_with_the_same_payment_id_announces_nothing(self) -> None:
        uow = InMemoryOrderUnitOfWork([order("o-1")])
        self.pay(uow)

        again = self.pay(uow)

        assert again.status is OrderStatus.PAID
        assert types(uow.events.published) == ["paid-order", "order-status"]

    def test_refuses_another_payment_id_and_changes_nothing(self) -> None:
        uow = InMemoryOrderUnitOfWork([order("o-1", status=OrderStatus.PAID, payment_id="pay-1")])

        with pytest.raises(AlreadyPaid):
            self.pay(uow, "pay-2")

        assert uow.orders.get("o-1") == order("o-1", status=OrderStatus.PAID, payment_id="pay-1")
        assert uow.events.published == []

    def test_refuses_to_pay_a_cancelled_order(self) -> None:
        uow = InMemoryOrderUnitOfWork([order("o-1", status=OrderStatus.CANCELLED)])

        with pytest.raises(InvalidTransition):
            self.pay(uow)

        assert uow.events.published == []

    def test_refuses_an_unknown_order(self) -> None:
        with pytest.raises(UnknownOrder, match="'o-9'"):
            self.pay(InMemoryOrderUnitOfWork(), order_id="o-9")

    def test_refuses_an_invalid_order_id(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            self.pay(InMemoryOrderUnitOfWork(), order_id="o 1")

        assert refused.value.field == "order_id"


class TestCancelOrder:
    def cancel(self, uow: InMemoryOrderUnitOfWork, reason: CancelReason, order_id: str = "o-1") -> Order:
        return cancel_order(order_id, reason, uow=uow, new_id=Ids(), now=NOW, correlation_id="corr-3")

    @pytest.mark.parametrize("reason", list(CancelReason))
    def test_cancels_and_asks_for_the_stock_back_whatever_the_reason(self, reason: CancelReason) -> None:
        uow = InMemoryOrderUnitOfWork([order("o-1")])

        cancelled = self.cancel(uow, reason)

        assert (cancelled.status, cancelled.cancel_reason) == (OrderStatus.CANCELLED, reason)
        assert types(uow.events.published) == ["cancel-order", "restore-canceled-item", "order-status"]
        cancellation, release, status = uow.events.published
        assert isinstance(cancellation, OrderCancelled) and cancellation.reason is reason
        assert isinstance(release, StockReleaseRequested)
        assert isinstance(status, OrderStatusChanged) and (status.status, status.reason) == (
            OrderStatus.CANCELLED,
            reason,
        )
        assert {e.envelope.order_id for e in uow.events.published} == {"o-1"}

    def test_cancelling_again_announces_nothing_and_keeps_the_first_reason(self) -> None:
        uow = InMemoryOrderUnitOfWork([order("o-1")])
        self.cancel(uow, CancelReason.CUSTOMER)

        again = self.cancel(uow, CancelReason.PAYMENT_TIMEOUT)

        assert again.cancel_reason is CancelReason.CUSTOMER
        assert len(uow.events.published) == 3

    def test_refuses_a_customer_cancel_of_a_paid_order(self) -> None:
        uow = InMemoryOrderUnitOfWork([order("o-1", status=OrderStatus.PAID)])

        with pytest.raises(InvalidTransition):
            self.cancel(uow, CancelReason.CUSTOMER)

        assert uow.orders.get("o-1").status is OrderStatus.PAID  # type: ignore[union-attr]
        assert uow.events.published == []

    def test_refuses_an_unknown_order(self) -> None:
        with pytest.raises(UnknownOrder):
            self.cancel(InMemoryOrderUnitOfWork(), CancelReason.CUSTOMER, order_id="o-9")


class TestExpireUnpaidOrders:
    def expire(self, uow: InMemoryOrderUnitOfWork, timeout: timedelta = TIMEOUT) -> list[Order]:
        return expire_unpaid_orders(uow=uow, now=NOW, timeout=timeout, new_id=Ids(), correlation_id="sweep-1")

    def test_cancels_unpaid_orders_older_than_the_timeout_oldest_first(self) -> None:
        uow = InMemoryOrderUnitOfWork(
            [
                order("o-new", placed_at=NOW - TIMEOUT),
                order("o-old", placed_at=NOW - TIMEOUT - timedelta(seconds=2)),
                order("o-older", placed_at=NOW - TIMEOUT - timedelta(seconds=3)),
            ]
        )

        expired = self.expire(uow)

        assert [o.order_id for o in expired] == ["o-older", "o-old"]
        assert {o.cancel_reason for o in expired} == {CancelReason.PAYMENT_TIMEOUT}
        assert uow.orders.get("o-new").status is OrderStatus.UNPAID  # type: ignore[union-attr]

    def test_announces_each_cancellation_keyed_by_its_order(self) -> None:
        old = NOW - TIMEOUT - timedelta(minutes=1)
        uow = InMemoryOrderUnitOfWork([order("o-1", placed_at=old), order("o-2", placed_at=old)])

        self.expire(uow)

        assert [(e.TYPE, e.envelope.order_id) for e in uow.events.published] == [
            ("cancel-order", "o-1"),
            ("restore-canceled-item", "o-1"),
            ("order-status", "o-1"),
            ("cancel-order", "o-2"),
            ("restore-canceled-item", "o-2"),
            ("order-status", "o-2"),
        ]

    def test_leaves_paid_and_cancelled_orders_alone(self) -> None:
        old = NOW - TIMEOUT - timedelta(minutes=1)
        uow = InMemoryOrderUnitOfWork(
            [
                order("o-1", status=OrderStatus.PAID, placed_at=old),
                order("o-2", status=OrderStatus.CANCELLED, placed_at=old),
            ]
        )

        expired = self.expire(uow)

        assert expired == []
        assert uow.events.published == []

    def test_refuses_a_timeout_that_is_not_positive(self) -> None:
        uow = InMemoryOrderUnitOfWork([order("o-1", placed_at=NOW - TIMEOUT * 2)])

        with pytest.raises(InvalidValue, match="timeout must be a positive duration"):
            self.expire(uow, timeout=timedelta(0))

        assert uow.orders.get("o-1").status is OrderStatus.UNPAID  # type: ignore[union-attr]


class TestHandleReservationRejected:
    def handle(self, uow: InMemoryOrderUnitOfWork, event: StockReservationRejected) -> Order | None:
        return handle_reservation_rejected(event, uow=uow, new_id=Ids(), now=NOW)

    @pytest.mark.parametrize("status", [OrderStatus.UNPAID, OrderStatus.PAID])
    def test_cancels_the_order_out_of_stock_even_if_paid(self, status: OrderStatus) -> None:
        uow = InMemoryOrderUnitOfWork([order("o-1", status=status)])

        cancelled = self.handle(uow, reservation_rejected("o-1"))

        assert cancelled is not None
        assert (cancelled.status, cancelled.cancel_reason) == (
            OrderStatus.CANCELLED,
            CancelReason.OUT_OF_STOCK,
        )
        assert uow.orders.get("o-1") == cancelled

    def test_its_events_are_caused_by_the_rejection_and_keep_its_correlation(self) -> None:
        uow = InMemoryOrderUnitOfWork([order("o-1")])
        rejection = reservation_rejected("o-1")

        self.handle(uow, rejection)

        assert types(uow.events.published) == ["cancel-order", "restore-canceled-item", "order-status"]
        assert {(e.envelope.correlation_id, e.envelope.causation_id) for e in uow.events.published} == {
            (rejection.envelope.correlation_id, rejection.envelope.message_id)
        }

    def test_a_duplicate_changes_nothing(self) -> None:
        uow = InMemoryOrderUnitOfWork([order("o-1")])
        rejection = reservation_rejected("o-1")
        self.handle(uow, rejection)

        again = self.handle(uow, rejection)

        assert again is None
        assert len(uow.events.published) == 3
        assert uow.commits == 1

    def test_records_the_message_even_when_the_order_was_already_cancelled(self) -> None:
        uow = InMemoryOrderUnitOfWork([order("o-1", status=OrderStatus.CANCELLED)])
        rejection = reservation_rejected("o-1")

        unchanged = self.handle(uow, rejection)

        assert unchanged is not None and unchanged.cancel_reason is CancelReason.CUSTOMER
        assert uow.events.published == []
        assert uow.inbox.seen(rejection.envelope.message_id)

    def test_refuses_an_unknown_order_without_recording_the_message(self) -> None:
        uow = InMemoryOrderUnitOfWork()
        rejection = reservation_rejected("o-9")

        with pytest.raises(UnknownOrder):
            self.handle(uow, rejection)

        assert not uow.inbox.seen(rejection.envelope.message_id)
