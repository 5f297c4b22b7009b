"""In-memory reads: what the HTTP endpoints show, straight from a unit of work's committed state."""

from __future__ import annotations

from collections.abc import Sequence

from adapters.memory.messages import InMemoryMessageUnitOfWork
from adapters.memory.orders import InMemoryOrderUnitOfWork
from adapters.memory.products import InMemoryProductUnitOfWork
from ordering_core.messages import CustomerMessage
from ordering_core.orders import Order
from ordering_core.products import Product


class InMemoryOrderViews:
    def __init__(self, uow: InMemoryOrderUnitOfWork) -> None:
        self._uow = uow  # outside a `with` block its parts are the committed state

    def order(self, order_id: str) -> Order | None:
        return self._uow.orders.get(order_id)

    def orders(
        self, *, customer_id: str | None, after: str | None, limit: int, newest_first: bool = False
    ) -> Sequence[Order]:
        theirs = [o for o in self._uow.orders.orders.values() if customer_id in (None, o.customer_id)]
        ordered = sorted(theirs, key=lambda o: (o.placed_at, o.order_id), reverse=newest_first)
        if after is not None:
            keys = [o.order_id for o in ordered]
            ordered = ordered[keys.index(after) + 1 :] if after in keys else []
        return ordered[:limit]


class InMemoryProductViews:
    def __init__(self, uow: InMemoryProductUnitOfWork) -> None:
        self._uow = uow

    def products(self) -> Sequence[Product]:
        return sorted(self._uow.products.products.values(), key=lambda p: p.product_id)

    def product(self, product_id: str) -> Product | None:
        return self._uow.products.products.get(product_id)


class InMemoryMessageViews:
    def __init__(self, uow: InMemoryMessageUnitOfWork) -> None:
        self._uow = uow

    def messages_for(self, order_id: str, *, customer_id: str | None) -> Sequence[CustomerMessage]:
        return [
            m for m in self._uow.notifier.sent if m.order_id == order_id and customer_id in (None, m.customer_id)
        ]
