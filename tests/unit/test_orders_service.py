"""Order Service use cases, run against the in-memory adapters."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

import pytest

from adapters.memory.catalog import InMemoryProductCatalog
from adapters.memory.orders import InMemoryOrderUnitOfWork
from adapters.memory.products import InMemoryProductUnitOfWork
from adapters.memory.views import InMemoryOrderViews
from ordering_core import (
    AlreadyPaid,
    Caller,
    CancelReason,
    Event,
    HoldLimit,
    HoldLimitReached,
    InvalidTransition,
    InvalidValue,
    Line,
    NotPermitted,
    Order,
    OrderCancelled,
    OrderCreated,
    OrderLine,
    OrderPaid,
    OrderStatus,
    OrderStatusChanged,
    OrderUnavailable,
    Role,
    Shortage,
    StockReleaseRequested,
    StockReservationRejected,
    StockReservationRequested,
    UnknownOrder,
    cancel_order,
    expire_unpaid_orders,
    handle_reservation_rejected,
    mark_paid,
    order_for,
    orders_page,
    place_order,
)

from .examples import CUSTOMER, NOW, Ids, order, product, reservation_rejected, run

TIMEOUT = timedelta(minutes=30)
OTHER_CUSTOMER = "customer-b"
OWNER = Caller(CUSTOMER)  # the customer every example order belongs to unless a test says otherwise
STRANGER = Caller(OTHER_CUSTOMER)
PAYMENT_PROVIDER = Caller("payment-provider", frozenset({Role.PAYMENTS}))
ADMIN = Caller("admin-1", frozenset({Role.ADMIN}))


def types(events: Sequence[Event]) -> list[str]:
    return [event.TYPE for event in events]


def customers_of(events: Sequence[Event]) -> dict[str, set[str]]:
    """By order id, the customer ids its events carry; the stock messages between services carry none."""
    found: dict[str, set[str]] = {}
    for event in events:
        if isinstance(event, OrderCreated | OrderPaid | OrderCancelled | OrderStatusChanged):
            found.setdefault(event.envelope.order_id, set()).add(event.customer_id)
    return found


class TestPlaceOrder:
    @pytest.fixture
    def shelf(self) -> InMemoryProductUnitOfWork:
        return InMemoryProductUnitOfWork(
            [product("p-1", price="2.50", stock=5), product("p-2", price="1.00", stock=1)]
        )

    def place(
        self,
        shelf: InMemoryProductUnitOfWork,
        uow: InMemoryOrderUnitOfWork,
        *lines: Line,
        customer_id: str = CUSTOMER,
    ) -> Order:
        return run(
            place_order(
                lines,
                customer_id=customer_id,
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

    def test_the_order_belongs_to_the_customer_who_placed_it(self, shelf: InMemoryProductUnitOfWork) -> None:
        uow = InMemoryOrderUnitOfWork()

        placed = self.place(shelf, uow, Line("p-1", 1), customer_id="auth0|5f7c8ec7")

        assert placed.customer_id == "auth0|5f7c8ec7"
        assert uow.orders.get(placed.order_id).customer_id == "auth0|5f7c8ec7"  # type: ignore[union-attr]

    def test_the_order_and_its_status_are_announced_with_the_customer(
        self, shelf: InMemoryProductUnitOfWork
    ) -> None:
        uow = InMemoryOrderUnitOfWork()

        self.place(shelf, uow, Line("p-1", 1), customer_id="auth0|5f7c8ec7")

        created, _reservation, status = uow.events.published
        assert isinstance(created, OrderCreated) and created.customer_id == "auth0|5f7c8ec7"
        assert isinstance(status, OrderStatusChanged) and status.customer_id == "auth0|5f7c8ec7"

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
            run(
                place_order(
                    lines,
                    customer_id=CUSTOMER,
                    catalog=catalog,
                    uow=uow,
                    new_id=Ids(),
                    now=NOW,
                    correlation_id="corr-1",
                )
            )

        assert catalog.checks == 0
        assert uow.commits == 0

    @pytest.mark.parametrize("customer_id", ["", "customer a", "é"], ids=repr)
    def test_refuses_an_invalid_customer_id_without_asking_the_catalog(
        self, shelf: InMemoryProductUnitOfWork, customer_id: str
    ) -> None:
        catalog, uow = InMemoryProductCatalog(shelf), InMemoryOrderUnitOfWork()

        with pytest.raises(InvalidValue) as refused:
            run(
                place_order(
                    [Line("p-1", 1)],
                    customer_id=customer_id,
                    catalog=catalog,
                    uow=uow,
                    new_id=Ids(),
                    now=NOW,
                    correlation_id="corr-1",
                )
            )

        assert refused.value.field == "customer_id"
        assert (catalog.checks, uow.commits) == (0, 0)

    def test_refuses_an_invalid_correlation_id(self, shelf: InMemoryProductUnitOfWork) -> None:
        uow = InMemoryOrderUnitOfWork()

        with pytest.raises(InvalidValue) as refused:
            run(
                place_order(
                    [Line("p-1", 1)],
                    customer_id=CUSTOMER,
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


class TestPlaceOrderWithinTheHoldLimit:
    """One customer's unpaid orders may hold at most LIMIT; placing past it is refused until one is paid,
    cancelled or expires."""

    LIMIT = HoldLimit(max_orders=2, max_units=5, payment_timeout=TIMEOUT)

    def place(self, uow: InMemoryOrderUnitOfWork, quantity: int = 1, *, customer_id: str = CUSTOMER) -> Order:
        shelf = InMemoryProductUnitOfWork([product("p-1", stock=100)])
        return run(
            place_order(
                [Line("p-1", quantity)],
                customer_id=customer_id,
                catalog=InMemoryProductCatalog(shelf),
                uow=uow,
                new_id=Ids("placed"),
                now=NOW,
                correlation_id="corr-1",
                hold_limit=self.LIMIT,
            )
        )

    def unpaid(
        self, order_id: str, units: int, *, minutes_ago: int = 0, customer_id: str = CUSTOMER
    ) -> Order:
        lines = (OrderLine("p-1", units, Decimal("1.00")),)
        return order(
            order_id, lines=lines, placed_at=NOW - timedelta(minutes=minutes_ago), customer_id=customer_id
        )

    def test_places_an_order_under_the_limit(self) -> None:
        uow = InMemoryOrderUnitOfWork([self.unpaid("o-1", 2)])

        placed = self.place(uow, 3)

        assert uow.orders.get(placed.order_id) == placed

    def test_refuses_one_unpaid_order_more_than_the_limit_and_stores_nothing(self) -> None:
        uow = InMemoryOrderUnitOfWork([self.unpaid("o-1", 1), self.unpaid("o-2", 1)])

        with pytest.raises(HoldLimitReached) as refused:
            self.place(uow, 1)

        assert refused.value.customer_id == CUSTOMER
        assert sorted(uow.orders.orders) == ["o-1", "o-2"]
        assert (uow.events.published, uow.commits) == ([], 0)

    def test_refuses_an_order_whose_units_would_pass_the_limit(self) -> None:
        uow = InMemoryOrderUnitOfWork([self.unpaid("o-1", 4)])

        with pytest.raises(HoldLimitReached):
            self.place(uow, 2)

        assert list(uow.orders.orders) == ["o-1"]

    def test_paid_and_cancelled_orders_hold_nothing(self) -> None:
        uow = InMemoryOrderUnitOfWork(
            [
                order("o-1", status=OrderStatus.PAID, lines=(OrderLine("p-1", 5, Decimal("1.00")),)),
                order("o-2", status=OrderStatus.CANCELLED, lines=(OrderLine("p-1", 5, Decimal("1.00")),)),
                self.unpaid("o-3", 1),
            ]
        )

        placed = self.place(uow, 4)

        assert placed.status is OrderStatus.UNPAID

    def test_another_customer_s_unpaid_orders_do_not_count(self) -> None:
        uow = InMemoryOrderUnitOfWork(
            [
                self.unpaid("o-1", 3, customer_id=OTHER_CUSTOMER),
                self.unpaid("o-2", 2, customer_id=OTHER_CUSTOMER),
            ]
        )

        placed = self.place(uow, 5)

        assert placed.customer_id == CUSTOMER

    def test_says_to_retry_when_the_oldest_unpaid_order_expires(self) -> None:
        uow = InMemoryOrderUnitOfWork(
            [self.unpaid("o-1", 1, minutes_ago=10), self.unpaid("o-2", 1, minutes_ago=4)]
        )

        with pytest.raises(HoldLimitReached) as refused:
            self.place(uow, 1)

        assert refused.value.retry_after == TIMEOUT - timedelta(minutes=10)

    def test_an_order_larger_than_the_limit_on_its_own_is_invalid_not_a_reason_to_retry(self) -> None:
        uow = InMemoryOrderUnitOfWork()

        with pytest.raises(InvalidValue) as refused:
            self.place(uow, 6)

        assert not isinstance(refused.value, HoldLimitReached)
        assert (refused.value.field, refused.value.value) == ("items", 6)
        assert uow.orders.orders == {}

    def test_without_a_limit_a_customer_may_hold_any_number_of_orders(self) -> None:
        uow = InMemoryOrderUnitOfWork([self.unpaid(f"o-{n}", 10_000) for n in range(5)])
        shelf = InMemoryProductUnitOfWork([product("p-1", stock=10_000)])

        placed = run(
            place_order(
                [Line("p-1", 10_000)],
                customer_id=CUSTOMER,
                catalog=InMemoryProductCatalog(shelf),
                uow=uow,
                new_id=Ids("placed"),
                now=NOW,
                correlation_id="corr-1",
            )
        )

        assert uow.orders.get(placed.order_id) == placed


class TestMarkPaid:
    def pay(
        self,
        uow: InMemoryOrderUnitOfWork,
        payment_id: str = "pay-1",
        order_id: str = "o-1",
        *,
        caller: Caller = PAYMENT_PROVIDER,
    ) -> Order:
        return mark_paid(
            order_id, payment_id, caller=caller, uow=uow, new_id=Ids(), now=NOW, correlation_id="corr-2"
        )

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

    def test_the_payment_and_the_paid_status_carry_the_order_s_customer_not_the_payer(self) -> None:
        uow = InMemoryOrderUnitOfWork([order("o-1", customer_id=OTHER_CUSTOMER)])

        self.pay(uow, caller=PAYMENT_PROVIDER)

        assert customers_of(uow.events.published) == {"o-1": {OTHER_CUSTOMER}}

    def test_the_payment_provider_pays_any_customer_s_order(self) -> None:
        uow = InMemoryOrderUnitOfWork(
            [order("o-1", customer_id=CUSTOMER), order("o-2", customer_id=OTHER_CUSTOMER)]
        )

        paid = [
            self.pay(uow, f"pay-{n}", order_id, caller=PAYMENT_PROVIDER)
            for n, order_id in ((1, "o-1"), (2, "o-2"))
        ]

        assert [o.status for o in paid] == [OrderStatus.PAID, OrderStatus.PAID]

    def test_an_admin_records_a_payment(self) -> None:
        uow = InMemoryOrderUnitOfWork([order("o-1")])

        paid = self.pay(uow, caller=ADMIN)

        assert paid.status is OrderStatus.PAID
        assert types(uow.events.published) == ["paid-order", "order-status"]

    def test_the_owning_customer_may_not_record_their_own_payment_and_nothing_changes(self) -> None:
        uow = InMemoryOrderUnitOfWork([order("o-1")])

        with pytest.raises(NotPermitted) as refused:
            self.pay(uow, caller=OWNER)

        assert (refused.value.order_id, refused.value.action) == ("o-1", "record a payment of")
        assert "payments" in refused.value.why
        assert uow.orders.get("o-1") == order("o-1")
        assert (uow.events.published, uow.commits) == ([], 0)

    def test_to_another_customer_the_order_does_not_exist_and_nothing_changes(self) -> None:
        uow = InMemoryOrderUnitOfWork([order("o-1")])

        with pytest.raises(UnknownOrder) as refused:
            self.pay(uow, caller=STRANGER)

        assert str(refused.value) == str(UnknownOrder("o-1"))  # the same answer as for no order at all
        assert uow.orders.get("o-1") == order("o-1")
        assert (uow.events.published, uow.commits) == ([], 0)

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

    @pytest.mark.parametrize(
        "caller", [PAYMENT_PROVIDER, ADMIN, OWNER], ids=["payments", "admin", "customer"]
    )
    def test_refuses_an_unknown_order_whoever_asks(self, caller: Caller) -> None:
        with pytest.raises(UnknownOrder, match="'o-9'"):
            self.pay(InMemoryOrderUnitOfWork(), order_id="o-9", caller=caller)

    def test_refuses_an_invalid_order_id(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            self.pay(InMemoryOrderUnitOfWork(), order_id="o 1")

        assert refused.value.field == "order_id"


class TestCancelOrder:
    def cancel(
        self,
        uow: InMemoryOrderUnitOfWork,
        reason: CancelReason = CancelReason.CUSTOMER,
        order_id: str = "o-1",
        *,
        caller: Caller = OWNER,
    ) -> Order:
        return cancel_order(
            order_id, reason, caller=caller, uow=uow, new_id=Ids(), now=NOW, correlation_id="corr-3"
        )

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

    def test_the_cancellation_and_the_cancelled_status_carry_the_order_s_customer(self) -> None:
        uow = InMemoryOrderUnitOfWork([order("o-1", customer_id=OTHER_CUSTOMER)])

        self.cancel(uow, caller=Caller(OTHER_CUSTOMER))

        assert customers_of(uow.events.published) == {"o-1": {OTHER_CUSTOMER}}

    def test_an_admin_cancels_any_customer_s_order(self) -> None:
        uow = InMemoryOrderUnitOfWork([order("o-1", customer_id=OTHER_CUSTOMER)])

        cancelled = self.cancel(uow, caller=ADMIN)

        assert cancelled.status is OrderStatus.CANCELLED
        assert customers_of(uow.events.published) == {"o-1": {OTHER_CUSTOMER}}

    @pytest.mark.parametrize("caller", [STRANGER, PAYMENT_PROVIDER], ids=["another customer", "payments"])
    def test_to_anyone_but_its_customer_or_an_admin_the_order_does_not_exist_and_stays_as_it_was(
        self, caller: Caller
    ) -> None:
        uow = InMemoryOrderUnitOfWork([order("o-1")])

        with pytest.raises(UnknownOrder, match="'o-1'"):
            self.cancel(uow, caller=caller)

        assert uow.orders.get("o-1") == order("o-1")
        assert (uow.events.published, uow.commits) == ([], 0)

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

    def test_each_cancellation_carries_its_order_s_customer(self) -> None:
        old = NOW - TIMEOUT - timedelta(minutes=1)
        uow = InMemoryOrderUnitOfWork(
            [
                order("o-1", placed_at=old, customer_id=CUSTOMER),
                order("o-2", placed_at=old, customer_id=OTHER_CUSTOMER),
            ]
        )

        self.expire(uow)

        assert customers_of(uow.events.published) == {"o-1": {CUSTOMER}, "o-2": {OTHER_CUSTOMER}}

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

    def test_the_out_of_stock_cancellation_carries_the_order_s_customer(self) -> None:
        uow = InMemoryOrderUnitOfWork([order("o-1", customer_id=OTHER_CUSTOMER)])

        self.handle(uow, reservation_rejected("o-1"))

        assert customers_of(uow.events.published) == {"o-1": {OTHER_CUSTOMER}}

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


class TestOrderFor:
    def test_a_customer_reads_their_own_order(self) -> None:
        views = InMemoryOrderViews(InMemoryOrderUnitOfWork([order("o-1")]))

        found = order_for("o-1", caller=OWNER, views=views)

        assert found == order("o-1")

    @pytest.mark.parametrize("caller", [STRANGER, PAYMENT_PROVIDER], ids=["another customer", "payments"])
    def test_to_anyone_else_another_customer_s_order_is_unknown_as_if_there_were_none(
        self, caller: Caller
    ) -> None:
        views = InMemoryOrderViews(InMemoryOrderUnitOfWork([order("o-1")]))

        with pytest.raises(UnknownOrder) as refused:
            order_for("o-1", caller=caller, views=views)

        assert str(refused.value) == str(UnknownOrder("o-1"))

    def test_an_admin_reads_any_customer_s_order(self) -> None:
        views = InMemoryOrderViews(InMemoryOrderUnitOfWork([order("o-1", customer_id=OTHER_CUSTOMER)]))

        found = order_for("o-1", caller=ADMIN, views=views)

        assert found.customer_id == OTHER_CUSTOMER

    def test_an_order_that_does_not_exist_is_unknown_even_to_an_admin(self) -> None:
        views = InMemoryOrderViews(InMemoryOrderUnitOfWork())

        with pytest.raises(UnknownOrder, match="'o-9'"):
            order_for("o-9", caller=ADMIN, views=views)


class TestOrdersPage:
    @pytest.fixture
    def views(self) -> InMemoryOrderViews:
        # Two customers' orders interleaved in time: o-<n> is placed n minutes after NOW.
        return InMemoryOrderViews(
            InMemoryOrderUnitOfWork(
                order(f"o-{minute}", placed_at=NOW + timedelta(minutes=minute), customer_id=customer)
                for minute, customer in [
                    (0, CUSTOMER),
                    (1, OTHER_CUSTOMER),
                    (2, CUSTOMER),
                    (3, OTHER_CUSTOMER),
                    (4, CUSTOMER),
                ]
            )
        )

    def page(
        self,
        views: InMemoryOrderViews,
        caller: Caller,
        *,
        after: str | None = None,
        limit: int = 10,
        newest_first: bool = False,
    ) -> tuple[list[str], str | None]:
        orders, cursor = orders_page(
            caller=caller, views=views, after=after, limit=limit, newest_first=newest_first
        )
        return [o.order_id for o in orders], cursor

    def test_a_customer_s_page_lists_only_their_own_orders_oldest_first(
        self, views: InMemoryOrderViews
    ) -> None:
        page = self.page(views, OWNER)

        assert page == (["o-0", "o-2", "o-4"], None)

    def test_an_admin_s_page_lists_every_customer_s_orders(self, views: InMemoryOrderViews) -> None:
        page = self.page(views, ADMIN)

        assert page == (["o-0", "o-1", "o-2", "o-3", "o-4"], None)

    def test_newest_first_on_request(self, views: InMemoryOrderViews) -> None:
        page = self.page(views, STRANGER, newest_first=True)

        assert page == (["o-3", "o-1"], None)

    def test_a_full_page_gives_the_cursor_of_the_next_and_the_next_continues_after_it(
        self, views: InMemoryOrderViews
    ) -> None:
        first = self.page(views, OWNER, limit=2)

        second = self.page(views, OWNER, after=first[1], limit=2)

        assert first == (["o-0", "o-2"], "o-2")
        assert second == (["o-4"], None)

    def test_a_page_that_ends_exactly_at_the_last_order_has_no_next(self, views: InMemoryOrderViews) -> None:
        page = self.page(views, OWNER, limit=3)

        assert page == (["o-0", "o-2", "o-4"], None)

    def test_a_customer_with_no_orders_gets_an_empty_last_page(self, views: InMemoryOrderViews) -> None:
        page = self.page(views, Caller("customer-without-orders"))

        assert page == ([], None)

    @pytest.mark.parametrize("limit", [0, -1, True], ids=repr)
    def test_refuses_a_page_of_fewer_than_one_order(self, views: InMemoryOrderViews, limit: int) -> None:
        with pytest.raises(InvalidValue) as refused:
            self.page(views, OWNER, limit=limit)

        assert refused.value.field == "limit"
