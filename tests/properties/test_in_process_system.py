"""Stock is never wrong: the whole system, driven through every interleaving Hypothesis can find.

The machine places orders (often racing for the last units), pays, cancels, expires and restocks, and it
delivers Kafka's worst: a relay that publishes and dies before marking its rows sent, a consumer that applies a
record and dies before committing, a record handled twice, a group replayed from offset 0. Orders belong to two
or three customers, and a customer now and then tries what only the order's customer or the payment provider may
do. Its model is a few counters and who placed which order; the invariants below are the conservation law, the
customer's view, and that each customer's orders, messages and holdings stay theirs.
"""

from __future__ import annotations

from collections import Counter as Tally
from contextlib import suppress
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)

from entrypoints.in_process import InProcessSystem
from ordering_core import (
    Caller,
    CancelReason,
    InvalidTransition,
    Line,
    NotPermitted,
    OrderStatus,
    OrderUnavailable,
    Product,
    UnknownOrder,
    cancel_order,
    mark_paid,
)

PRODUCT_IDS = ("p-1", "p-2", "p-3")
SERVICES = ("order", "product")
CONSUMERS = ("product", "order", "message")
partitions = st.integers(min_value=0, max_value=5)
DELIVERIES = ("once", "twice", "then the consumer dies before committing")
CUSTOMERS = ("customer-1", "customer-2", "customer-3")

order_lines = st.lists(
    st.builds(Line, st.sampled_from(PRODUCT_IDS), st.integers(min_value=1, max_value=3)),
    min_size=1,
    max_size=3,
)


