"""Stateful property: whatever Kafka delivers to the Product Service, in any order and any number of times,
stock never goes below zero and is conserved (docs/design.md, "Stock ledger").
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

import strategies
from adapters.memory.products import InMemoryProductUnitOfWork
from adapters.memory.transactions import InMemoryInbox
from ordering_core import (
    Envelope,
    Event,
    Line,
    Product,
    StockReleaseRequested,
    StockReservationRequested,
    apply_stock_release,
    apply_stock_reservation,
    restock,
)

from .examples import NOW, Ids


class CrashingInbox(InMemoryInbox):
    """The process dies after applying a message and before committing: recording it fails."""

    def record(self, message_id: str) -> None:
        raise ConnectionError("the process died before commit")

    def copy(self) -> CrashingInbox:
        return CrashingInbox(self.message_ids)


INITIAL = {"p-1": 5, "p-2": 3}


class ProductServiceDeliveries(RuleBasedStateMachine):
    """The model is one counter per product: what came in (initial + restocked). Product ids p-3 and p-4
    from the strategies are unknown here, so rejections happen too. Delivered messages go to a bundle from
    which they are delivered again (duplicates, replays); a crash leaves a message undelivered for later."""

    delivered = Bundle("delivered")

    def __init__(self) -> None:
        super().__init__()
        self.uow = InMemoryProductUnitOfWork(
            Product(pid, f"Product {pid}", Decimal("1.00"), stock) for pid, stock in INITIAL.items()
        )
        self.came_in = dict(INITIAL)
        self.message_ids = Ids("m")

    def stored(self) -> tuple[object, ...]:
        uow = self.uow
        return (dict(uow.products.products), dict(uow.ledger.entries), list(uow.events.published))

    def envelope(self, order_id: str) -> Envelope:
        return Envelope(self.message_ids(), NOW, order_id, "corr-1")

    def deliver(self, event: Event) -> Event:
        if isinstance(event, StockReservationRequested):
            apply_stock_reservation(event, uow=self.uow, new_id=self.message_ids, now=NOW)
        else:
            assert isinstance(event, StockReleaseRequested)
            apply_stock_release(event, uow=self.uow)
        return event

    @rule(target=delivered, order_id=strategies.order_ids, lines=strategies.lines(max_size=3))
    def reservation(self, order_id: str, lines: list[Line]) -> Event:
        return self.deliver(StockReservationRequested(self.envelope(order_id), tuple(lines)))

    @rule(target=delivered, order_id=strategies.order_ids, lines=strategies.lines(max_size=3))
    def reservation_interrupted_by_a_crash(self, order_id: str, lines: list[Line]) -> Event:
        event = StockReservationRequested(self.envelope(order_id), tuple(lines))
        before = self.stored()
        healthy, self.uow.inbox = self.uow.inbox, CrashingInbox(self.uow.inbox.message_ids)
        try:
            with pytest.raises(ConnectionError):
                self.deliver(event)
        finally:
            self.uow.inbox = healthy

        assert self.stored() == before  # nothing of the interrupted delivery was kept
        return event  # its offset was never committed, so Kafka delivers it again

    @rule(target=delivered, order_id=strategies.order_ids)
    def release(self, order_id: str) -> Event:
        return self.deliver(StockReleaseRequested(self.envelope(order_id)))

    @rule(event=delivered)
    def redelivery(self, event: Event) -> None:
        self.deliver(event)

    @rule(product_id=st.sampled_from(sorted(INITIAL)), quantity=strategies.small_quantities)
    def restocking(self, product_id: str, quantity: int) -> None:
        restock(product_id, quantity, uow=self.uow)
        self.came_in[product_id] += quantity

    @invariant()
    def stock_never_goes_below_zero(self) -> None:
        assert all(product.stock >= 0 for product in self.uow.products.products.values())

    @invariant()
    def stock_is_conserved(self) -> None:
        held = dict.fromkeys(INITIAL, 0)
        for entry in self.uow.ledger.entries.values():
            for line in entry.held:
                held[line.product_id] += line.quantity
        stock = {pid: product.stock for pid, product in self.uow.products.products.items()}

        assert {pid: stock[pid] + held[pid] for pid in INITIAL} == self.came_in


ProductServiceDeliveries.TestCase.settings = settings(
    max_examples=60, stateful_step_count=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_deliveries_conserve_stock = ProductServiceDeliveries.TestCase
