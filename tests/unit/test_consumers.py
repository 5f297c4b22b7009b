"""entrypoints.consumers: one table per service from the events it consumes to its use cases, used by the
composition roots and by the in-process system alike."""

from __future__ import annotations

import pytest

from adapters.memory.messages import InMemoryMessageUnitOfWork
from adapters.memory.orders import InMemoryOrderUnitOfWork
from adapters.memory.products import InMemoryProductUnitOfWork
from entrypoints.consumers import message_events, order_events, product_events
from entrypoints.in_process import InProcessSystem
from ordering_core import InvalidValue, Line, OrderStatus

from .examples import (
    NOW,
    Ids,
    order,
    product,
    release_requested,
    reservation_rejected,
    reservation_requested,
    status_changed,
)


class Wakes:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def tables() -> dict[str, object]:
    return {
        "order": order_events(uow=InMemoryOrderUnitOfWork(), new_id=Ids(), clock=lambda: NOW),
        "product": product_events(uow=InMemoryProductUnitOfWork(), new_id=Ids(), clock=lambda: NOW),
        "message": message_events(uow=InMemoryMessageUnitOfWork()),
    }


class TestEachServicesTable:
    def test_names_exactly_the_topics_its_consumer_group_reads(self) -> None:
        topics = {service: table.topics for service, table in tables().items()}  # type: ignore[attr-defined]

        assert topics == {
            "order": ("stock-reservation-rejected",),
            "product": ("update-stock", "restore-canceled-item"),
            "message": ("order-status",),
        }

    @pytest.mark.parametrize(
        ("service", "foreign"),
        [
            ("product", status_changed()),
            ("order", reservation_requested()),
            ("message", release_requested()),
        ],
    )
    def test_refuses_an_event_it_has_no_use_case_for_so_the_consumer_sets_it_aside(
        self, service, foreign
    ) -> None:
        table = tables()[service]

        with pytest.raises(InvalidValue) as refused:
            table.apply(foreign)  # type: ignore[attr-defined]

        assert refused.value.field == "type"
        assert refused.value.value == foreign.TYPE


class TestTheHandlers:
    def test_the_ledger_applies_a_reservation_and_a_release(self) -> None:
        shelf = InMemoryProductUnitOfWork([product("p-1", stock=5)])
        table = product_events(uow=shelf, new_id=Ids(), clock=lambda: NOW)

        table.apply(reservation_requested("o-1", Line("p-1", 2)))
        reserved = shelf.products.products["p-1"].stock
        table.apply(release_requested("o-1"))

        assert (reserved, shelf.products.products["p-1"].stock) == (3, 5)

    def test_a_rejected_reservation_wakes_the_relay_to_publish_it(self) -> None:
        wakes = Wakes()
        table = product_events(
            uow=InMemoryProductUnitOfWork([product("p-1", stock=1)]),
            new_id=Ids(),
            clock=lambda: NOW,
            on_published=wakes,
        )

        table.apply(reservation_requested("o-1", Line("p-1", 2)))

        assert wakes.count == 1

    def test_the_order_service_cancels_out_of_stock_and_wakes_the_relay_once(self) -> None:
        wakes = Wakes()
        orders = InMemoryOrderUnitOfWork([order("o-1")])
        table = order_events(uow=orders, new_id=Ids(), clock=lambda: NOW, on_published=wakes)
        rejected = reservation_rejected("o-1")

        table.apply(rejected)
        table.apply(rejected)  # delivered again: nothing changes, nothing to publish

        assert orders.orders.orders["o-1"].status is OrderStatus.CANCELLED
        assert wakes.count == 1

    def test_the_message_service_records_the_customer_s_message(self) -> None:
        messages = InMemoryMessageUnitOfWork()

        message_events(uow=messages).apply(status_changed("o-1", customer_id="customer-b"))

        assert [(m.order_id, m.customer_id) for m in messages.notifier.sent] == [("o-1", "customer-b")]


class TestTheInProcessSystem:
    def test_subscribes_each_group_to_the_topics_of_its_service_s_table(self) -> None:
        system = InProcessSystem([])

        subscribed = {name: slot.topics for name, slot in system.consumers.items()}

        assert subscribed == {name: table.topics for name, table in system.consumed.items()}
        assert set(subscribed) == {"order", "product", "message"}
