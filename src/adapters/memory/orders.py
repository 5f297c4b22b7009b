"""In-memory adapters for the Order Service: its repository and unit of work."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from adapters.memory.idempotency import InMemoryIdempotencyStore, InMemoryReplies
from adapters.memory.transactions import InMemoryEventPublisher, InMemoryInbox, InMemoryUnitOfWork
from ordering_core.holds import NOTHING_HELD, Holdings
from ordering_core.orders import Order, OrderStatus


class InMemoryOrderRepository:
    def __init__(self, orders: Iterable[Order] = ()) -> None:
        self.orders: dict[str, Order] = {order.order_id: order for order in orders}

    def get(self, order_id: str) -> Order | None:
        return self.orders.get(order_id)

    def add(self, order: Order) -> None:
        if order.order_id in self.orders:
            raise ValueError(f"order {order.order_id!r} already exists")
        self.orders[order.order_id] = order

    def save(self, order: Order) -> None:
        if order.order_id not in self.orders:
            raise ValueError(f"order {order.order_id!r} was never added")
        self.orders[order.order_id] = order

    def unpaid_placed_before(self, cutoff: datetime) -> Sequence[Order]:
        unpaid = (o for o in self.orders.values() if o.status is OrderStatus.UNPAID and o.placed_at < cutoff)
        return sorted(unpaid, key=lambda order: (order.placed_at, order.order_id))

    def holdings_of(self, customer_id: str) -> Holdings:
        unpaid = [o for o in self.orders.values() if o.customer_id == customer_id and o.status is OrderStatus.UNPAID]
        if not unpaid:
            return NOTHING_HELD
        return Holdings(len(unpaid), sum(o.units for o in unpaid), min(o.placed_at for o in unpaid))

    def copy(self) -> InMemoryOrderRepository:
        return InMemoryOrderRepository(self.orders.values())

    def adopt(self, other: InMemoryOrderRepository) -> None:
        self.orders = dict(other.orders)


class InMemoryOrderUnitOfWork(InMemoryUnitOfWork):
    """The Order Service's parts; `keys` is the Idempotency-Key store its `replies` bind into (a new one when
    not given: the HTTP app must be given the same store)."""

    parts = ("orders", "events", "inbox", "replies")

    def __init__(self, orders: Iterable[Order] = (), *, keys: InMemoryIdempotencyStore | None = None) -> None:
        super().__init__()
        self.orders = InMemoryOrderRepository(orders)
        self.events = InMemoryEventPublisher()
        self.inbox = InMemoryInbox()
        self.replies = InMemoryReplies(keys if keys is not None else InMemoryIdempotencyStore())

    @property
    def keys(self) -> InMemoryIdempotencyStore:
        return self.replies.store
