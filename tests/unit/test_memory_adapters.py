"""The in-memory adapters: units of work commit all or nothing; repositories behave like stores."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.memory.catalog import InMemoryProductCatalog
from adapters.memory.messages import InMemoryMessageUnitOfWork
from adapters.memory.orders import InMemoryOrderRepository, InMemoryOrderUnitOfWork
from adapters.memory.products import InMemoryProductRepository, InMemoryProductUnitOfWork
from ordering_core import CustomerMessage, Line

from .examples import NOW, order, product, run, status_changed


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
