"""The in-memory adapters: units of work commit all or nothing; repositories behave like stores."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from adapters.memory.catalog import InMemoryProductCatalog
from adapters.memory.messages import InMemoryMessageUnitOfWork
from adapters.memory.orders import InMemoryOrderRepository, InMemoryOrderUnitOfWork
from adapters.memory.products import InMemoryProductRepository, InMemoryProductUnitOfWork
from adapters.memory.views import InMemoryMessageViews, InMemoryOrderViews
from ordering_core import CustomerMessage, Holdings, Line, OrderLine, OrderStatus, record_customer_message
from ordering_core.holds import NOTHING_HELD

from .examples import CUSTOMER, NOW, order, product, run, status_changed

OTHER_CUSTOMER = "customer-b"


class TestInMemoryUnitOfWork:
    def test_keeps_what_was_committed(self) -> None:
        uow = InMemoryOrderUnitOfWork()

        with uow:
            uow.orders.add(order("o-1"))
            uow.inbox.record("m-1")
            uow.commit()

        assert uow.orders.get("o-1") == order("o-1")
        assert uow.inbox.seen("m-1")
        assert uow.commits == 1

    def test_leaving_without_commit_rolls_everything_back(self) -> None:
        uow = InMemoryOrderUnitOfWork()

        with uow:
            uow.orders.add(order("o-1"))
            uow.events.publish([status_changed("o-1")])
            uow.inbox.record("m-1")

        assert uow.orders.get("o-1") is None
        assert uow.events.published == []
        assert not uow.inbox.seen("m-1")

    def test_an_error_in_the_block_rolls_back_and_propagates(self) -> None:
        uow = InMemoryProductUnitOfWork([product("p-1", stock=1)])

        with pytest.raises(RuntimeError, match="boom"), uow:
            uow.products.save(product("p-1", stock=9))
            raise RuntimeError("boom")

        assert uow.products.products["p-1"].stock == 1

    def test_work_after_a_commit_is_rolled_back_unless_committed_again(self) -> None:
        uow = InMemoryOrderUnitOfWork()

        with uow:
            uow.orders.add(order("o-1"))
            uow.commit()
            uow.orders.add(order("o-2"))

        assert list(uow.orders.orders) == ["o-1"]

    def test_uncommitted_work_is_invisible_outside_until_commit(self) -> None:
        uow = InMemoryMessageUnitOfWork()
        committed_notifier = uow.notifier

        with uow:
            uow.notifier.notify(CustomerMessage.from_status_change(status_changed()))
            assert committed_notifier.sent == []
            uow.commit()

        assert len(committed_notifier.sent) == 1
        assert uow.notifier is committed_notifier

    def test_refuses_to_nest(self) -> None:
        uow = InMemoryOrderUnitOfWork()

        with uow, pytest.raises(RuntimeError, match="already open"):
            uow.__enter__()

    def test_refuses_a_commit_outside_the_block(self) -> None:
        with pytest.raises(RuntimeError, match="outside"):
            InMemoryOrderUnitOfWork().commit()


class TestInMemoryRepositories:
    def test_an_order_is_added_once(self) -> None:
        orders = InMemoryOrderRepository([order("o-1")])

        with pytest.raises(ValueError, match="already exists"):
            orders.add(order("o-1"))

    def test_only_an_added_order_can_be_saved(self) -> None:
        with pytest.raises(ValueError, match="never added"):
            InMemoryOrderRepository().save(order("o-1"))

    def test_finds_unpaid_orders_placed_strictly_before_the_cutoff(self) -> None:
        orders = InMemoryOrderRepository(
            [order("o-1", placed_at=NOW), order("o-2", placed_at=NOW - timedelta(seconds=1))]
        )

        assert [o.order_id for o in orders.unpaid_placed_before(NOW)] == ["o-2"]

    def test_holdings_count_the_customer_s_unpaid_orders_their_units_and_the_oldest(self) -> None:
        def units(n: int) -> tuple[OrderLine, ...]:
            return (OrderLine("p-1", n, Decimal("1.00")),)

        orders = InMemoryOrderRepository(
            [
                order("o-1", lines=units(2), placed_at=NOW),
                order("o-2", lines=units(3), placed_at=NOW - timedelta(minutes=5)),
                order("o-3", lines=units(7), status=OrderStatus.PAID),
                order("o-4", lines=units(7), status=OrderStatus.CANCELLED),
                order("o-5", lines=units(7), placed_at=NOW - timedelta(hours=1), customer_id=OTHER_CUSTOMER),
            ]
        )

        holdings = orders.holdings_of(CUSTOMER)

        assert holdings == Holdings(2, 5, NOW - timedelta(minutes=5))

    def test_a_customer_without_unpaid_orders_holds_nothing(self) -> None:
        orders = InMemoryOrderRepository([order("o-1", status=OrderStatus.PAID)])

        assert orders.holdings_of(CUSTOMER) == NOTHING_HELD
        assert orders.holdings_of("customer-without-orders") == NOTHING_HELD

    def test_a_product_is_added_once(self) -> None:
        products = InMemoryProductRepository([product("p-1")])

        with pytest.raises(ValueError, match="already exists"):
            products.add(product("p-1"))

    def test_only_an_added_product_can_be_saved(self) -> None:
        with pytest.raises(ValueError, match="never added"):
            InMemoryProductRepository().save(product("p-1"))

    def test_get_many_leaves_out_unknown_ids(self) -> None:
        products = InMemoryProductRepository([product("p-1")])

        assert list(products.get_many(["p-1", "p-9"])) == ["p-1"]


class TestInMemoryViews:
    def test_lists_one_customer_s_orders_or_everyone_s(self) -> None:
        views = InMemoryOrderViews(
            InMemoryOrderUnitOfWork([order("o-1"), order("o-2", customer_id=OTHER_CUSTOMER), order("o-3")])
        )

        theirs = views.orders(customer_id=CUSTOMER, after=None, limit=10)
        everyone_s = views.orders(customer_id=None, after=None, limit=10)

        assert [o.order_id for o in theirs] == ["o-1", "o-3"]
        assert [o.order_id for o in everyone_s] == ["o-1", "o-2", "o-3"]

    def test_a_cursor_that_is_not_among_the_customer_s_orders_gives_nothing(self) -> None:
        views = InMemoryOrderViews(
            InMemoryOrderUnitOfWork([order("o-1"), order("o-2", customer_id=OTHER_CUSTOMER)])
        )

        after_another_s = views.orders(customer_id=CUSTOMER, after="o-2", limit=10)

        assert after_another_s == []

    def test_shows_an_order_s_messages_only_to_its_customer_or_to_anyone_for_none(self) -> None:
        uow = InMemoryMessageUnitOfWork()
        record_customer_message(status_changed("o-1", customer_id=CUSTOMER), uow=uow)
        views = InMemoryMessageViews(uow)

        shown = {
            who: len(views.messages_for("o-1", customer_id=who)) for who in (CUSTOMER, OTHER_CUSTOMER, None)
        }

        assert shown == {CUSTOMER: 1, OTHER_CUSTOMER: 0, None: 1}


class TestInMemoryProductCatalog:
    def test_answers_from_the_committed_products(self) -> None:
        shelf = InMemoryProductUnitOfWork([product("p-1", stock=2)])
        catalog = InMemoryProductCatalog(shelf)

        availability = run(catalog.check([Line("p-1", 2)]))

        assert availability.is_ok
        assert catalog.checks == 1

    def test_sees_a_later_restock(self) -> None:
        shelf = InMemoryProductUnitOfWork([product("p-1", stock=0)])
        catalog = InMemoryProductCatalog(shelf)
        with shelf:
            shelf.products.save(product("p-1", stock=3))
            shelf.commit()

        availability = run(catalog.check([Line("p-1", 3)]))

        assert availability.is_ok
        assert availability.order_lines[0].quantity == 3
