"""The ports: what the use cases need from the outside world, as small `typing.Protocol`s.

Adapters (`src/adapters/`) implement them without inheriting; the contract suite proves they conform.
Only `ProductCatalog` is async: in production it is an HTTP call to the Product Service.

Units of work are context managers. Inside the block the use case reads and writes through the
repositories, `events` and `inbox`; `commit()` makes all of it durable at once, and leaving the block
without committing throws all of it away.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from ordering_core.availability import Availability
from ordering_core.events import Event
from ordering_core.holds import Holdings
from ordering_core.messages import CustomerMessage
from ordering_core.orders import Order
from ordering_core.products import Product
from ordering_core.stock import LedgerEntry
from ordering_core.values import Line


class ProductCatalog(Protocol):
    async def check(self, lines: Sequence[Line]) -> Availability:
        """Whether each line can be served now, and at what unit price (Product Service)."""


class EventPublisher(Protocol):
    def publish(self, events: Sequence[Event]) -> None:
        """Publish all of `events` or none, as part of the caller's unit of work (an outbox)."""


class Notifier(Protocol):
    def notify(self, message: CustomerMessage) -> None:
        """Tell the customer about their order."""


class Inbox(Protocol):
    """The ids of the messages a consumer has applied: a duplicate or replay finds its id and does nothing."""

    def seen(self, message_id: str) -> bool:
        """Whether the message was applied before."""

    def record(self, message_id: str) -> None:
        """Remember the message as applied (in the same unit of work as its effect)."""


class OrderRepository(Protocol):
    def get(self, order_id: str) -> Order | None:
        """The order, or None if there is none with this id."""

    def add(self, order: Order) -> None:
        """Store a new order."""

    def save(self, order: Order) -> None:
        """Store a changed order that `get` returned."""

    def unpaid_placed_before(self, cutoff: datetime) -> Sequence[Order]:
        """Unpaid orders placed strictly before `cutoff`, oldest first."""

    def holdings_of(self, customer_id: str) -> Holdings:
        """What the customer's unpaid orders hold: how many, how many units, when the oldest was placed."""


class ProductRepository(Protocol):
    def get_many(self, product_ids: Iterable[str]) -> Mapping[str, Product]:
        """The products with these ids, by id; unknown ids are absent."""

    def add(self, product: Product) -> None:
        """Store a new product."""

    def save(self, product: Product) -> None:
        """Store a changed product that `get_many` returned."""


class StockLedger(Protocol):
    def entry_for(self, order_id: str) -> LedgerEntry | None:
        """What the ledger did for this order so far, or None."""

    def save(self, entry: LedgerEntry) -> None:
        """Store the order's new entry (replacing the old one)."""


class UnitOfWork(Protocol):
    """Begin with `with`, end with `commit()`; leaving the block without it rolls everything back.

    Outside a block its repositories read the committed state; one read is one consistent snapshot.
    """

    def __enter__(self) -> Self:
        """Begin."""

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        """End: roll back whatever was not committed."""

    def commit(self) -> None:
        """Make everything done in the block durable, at once."""


class OrderUnitOfWork(UnitOfWork, Protocol):
    @property
    def orders(self) -> OrderRepository:
        """The orders."""

    @property
    def events(self) -> EventPublisher:
        """The outbox for events about orders."""

    @property
    def inbox(self) -> Inbox:
        """The messages the Order Service consumed (stock-reservation-rejected)."""


class ProductUnitOfWork(UnitOfWork, Protocol):
    @property
    def products(self) -> ProductRepository:
        """The products and their stock levels."""

    @property
    def ledger(self) -> StockLedger:
        """The stock ledger entries, by order id."""

    @property
    def events(self) -> EventPublisher:
        """The outbox for events about stock."""

    @property
    def inbox(self) -> Inbox:
        """The messages the Product Service consumed (update-stock, restore-canceled-item)."""


class MessageUnitOfWork(UnitOfWork, Protocol):
    @property
    def notifier(self) -> Notifier:
        """Where customer messages go; in the unit of work, so a message is kept only with its inbox record."""

    @property
    def inbox(self) -> Inbox:
        """The messages the Message Service consumed (order-status)."""


# -- reads ----------------------------------------------------------------------------------------------
# What the HTTP endpoints show. Reads change nothing, so they need no unit of work: each call sees the last
# committed state.


class OrderViews(Protocol):
    def order(self, order_id: str) -> Order | None:
        """The order as last committed, or None."""

    def orders(
        self, *, customer_id: str | None, after: str | None, limit: int, newest_first: bool = False
    ) -> Sequence[Order]:
        """Up to `limit` of the customer's orders (everyone's for None), oldest first (by placed_at, then id)
        or newest first, starting after the order `after` in that sequence (none if `after` is not one of
        them)."""


class ProductViews(Protocol):
    def products(self) -> Sequence[Product]:
        """Every product, by id."""

    def product(self, product_id: str) -> Product | None:
        """The product, or None."""


class MessageViews(Protocol):
    def messages_for(self, order_id: str, *, customer_id: str | None) -> Sequence[CustomerMessage]:
        """The messages recorded for the order's customer, oldest first; only if they are `customer_id`'s
        (None: whoever's)."""