class OrderingSystem(RuleBasedStateMachine):
    orders = Bundle("orders")

    def __init__(self) -> None:
        super().__init__()
        self.system: InProcessSystem
        self.initial: dict[str, int] = {}
        self.restocked: Tally[str] = Tally()
        self.placed: list[str] = []
        self.customers: tuple[str, ...] = ()
        self.placed_by: dict[str, str] = {}  # order id -> the customer who placed it

    # One initialize rule, since Hypothesis runs several in any order. It also places the first orders: each
    # run switches off a random subset of the rules (swarm testing), and a run without orders proves nothing.
    @initialize(
        target=orders,
        stock=st.lists(st.integers(min_value=1, max_value=4), min_size=3, max_size=3),
        customers=st.integers(min_value=2, max_value=3),
        first_orders=st.lists(
            st.tuples(st.integers(min_value=0, max_value=2), order_lines), min_size=1, max_size=3
        ),
    )
    def open_shop_and_take_the_first_orders(
        self, stock: list[int], customers: int, first_orders: list[tuple[int, list[Line]]]
    ):
        # Little stock, so orders often pass the advisory check together and then race in the ledger.
        self.initial = dict(zip(PRODUCT_IDS, stock, strict=True))
        self.customers = CUSTOMERS[:customers]
        self.system = InProcessSystem(
            Product(pid, f"Product {pid}", Decimal("1.25"), level) for pid, level in self.initial.items()
        )
        placed = [self.try_to_place(lines, self.customers[who % customers]) for who, lines in first_orders]
        return multiple(*(order_id for order_id in placed if order_id is not None))

    # -- what customers and admins do -----------------------------------------------------------------

    @rule(target=orders, lines=order_lines, data=st.data())
    def place_order(self, lines: list[Line], data: st.DataObject):
        customer_id = data.draw(st.sampled_from(self.customers), label="customer")
        order_id = self.try_to_place(lines, customer_id)
        return multiple() if order_id is None else order_id  # refused: nothing stored, no order id to hand on

    @rule(order_id=orders, payment=st.sampled_from(["pay-a", "pay-b"]))
    def pay(self, order_id: str, payment: str) -> None:
        # Cancelled, or paid with another payment id: refused, and nothing changed (the invariants say).
        with suppress(InvalidTransition):
            self.system.pay(order_id, payment)

    @rule(order_id=orders)
    def cancel(self, order_id: str) -> None:
        with suppress(InvalidTransition):  # a paid order cannot be cancelled by its customer
            self.system.cancel(order_id)

    @rule(order_id=orders, data=st.data())
    def another_customer_tries_to_cancel(self, order_id: str, data: st.DataObject) -> None:
        others = [customer for customer in self.customers if customer != self.placed_by[order_id]]
        stranger = Caller(data.draw(st.sampled_from(others), label="another customer"))
        before = self.order_service_state()

        with pytest.raises(UnknownOrder):  # to them the order does not exist
            cancel_order(order_id, CancelReason.CUSTOMER, caller=stranger, **self.request())

        assert self.order_service_state() == before

    @rule(order_id=orders)
    def the_customer_tries_to_record_their_own_payment(self, order_id: str) -> None:
        owner = Caller(self.placed_by[order_id])
        before = self.order_service_state()

        with pytest.raises(NotPermitted):  # a customer's word is not a payment
            mark_paid(order_id, "pay-self", caller=owner, **self.request())

        assert self.order_service_state() == before

    @rule(minutes=st.sampled_from([1, 31]))
    def time_passes_and_unpaid_orders_expire(self, minutes: int) -> None:
        self.system.expire_unpaid(timedelta(minutes=minutes))

    @rule(product_id=st.sampled_from(PRODUCT_IDS), quantity=st.integers(min_value=1, max_value=3))
    def restock(self, product_id: str, quantity: int) -> None:
        self.system.restock(product_id, quantity)
        self.restocked[product_id] += quantity

    # -- what Kafka and crashes do ----------------------------------------------------------------------

    @rule(service=st.sampled_from(SERVICES), dies_before_marking_sent=st.booleans())
    def relay_outbox(self, service: str, dies_before_marking_sent: bool) -> None:
        # A relay that dies after publishing, before marking its rows sent, publishes them again next time.
        self.system.relay(service, crash_before_marking=dies_before_marking_sent)

    # `pick` chooses which partition's next record comes first: across topics and partitions Kafka promises
    # no order, so the services may not rely on one.
    @rule(consumer=st.sampled_from(CONSUMERS), pick=partitions, how=st.sampled_from(DELIVERIES))
    def deliver_one_record(self, consumer: str, pick: int, how: str) -> None:
        if how == "twice":
            self.system.deliver_twice(consumer, pick=pick)
        elif how == "then the consumer dies before committing":
            self.system.deliver(consumer, pick=pick, commit=False)
            self.system.crash(consumer)
        else:
            self.system.deliver(consumer, pick=pick)

    @rule(consumer=st.sampled_from(CONSUMERS))
    def replay_topics_from_offset_zero(self, consumer: str) -> None:
        self.system.replay(consumer)

    @precondition(lambda self: self.system.pending() > 0)
    @rule()
    def deliver_everything(self) -> None:
        note(f"idle after {self.system.run_until_idle()} steps")
        self.check_the_customer_view_when_idle()

    # -- invariants -------------------------------------------------------------------------------------

    @invariant()
    def stock_is_never_negative(self) -> None:
        assert all(product.stock >= 0 for product in self.stock().values())

    @invariant()
    def stock_is_conserved(self) -> None:
        # initial + restocked = stock + what the ledger holds for orders (at every step, not only when idle).
        held: Tally[str] = Tally()
        for entry in self.system.products.ledger.entries.values():
            for line in entry.held:
                held[line.product_id] += line.quantity
        for product_id, product in self.stock().items():
            assert self.initial[product_id] + self.restocked[product_id] == product.stock + held[product_id]

    @invariant()
    def each_reservation_is_applied_at_most_once_and_released_at_most_once(self) -> None:
        repeats = [entry for entry, times in Tally(self.system.ledger_log).items() if times > 1]
        assert repeats == []

    @invariant()
    def only_a_rejected_reservation_cancels_an_order_out_of_stock(self) -> None:
        ledger = self.system.products.ledger.entries
        for order in self.system.orders.orders.orders.values():
            if order.cancel_reason is CancelReason.OUT_OF_STOCK:
                assert str(ledger[order.order_id].state) == "rejected"

    @invariant()
    def every_order_belongs_to_the_customer_who_placed_it(self) -> None:
        for order_id, customer_id in self.placed_by.items():
            assert self.system.orders.orders.get(order_id).customer_id == customer_id  # type: ignore[union-attr]

    @invariant()
    def every_customer_message_is_its_order_s_customer_s(self) -> None:
        for message in self.system.messages.notifier.sent:
            assert message.customer_id == self.placed_by[message.order_id], message

    @invariant()
    def each_customer_s_holdings_are_what_their_unpaid_orders_hold(self) -> None:
        orders = self.system.orders.orders
        for customer_id in self.customers:
            unpaid = [
                o
                for o in orders.orders.values()
                if o.customer_id == customer_id and o.status is OrderStatus.UNPAID
            ]
            holdings = orders.holdings_of(customer_id)
            assert holdings.orders == len(unpaid)
            assert holdings.units == sum(line.quantity for o in unpaid for line in o.lines)
            assert holdings.oldest_placed_at == min((o.placed_at for o in unpaid), default=None)

    def check_the_customer_view_when_idle(self) -> None:
        assert self.system.pending() == 0
        ledger = self.system.products.ledger.entries
        sent = Tally()
        statuses: dict[str, list[str]] = {}
        for message in self.system.messages.notifier.sent:
            statuses.setdefault(message.order_id, []).append(str(message.status))
            sent[message.message_id] += 1
        assert [m for m, times in sent.items() if times > 1] == []
        for order_id in self.placed:
            order = self.system.orders.orders.get(order_id)
            assert order is not None
            entry = str(ledger[order_id].state)
            # Idle: every order's reservation was judged, and every cancelled order gave its stock back.
            if order.status is OrderStatus.CANCELLED:
                assert entry in {"rejected", "released"}
            else:
                assert entry == "reserved"
            if entry == "rejected":
                assert order.status is OrderStatus.CANCELLED
            expected = ["unpaid"]
            if order.payment_id is not None:
                expected.append("paid")
            if order.status is OrderStatus.CANCELLED:
                expected.append("cancelled")
            assert statuses.get(order_id) == expected, f"{order_id}: {statuses.get(order_id)} != {expected}"

    def teardown(self) -> None:
        if getattr(self, "system", None) is not None:
            self.system.run_until_idle()
            self.check_the_customer_view_when_idle()

    def try_to_place(self, lines: list[Line], customer_id: str) -> str | None:
        try:
            order = self.system.place_order(lines, customer_id=customer_id)
        except OrderUnavailable:
            return None
        self.placed.append(order.order_id)
        self.placed_by[order.order_id] = customer_id
        return order.order_id

    def request(self) -> dict[str, Any]:
        """What the Order Service passes a use case for one HTTP request."""
        system = self.system
        return {
            "uow": system.orders,
            "new_id": system.new_id,
            "now": system.now,
            "correlation_id": system.new_id(),
        }

    def order_service_state(self) -> tuple[object, ...]:
        return dict(self.system.orders.orders.orders), list(self.system.orders.events.published)

    def stock(self) -> dict[str, Product]:
        return self.system.products.products.products


# Ten times the profile's examples: fewer let a planted bug (the ledger without its release-before-reserve
# tombstone) slip through now and then; this many found it in every trial.
OrderingSystem.TestCase.settings = settings(
    max_examples=10 * settings.default.max_examples, stateful_step_count=50
)
TestOrderingSystem = OrderingSystem.TestCase


class TestRaceForTheLastUnit:
    @given(st.integers(min_value=2, max_value=5))
    @settings(max_examples=10, deadline=None)
    def test_orders_that_all_passed_the_check_share_the_last_units_and_the_rest_are_cancelled(
        self, racers: int
    ):
        system = InProcessSystem([Product("p-1", "Last pen", Decimal("2.00"), stock=1)])
        placed = [system.place_order([Line("p-1", 1)]) for _ in range(racers)]

        system.run_until_idle()

        orders = [system.orders.orders.get(order.order_id) for order in placed]
        assert [o.status for o in orders].count(OrderStatus.UNPAID) == 1
        assert all(
            o.cancel_reason is CancelReason.OUT_OF_STOCK for o in orders if o.status is OrderStatus.CANCELLED
        )
        assert system.products.products.products["p-1"].stock == 0
