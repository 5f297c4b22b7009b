"""The ports: what the use cases need from the outside world, as small `typing.Protocol`s.

Adapters (`src/adapters/`) implement them without inheriting; the contract suite proves they conform.
Only `ProductCatalog` and `Offload` are async: the first is an HTTP call to the Product Service in production,
the second is how an async caller waits for a unit of work without being the one that waits.

Units of work are context managers. Inside the block the use case reads and writes through the
repositories, `events` and `inbox`; `commit()` makes all of it durable at once, and leaving the block
without committing throws all of it away.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self, TypeVar

from attrs import frozen

from ordering_core.availability import Availability
from ordering_core.events import Event
from ordering_core.holds import Holdings
from ordering_core.messages import CustomerMessage
from ordering_core.orders import Order
from ordering_core.products import Product
from ordering_core.stock import LedgerEntry
from ordering_core.values import Line

R = TypeVar("R")


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


class Offload(Protocol):
    """Runs a unit of work's block for an async caller (an HTTP handler on an event loop) and awaits it.

    Opening a unit of work may wait: SQLite lets one writer in at a time, and a consumer's, the relay's or
    the expiry sweep's transaction on another thread holds the others back for as long as it runs. Waiting on
    the event loop would freeze every request of the service meanwhile, so the block is handed over: the
    SQLite adapters run it at once when no other thread is writing, else on their database's writer thread
    (`adapters.sqlite.writer`). Nothing in memory waits, so in-memory wiring runs the block at once
    (`run_here`).
    """

    async def __call__(self, block: Callable[[], R], /) -> R:
        """`block()`'s result, or its exception."""


async def run_here(block: Callable[[], R], /) -> R:
    """The `Offload` of adapters that never wait (in memory): the block, run by the caller."""
    return block()


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

    @property
    def replies(self) -> Replies:
        """The answers bound to Idempotency-Keys, in the same transaction as the order they answer."""


class Replies(Protocol):
    def bind(self, customer_id: str, key: str, reply: Reply) -> None:
        """Bind the customer's key (claimed through the `IdempotencyStore`) to the reply of the order this unit
        of work places: committed with the order, or not at all."""


@frozen
class KeyedPlacement:
    """An order placed with an Idempotency-Key: `place_order` binds `reply(order)` to the key in the unit of
    work that stores the order, so no crash can leave the order placed and its key free for a second one."""

    key: str
    reply: Callable[[Order], bytes]


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


@frozen
class Reply:
    """The answer to the request that placed an order: kept to be given again, byte for byte."""

    order_id: str
    body: bytes


@frozen
class Remembered:
    """What an Idempotency-Key already holds: the fingerprint of its request's body, and its reply once there
    is one."""

    fingerprint: str
    reply: Reply | None  # None while the first request with the key is still running


class IdempotencyStore(Protocol):
    """A customer's Idempotency-Keys (`adapters.http.idempotency` says how a request uses them): every method
    takes the customer's id first, and another customer's key of the same name is another key.

    Each method is a unit of work of its own (a write that may wait, like any other: an async caller hands it
    to its `Offload`).
    """

    def claim(self, customer_id: str, key: str, fingerprint: str, now: datetime) -> Remembered | None:
        """Atomically hold the customer's free key for the caller and return None, or return what it holds.

        A key is free if it was never claimed, was released, or has been held without a reply for longer
        than the store's lease (its request died). The caller must then `fulfil` or `release` it.
        """

    def fulfil(self, customer_id: str, key: str, reply: Reply) -> None:
        """Bind the customer's key the caller holds to its reply (later claims return it, until the store's
        time to live for keys has passed: then the key is free again)."""

    def release(self, customer_id: str, key: str) -> None:
        """Free the customer's key the caller holds; a key with a reply is never released."""
