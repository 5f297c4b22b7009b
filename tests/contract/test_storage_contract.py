"""The storage contract: units of work, repositories, outboxes and views behave alike in memory, in SQLite and
in PostgreSQL (the `postgres` cases, marked: they need the machine's PostgreSQL).

Each test runs once per backend. `storage` hands out units of work and views over one store: the in-memory
unit of work is its own store, so memory hands out the same one each time; SQLite makes a new unit of work over
the service's file each time, so whatever a test finds there was really written to the file; PostgreSQL does
the same over a schema of its own for each test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest

from adapters.memory.messages import InMemoryMessageUnitOfWork
from adapters.memory.orders import InMemoryOrderUnitOfWork
from adapters.memory.outbox import InMemoryOutbox
from adapters.memory.products import InMemoryProductUnitOfWork
from adapters.memory.views import InMemoryMessageViews, InMemoryOrderViews, InMemoryProductViews
from adapters.messaging.relay import Outbox
from adapters.postgres.database import PostgresDatabase
from adapters.postgres.message_views import PostgresMessageViews
from adapters.postgres.messages import MESSAGE_SCHEMA as POSTGRES_MESSAGE_SCHEMA
from adapters.postgres.messages import PostgresMessageUnitOfWork
from adapters.postgres.order_views import PostgresOrderViews
from adapters.postgres.orders import ORDER_SCHEMA as POSTGRES_ORDER_SCHEMA
from adapters.postgres.orders import PostgresOrderUnitOfWork
from adapters.postgres.outbox import PostgresOutbox
from adapters.postgres.products import PRODUCT_SCHEMA as POSTGRES_PRODUCT_SCHEMA
from adapters.postgres.products import PostgresProductUnitOfWork
from adapters.postgres.views import PostgresProductViews
from adapters.schema import Schema
from adapters.sqlite.database import Database
from adapters.sqlite.messages import MESSAGE_SCHEMA, SqliteMessageUnitOfWork
from adapters.sqlite.orders import ORDER_SCHEMA, SqliteOrderUnitOfWork
from adapters.sqlite.outbox import SqliteOutbox
from adapters.sqlite.products import PRODUCT_SCHEMA, SqliteProductUnitOfWork
from adapters.sqlite.views import SqliteMessageViews, SqliteOrderViews, SqliteProductViews
from adapters.wire.codec import decode, encode
from ordering_core import (
    CancelReason,
    CustomerMessage,
    EntryState,
    Envelope,
    Event,
    Holdings,
    LedgerEntry,
    Line,
    MessageUnitOfWork,
    MessageViews,
    Order,
    OrderCreated,
    OrderLine,
    OrderPaid,
    OrderStatus,
    OrderStatusChanged,
    OrderUnitOfWork,
    OrderViews,
    Product,
    ProductUnitOfWork,
    ProductViews,
    Shortage,
    StockReservationRejected,
    StockReservationRequested,
    UnavailableLine,
)
from ordering_core.holds import NOTHING_HELD

T = TypeVar("T")
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
INDIA = timezone(timedelta(hours=5, minutes=30))
CUSTOMER = "customer-a"
OTHER_CUSTOMER = "customer-b"


# -- the backends ---------------------------------------------------------------------------------------


class Storage(Protocol):
    """One backend's stores. `published(uow)`: every event published through the service of `uow` (one of
    this backend's order or product units of work), decoded from the outbox rows where there are rows."""

    def order_uow(self) -> OrderUnitOfWork: ...
    def product_uow(self) -> ProductUnitOfWork: ...
    def message_uow(self) -> MessageUnitOfWork: ...
    def published(self, uow: Any) -> list[Event]: ...
    def order_outbox(self) -> Outbox: ...
    def order_views(self) -> OrderViews: ...
    def product_views(self) -> ProductViews: ...
    def message_views(self) -> MessageViews: ...
    def close(self) -> None: ...


class MemoryStorage:
    def __init__(self) -> None:
        self._orders = InMemoryOrderUnitOfWork()
        self._products = InMemoryProductUnitOfWork()
        self._messages = InMemoryMessageUnitOfWork()

    def order_uow(self) -> InMemoryOrderUnitOfWork:
        return self._orders

    def product_uow(self) -> InMemoryProductUnitOfWork:
        return self._products

    def message_uow(self) -> InMemoryMessageUnitOfWork:
        return self._messages

    def published(self, uow: InMemoryOrderUnitOfWork | InMemoryProductUnitOfWork) -> list[Event]:
        return list(uow.events.published)

    def order_outbox(self) -> InMemoryOutbox:
        return InMemoryOutbox(self._orders.events)

    def order_views(self) -> InMemoryOrderViews:
        return InMemoryOrderViews(self._orders)

    def product_views(self) -> InMemoryProductViews:
        return InMemoryProductViews(self._products)

    def message_views(self) -> InMemoryMessageViews:
        return InMemoryMessageViews(self._messages)

    def close(self) -> None:
        """Nothing to close."""


class SqliteStorage:
    def __init__(self, folder: Path) -> None:
        self.orders = Database(folder / "order.db", ORDER_SCHEMA)
        self.products = Database(folder / "product.db", PRODUCT_SCHEMA)
        self.messages = Database(folder / "message.db", MESSAGE_SCHEMA)

    def order_uow(self) -> SqliteOrderUnitOfWork:
        return SqliteOrderUnitOfWork(self.orders)

    def product_uow(self) -> SqliteProductUnitOfWork:
        return SqliteProductUnitOfWork(self.products)

    def message_uow(self) -> SqliteMessageUnitOfWork:
        return SqliteMessageUnitOfWork(self.messages)

    def published(self, uow: SqliteOrderUnitOfWork | SqliteProductUnitOfWork) -> list[Event]:
        """Every outbox row, sent or not, decoded as a consumer would."""
        rows = uow.database.connection().execute("SELECT topic, value FROM outbox ORDER BY id")
        return [decode(topic, value) for topic, value in rows]

    def order_outbox(self) -> SqliteOutbox:
        return SqliteOutbox(self.orders)

    def order_views(self) -> SqliteOrderViews:
        return SqliteOrderViews(self.orders)

    def product_views(self) -> SqliteProductViews:
        return SqliteProductViews(self.products)

    def message_views(self) -> SqliteMessageViews:
        return SqliteMessageViews(self.messages)

    def close(self) -> None:
        for database in (self.orders, self.products, self.messages):
            database.close_all()


class PostgresStorage:
    """The services' databases as schemas of one PostgreSQL database, one set per test, each opened (pool,
    migrations) when the test first uses it: a test of one service's storage does not pay for the other two."""

    def __init__(self, url: str, namespace: str) -> None:
        self._url = url
        self._namespace = namespace
        self._opened: list[PostgresDatabase] = []

    @cached_property
    def products(self) -> PostgresDatabase:
        return self._open(POSTGRES_PRODUCT_SCHEMA, self._namespace)

    @cached_property
    def messages(self) -> PostgresDatabase:
        # A schema of its own: each service's schema keeps its own version (`schema_migrations`).
        return self._open(POSTGRES_MESSAGE_SCHEMA, f"{self._namespace}_message")

    @cached_property
    def orders(self) -> PostgresDatabase:
        return self._open(POSTGRES_ORDER_SCHEMA, f"{self._namespace}_order")

    def _open(self, schema: Schema, namespace: str) -> PostgresDatabase:
        database = PostgresDatabase(self._url, schema, namespace=namespace)
        self._opened.append(database)
        return database

    def order_uow(self) -> PostgresOrderUnitOfWork:
        return PostgresOrderUnitOfWork(self.orders)

    def order_outbox(self) -> PostgresOutbox:
        return PostgresOutbox(self.orders)

    def order_views(self) -> PostgresOrderViews:
        return PostgresOrderViews(self.orders)

    def product_uow(self) -> PostgresProductUnitOfWork:
        return PostgresProductUnitOfWork(self.products)

    def published(self, uow: PostgresOrderUnitOfWork | PostgresProductUnitOfWork) -> list[Event]:
        """Every outbox row, sent or not, decoded as a consumer would."""
        with uow.database.connection() as connection:
            rows = connection.execute("SELECT topic, value FROM outbox ORDER BY id").fetchall()
        return [decode(topic, value) for topic, value in rows]

    def product_views(self) -> PostgresProductViews:
        return PostgresProductViews(self.products)

    def message_uow(self) -> PostgresMessageUnitOfWork:
        return PostgresMessageUnitOfWork(self.messages)

    def message_views(self) -> PostgresMessageViews:
        return PostgresMessageViews(self.messages)

    def close(self) -> None:
        for database in self._opened:
            database.close_all()


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    backend: Storage
    if request.param == "memory":
        backend = MemoryStorage()
    elif request.param == "sqlite":
        backend = SqliteStorage(tmp_path)
    else:
        backend = PostgresStorage(
            request.getfixturevalue("postgres_url"), request.getfixturevalue("postgres_namespace")
        )
    yield backend
    backend.close()


# -- examples: values whose every detail must survive the trip (trailing zeros, offsets, None) ----------------


def an_order(
    order_id: str = "o-1",
    *,
    placed_at: datetime = NOW,
    status: OrderStatus = OrderStatus.UNPAID,
    reason: CancelReason | None = None,
    payment_id: str | None = None,
    customer_id: str = CUSTOMER,
    lines: tuple[OrderLine, ...] = (
        OrderLine("p-1", 2, Decimal("2.50")),
        OrderLine("p-2", 1, Decimal("0.10")),
    ),
) -> Order:
    return Order(order_id, lines, status, placed_at, reason, payment_id, customer_id=customer_id)


def envelope(order_id: str, message_id: str) -> Envelope:
    return Envelope(message_id, NOW, order_id, "corr-1", None)


def order_events(order: Order) -> list[Event]:
    """What placing `order` publishes."""
    customer_id = order.customer_id
    return [
        OrderCreated(
            envelope(order.order_id, f"{order.order_id}-created"),
            order.lines,
            order.total,
            customer_id=customer_id,
        ),
        StockReservationRequested(
            envelope(order.order_id, f"{order.order_id}-reserve"),
            tuple(Line(line.product_id, line.quantity) for line in order.lines),
        ),
        OrderStatusChanged(
            envelope(order.order_id, f"{order.order_id}-unpaid"), OrderStatus.UNPAID, customer_id=customer_id
        ),
    ]


def a_message(
    order_id: str,
    message_id: str,
    status: OrderStatus,
    reason: CancelReason | None = None,
    *,
    customer_id: str = CUSTOMER,
) -> CustomerMessage:
    event = OrderStatusChanged(
        Envelope(message_id, datetime(2026, 3, 1, 17, 30, 0, 250, tzinfo=INDIA), order_id, "corr-1"),
        status,
        reason,
        customer_id=customer_id,
    )
    return CustomerMessage.from_status_change(event)


def pen(product_id: str = "p-1", *, price: str = "2.50", stock: int = 10) -> Product:
    return Product(product_id, f"Pen {product_id}", Decimal(price), stock)


def add_products(storage: Storage, *products: Product) -> None:
    uow = storage.product_uow()
    with uow:
        for product in products:
            uow.products.add(product)
        uow.commit()


def add_orders(storage: Storage, *orders: Order) -> None:
    uow = storage.order_uow()
    with uow:
        for order in orders:
            uow.orders.add(order)
        uow.commit()


# -- units of work ----------------------------------------------------------------------------------------


class TestOrderUnitOfWork:
    def test_committed_order_events_and_inbox_record_are_there_for_the_next_unit_of_work(self, storage):
        order = an_order("o-1")
        writer = storage.order_uow()

        with writer:
            writer.orders.add(order)
            writer.events.publish(order_events(order))
            writer.inbox.record("m-1")
            writer.commit()

        reader = storage.order_uow()
        with reader:
            assert reader.orders.get("o-1") == order
            assert reader.inbox.seen("m-1")
        assert storage.published(reader) == order_events(order)

    def test_leaving_the_block_without_commit_keeps_nothing(self, storage):
        order = an_order("o-1")
        uow = storage.order_uow()

        with uow:
            uow.orders.add(order)
            uow.events.publish(order_events(order))
            uow.inbox.record("m-1")

        after = storage.order_uow()
        with after:
            assert after.orders.get("o-1") is None
            assert not after.inbox.seen("m-1")
        assert storage.published(after) == []

    def test_an_error_in_the_block_keeps_nothing_and_propagates(self, storage):
        order = an_order("o-1")
        uow = storage.order_uow()

        with pytest.raises(RuntimeError, match="boom"), uow:
            uow.orders.add(order)
            uow.events.publish(order_events(order))
            uow.inbox.record("m-1")
            raise RuntimeError("boom")

        after = storage.order_uow()
        with after:
            assert after.orders.get("o-1") is None
            assert not after.inbox.seen("m-1")
        assert storage.published(after) == []

    def test_work_after_a_commit_is_kept_only_if_committed_again(self, storage):
        uow = storage.order_uow()

        with uow:
            uow.orders.add(an_order("o-1"))
            uow.commit()
            uow.orders.add(an_order("o-2"))

        listed = storage.order_views().orders(customer_id=None, after=None, limit=10)
        assert [o.order_id for o in listed] == ["o-1"]

    def test_a_second_commit_keeps_the_work_done_since_the_first(self, storage):
        uow = storage.order_uow()

        with uow:
            uow.orders.add(an_order("o-1"))
            uow.commit()
            uow.orders.add(an_order("o-2"))
            uow.commit()

        listed = storage.order_views().orders(customer_id=None, after=None, limit=10)
        assert [o.order_id for o in listed] == ["o-1", "o-2"]

    def test_refuses_to_nest(self, storage):
        uow = storage.order_uow()

        with uow, pytest.raises(RuntimeError, match="already open"):
            uow.__enter__()

    def test_refuses_a_commit_outside_the_block(self, storage):
        with pytest.raises(RuntimeError, match="outside"):
            storage.order_uow().commit()


class TestProductUnitOfWork:
    def test_committed_products_ledger_events_and_inbox_are_there_for_the_next_unit_of_work(self, storage):
        entry = LedgerEntry("o-1", EntryState.RESERVED, (Line("p-1", 2),))
        rejection = StockReservationRejected(
            envelope("o-2", "m-rejected"), (UnavailableLine("p-1", 9, Shortage.INSUFFICIENT_STOCK, 8),)
        )
        writer = storage.product_uow()

        with writer:
            writer.products.add(pen("p-1", stock=8))
            writer.ledger.save(entry)
            writer.events.publish([rejection])
            writer.inbox.record("m-1")
            writer.commit()

        reader = storage.product_uow()
        with reader:
            assert reader.products.get_many(["p-1"]) == {"p-1": pen("p-1", stock=8)}
            assert reader.ledger.entry_for("o-1") == entry
            assert reader.inbox.seen("m-1")
        assert storage.published(reader) == [rejection]

    def test_leaving_the_block_without_commit_keeps_nothing(self, storage):
        add_products(storage, pen("p-1", stock=8))
        uow = storage.product_uow()

        with uow:
            uow.products.save(pen("p-1", stock=6))
            uow.ledger.save(LedgerEntry("o-1", EntryState.RESERVED, (Line("p-1", 2),)))
            uow.events.publish(order_events(an_order("o-1"))[:1])
            uow.inbox.record("m-1")

        after = storage.product_uow()
        with after:
            assert after.products.get_many(["p-1"])["p-1"].stock == 8
            assert after.ledger.entry_for("o-1") is None
            assert not after.inbox.seen("m-1")
        assert storage.published(after) == []

    def test_outside_a_block_its_repositories_read_the_committed_state(self, storage):
        add_products(storage, pen("p-1", stock=8), pen("p-2", stock=3))
        uow = storage.product_uow()
        with uow:
            uow.products.save(pen("p-1", stock=6))
            uow.commit()
        with uow:
            uow.products.save(pen("p-2", stock=1))  # never committed

        assert uow.products.get_many(["p-1", "p-2"]) == {
            "p-1": pen("p-1", stock=6),
            "p-2": pen("p-2", stock=3),
        }

    def test_an_error_in_the_block_keeps_nothing_and_propagates(self, storage):
        add_products(storage, pen("p-1", stock=8))
        uow = storage.product_uow()

        with pytest.raises(RuntimeError, match="boom"), uow:
            uow.products.save(pen("p-1", stock=6))
            uow.ledger.save(LedgerEntry("o-1", EntryState.RESERVED, (Line("p-1", 2),)))
            uow.inbox.record("m-1")
            raise RuntimeError("boom")

        after = storage.product_uow()
        with after:
            assert after.products.get_many(["p-1"])["p-1"].stock == 8
            assert after.ledger.entry_for("o-1") is None
            assert not after.inbox.seen("m-1")


class TestMessageUnitOfWork:
    def test_committed_messages_and_inbox_record_are_there_for_the_next_unit_of_work(self, storage):
        message = a_message("o-1", "m-1", OrderStatus.UNPAID)
        writer = storage.message_uow()

        with writer:
            writer.notifier.notify(message)
            writer.inbox.record("m-1")
            writer.commit()

        reader = storage.message_uow()
        with reader:
            assert reader.inbox.seen("m-1")
        assert storage.message_views().messages_for("o-1", customer_id=CUSTOMER) == [message]

    def test_leaving_the_block_without_commit_keeps_nothing(self, storage):
        uow = storage.message_uow()

        with uow:
            uow.notifier.notify(a_message("o-1", "m-1", OrderStatus.UNPAID))
            uow.inbox.record("m-1")

        after = storage.message_uow()
        with after:
            assert not after.inbox.seen("m-1")
        assert storage.message_views().messages_for("o-1", customer_id=None) == []

    def test_an_error_in_the_block_keeps_nothing_and_propagates(self, storage):
        uow = storage.message_uow()

        with pytest.raises(RuntimeError, match="boom"), uow:
            uow.notifier.notify(a_message("o-1", "m-1", OrderStatus.UNPAID))
            uow.inbox.record("m-1")
            raise RuntimeError("boom")

        after = storage.message_uow()
        with after:
            assert not after.inbox.seen("m-1")
        assert storage.message_views().messages_for("o-1", customer_id=None) == []


class TestBatch:
    """A consumer applies a poll's records in one batch (adapters.messaging.worker): the units of work opened in
    it are kept together when it ends, each refused unit takes back only its own writes, and a batch that
    fails keeps nothing, not even what its units committed."""

    @staticmethod
    def tell(uow: MessageUnitOfWork, order_id: str, *, commit: bool = True) -> None:
        with uow:
            uow.notifier.notify(a_message(order_id, f"{order_id}-m", OrderStatus.UNPAID))
            uow.inbox.record(f"{order_id}-m")
            if commit:
                uow.commit()

    @staticmethod
    def told(storage: Storage) -> list[str]:
        uow = storage.message_uow()
        with uow:
            return [order_id for order_id in ("o-1", "o-2", "o-3") if uow.inbox.seen(f"{order_id}-m")]

    def test_the_units_committed_in_a_batch_are_kept_when_it_ends(self, storage):
        uow = storage.message_uow()

        with uow.batch():
            self.tell(uow, "o-1")
            self.tell(uow, "o-2")

        assert self.told(storage) == ["o-1", "o-2"]
        assert [m.order_id for m in storage.message_views().messages_for("o-2", customer_id=CUSTOMER)] == ["o-2"]

    def test_a_unit_left_without_commit_takes_back_only_its_own_writes(self, storage):
        uow = storage.message_uow()

        with uow.batch():
            self.tell(uow, "o-1")
            self.tell(uow, "o-2", commit=False)
            self.tell(uow, "o-3")

        assert self.told(storage) == ["o-1", "o-3"]
        assert storage.message_views().messages_for("o-2", customer_id=None) == []

    def test_a_unit_refused_by_an_error_takes_back_only_its_own_writes(self, storage):
        uow = storage.message_uow()

        with uow.batch():
            self.tell(uow, "o-1")
            with pytest.raises(RuntimeError, match="refused"), uow:
                uow.notifier.notify(a_message("o-2", "o-2-m", OrderStatus.UNPAID))
                uow.inbox.record("o-2-m")
                raise RuntimeError("refused")
            self.tell(uow, "o-3")

        assert self.told(storage) == ["o-1", "o-3"]

    def test_a_batch_left_by_an_error_keeps_nothing_its_units_committed(self, storage):
        uow = storage.message_uow()
        self.tell(uow, "o-1")

        with pytest.raises(RuntimeError, match="boom"), uow.batch():
            self.tell(uow, "o-2")
            self.tell(uow, "o-3")
            raise RuntimeError("boom")

        assert self.told(storage) == ["o-1"]
        assert storage.message_views().messages_for("o-3", customer_id=None) == []

    def test_work_after_a_commit_in_a_batch_is_kept_only_if_committed_again(self, storage):
        uow = storage.message_uow()

        with uow.batch():
            with uow:
                uow.inbox.record("o-1-m")
                uow.commit()
                uow.inbox.record("o-2-m")
            with uow:
                uow.inbox.record("o-3-m")
                uow.commit()

        assert self.told(storage) == ["o-1", "o-3"]

    def test_a_unit_of_work_opened_inside_another_s_block_in_a_batch_is_refused(self, storage):
        outer, inner = storage.message_uow(), storage.message_uow()  # two over one store, or one (memory)

        with outer.batch(), outer:
            with pytest.raises(RuntimeError, match="nest"):
                inner.__enter__()
            outer.inbox.record("o-1-m")
            outer.commit()
        self.tell(outer, "o-2")  # and the next one opens, the batch over

        assert self.told(storage) == ["o-1", "o-2"]

    def test_product_units_in_a_batch_change_the_stock_together(self, storage):
        add_products(storage, pen("p-1", stock=10))
        uow = storage.product_uow()

        with uow.batch():
            for taken in (2, 3):
                with uow:
                    product = uow.products.get_many(["p-1"])["p-1"]
                    uow.products.save(Product(product.product_id, product.name, product.price, product.stock - taken))
                    uow.commit()

        assert storage.product_uow().products.get_many(["p-1"])["p-1"].stock == 5


class TestNotifier:
    """One message per order and status: what keeps a replay from telling the customer twice once the inbox
    has forgotten the record's id (adapters/sqlite/retention.py)."""

    def test_the_same_message_twice_is_kept_once(self, storage):
        uow = storage.message_uow()
        message = a_message("o-1", "m-1", OrderStatus.UNPAID)

        with uow:
            uow.notifier.notify(message)
            uow.notifier.notify(message)
            uow.commit()

        assert storage.message_views().messages_for("o-1", customer_id=None) == [message]

    def test_a_second_message_of_a_status_the_order_has_is_not_kept_and_the_first_stays(self, storage):
        uow = storage.message_uow()
        first = a_message("o-1", "m-1", OrderStatus.CANCELLED, CancelReason.CUSTOMER)
        paid = a_message("o-1", "m-2", OrderStatus.PAID)

        with uow:
            uow.notifier.notify(first)
            uow.notifier.notify(paid)
            uow.commit()
        with uow:
            uow.notifier.notify(a_message("o-1", "m-3", OrderStatus.CANCELLED, CancelReason.OUT_OF_STOCK))
            uow.commit()

        assert storage.message_views().messages_for("o-1", customer_id=None) == [first, paid]


# -- repositories ---------------------------------------------------------------------------------------------


class TestOrderRepository:
    @pytest.mark.parametrize(
        "order",
        [
            an_order("o-unpaid", placed_at=datetime(2026, 3, 1, 17, 30, 5, 123456, tzinfo=INDIA)),
            an_order("o-paid", status=OrderStatus.PAID, payment_id="pay-1"),
            an_order("o-customer", status=OrderStatus.CANCELLED, reason=CancelReason.CUSTOMER),
            an_order(
                "o-refund", status=OrderStatus.CANCELLED, reason=CancelReason.OUT_OF_STOCK, payment_id="pay-2"
            ),
            an_order("o-auth0", customer_id="auth0|5f7c8ec7'\"%_;--"),
        ],
        ids=lambda order: order.order_id,
    )
    def test_an_order_comes_back_exactly_as_stored(self, storage, order):
        add_orders(storage, order)

        uow = storage.order_uow()
        with uow:
            found = uow.orders.get(order.order_id)

        assert found == order
        # Equality alone would let "2.5" pass for "2.50" and 12:00Z for 17:30+05:30.
        assert [str(line.unit_price) for line in found.lines] == ["2.50", "0.10"]
        assert found.placed_at.utcoffset() == order.placed_at.utcoffset()
        assert (type(found.status), type(found.cancel_reason)) == (OrderStatus, type(order.cancel_reason))

    def test_an_unknown_order_is_none(self, storage):
        uow = storage.order_uow()

        with uow:
            found = uow.orders.get("o-404")

        assert found is None

    def test_an_order_is_added_once(self, storage):
        add_orders(storage, an_order("o-1"))
        uow = storage.order_uow()

        with uow, pytest.raises(ValueError, match="already exists"):
            uow.orders.add(an_order("o-1"))

    def test_only_an_added_order_can_be_saved(self, storage):
        uow = storage.order_uow()

        with uow, pytest.raises(ValueError, match="never added"):
            uow.orders.save(an_order("o-1"))

    def test_saving_replaces_the_stored_order(self, storage):
        add_orders(storage, an_order("o-1"))
        paid = an_order("o-1", status=OrderStatus.PAID, payment_id="pay-1")
        uow = storage.order_uow()

        with uow:
            uow.orders.save(paid)
            uow.commit()

        assert storage.order_views().order("o-1") == paid


class TestUnpaidPlacedBefore:
    def test_lists_unpaid_orders_placed_strictly_before_the_cutoff_oldest_first(self, storage):
        add_orders(
            storage,
            an_order("o-later", placed_at=NOW + timedelta(minutes=1)),
            an_order("o-at-cutoff", placed_at=NOW),
            an_order("o-second", placed_at=NOW - timedelta(microseconds=1)),
            an_order("o-first", placed_at=NOW - timedelta(hours=1)),
            an_order(
                "o-paid", placed_at=NOW - timedelta(hours=2), status=OrderStatus.PAID, payment_id="pay-1"
            ),
            an_order(
                "o-cancelled",
                placed_at=NOW - timedelta(hours=2),
                status=OrderStatus.CANCELLED,
                reason=CancelReason.CUSTOMER,
            ),
        )
        uow = storage.order_uow()

        with uow:
            due = uow.orders.unpaid_placed_before(NOW)

        assert [order.order_id for order in due] == ["o-first", "o-second"]

    def test_compares_instants_whatever_their_offsets(self, storage):
        # 17:15 in India is 11:45 UTC: before the cutoff, and before 11:50 UTC, though its text sorts after.
        add_orders(
            storage,
            an_order("o-utc", placed_at=datetime(2026, 3, 1, 11, 50, tzinfo=UTC)),
            an_order("o-india", placed_at=datetime(2026, 3, 1, 17, 15, tzinfo=INDIA)),
            an_order("o-india-late", placed_at=datetime(2026, 3, 1, 17, 45, tzinfo=INDIA)),
        )
        uow = storage.order_uow()

        with uow:
            due = uow.orders.unpaid_placed_before(NOW)

        assert [order.order_id for order in due] == ["o-india", "o-utc"]

    def test_orders_placed_at_the_same_instant_come_by_order_id(self, storage):
        add_orders(storage, an_order("o-b"), an_order("o-a"), an_order("o-c"))
        uow = storage.order_uow()

        with uow:
            due = uow.orders.unpaid_placed_before(NOW + timedelta(seconds=1))

        assert [order.order_id for order in due] == ["o-a", "o-b", "o-c"]


def holdings_of(storage: Storage, customer_id: str) -> Holdings:
    uow = storage.order_uow()
    with uow:
        return uow.orders.holdings_of(customer_id)


def units(*quantities: int) -> tuple[OrderLine, ...]:
    """Lines of these quantities, one product each."""
    return tuple(OrderLine(f"p-{n}", quantity, Decimal("1.00")) for n, quantity in enumerate(quantities, 1))


class TestHoldingsOf:
    def test_a_customer_without_orders_holds_nothing(self, storage):
        add_orders(storage, an_order("o-1", customer_id=OTHER_CUSTOMER))

        held = holdings_of(storage, CUSTOMER)

        assert held == NOTHING_HELD

    def test_counts_the_customers_unpaid_orders_their_units_and_when_the_oldest_was_placed(self, storage):
        add_orders(
            storage,
            an_order("o-1", lines=units(2, 3), placed_at=NOW),
            an_order("o-2", lines=units(1), placed_at=NOW - timedelta(hours=2)),
            an_order("o-3", lines=units(4), placed_at=NOW + timedelta(hours=1)),
        )

        held = holdings_of(storage, CUSTOMER)

        assert held == Holdings(3, 10, NOW - timedelta(hours=2))

    def test_paid_and_cancelled_orders_and_other_customers_orders_hold_nothing_of_theirs(self, storage):
        add_orders(
            storage,
            an_order("o-mine", lines=units(2)),
            an_order("o-paid", lines=units(5), status=OrderStatus.PAID, payment_id="pay-1"),
            an_order(
                "o-cancelled", lines=units(5), status=OrderStatus.CANCELLED, reason=CancelReason.CUSTOMER
            ),
            an_order(
                "o-theirs", lines=units(7), placed_at=NOW - timedelta(days=1), customer_id=OTHER_CUSTOMER
            ),
        )

        held = holdings_of(storage, CUSTOMER)

        assert held == Holdings(1, 2, NOW)

    def test_the_oldest_is_the_earliest_instant_whatever_the_offsets(self, storage):
        # 17:15 in India is 11:45 UTC: the oldest, though its text sorts after 11:50.
        india = datetime(2026, 3, 1, 17, 15, tzinfo=INDIA)
        add_orders(
            storage,
            an_order("o-utc", placed_at=datetime(2026, 3, 1, 11, 50, tzinfo=UTC)),
            an_order("o-india", placed_at=india),
        )

        held = holdings_of(storage, CUSTOMER)

        # The same instant; its offset is not kept (SQLite gives it in UTC).
        assert held.oldest_placed_at == india

    def test_counts_an_order_added_earlier_in_the_same_unit_of_work(self, storage):
        # place_order checks the limit and adds the order in one unit of work: a second order in it must see
        # the first, or two orders together could pass the limit.
        uow = storage.order_uow()

        with uow:
            uow.orders.add(an_order("o-1", lines=units(3)))
            held = uow.orders.holdings_of(CUSTOMER)

        assert held == Holdings(1, 3, NOW)

    def test_an_order_paid_since_no_longer_counts(self, storage):
        add_orders(storage, an_order("o-1", lines=units(3)), an_order("o-2", lines=units(1)))
        uow = storage.order_uow()
        with uow:
            uow.orders.save(an_order("o-1", lines=units(3), status=OrderStatus.PAID, payment_id="pay-1"))
            uow.commit()

        held = holdings_of(storage, CUSTOMER)

        assert held == Holdings(1, 1, NOW)


class TestProductRepository:
    @pytest.mark.parametrize("price", ["2.50", "0.10", "0", "100000.00", "7"])
    def test_a_product_comes_back_exactly_as_stored(self, storage, price):
        add_products(storage, pen("p-1", price=price, stock=0))
        uow = storage.product_uow()

        with uow:
            found = uow.products.get_many(["p-1"])["p-1"]

        assert found == pen("p-1", price=price, stock=0)
        assert str(found.price) == price

    def test_get_many_gives_the_known_products_by_id_in_the_order_asked(self, storage):
        add_products(storage, pen("p-1"), pen("p-2"), pen("p-3"))
        uow = storage.product_uow()

        with uow:
            found = uow.products.get_many(pid for pid in ["p-2", "p-9", "p-3", "p-1", "p-2"])

        assert list(found.items()) == [("p-2", pen("p-2")), ("p-3", pen("p-3")), ("p-1", pen("p-1"))]

    def test_a_product_is_added_once(self, storage):
        add_products(storage, pen("p-1"))
        uow = storage.product_uow()

        with uow, pytest.raises(ValueError, match="already exists"):
            uow.products.add(pen("p-1"))

    def test_only_an_added_product_can_be_saved(self, storage):
        uow = storage.product_uow()

        with uow, pytest.raises(ValueError, match="never added"):
            uow.products.save(pen("p-1"))

    def test_saving_replaces_the_stored_product(self, storage):
        add_products(storage, pen("p-1", price="2.50", stock=3))
        changed = Product("p-1", "Fountain pen", Decimal("12.00"), 7)
        uow = storage.product_uow()

        with uow:
            uow.products.save(changed)
            uow.commit()

        assert storage.product_views().product("p-1") == changed


class TestStockLedger:
    @pytest.mark.parametrize(
        "entry",
        [
            LedgerEntry("o-1", EntryState.RESERVED, (Line("p-1", 2), Line("p-2", 10_000))),
            LedgerEntry("o-1", EntryState.REJECTED),
            LedgerEntry("o-1", EntryState.RELEASED),
            LedgerEntry("o-1", EntryState.RELEASED, (Line("p-1", 2),)),
        ],
        ids=["reserved", "rejected", "released-tombstone", "released-given-back"],
    )
    def test_an_entry_comes_back_exactly_as_saved(self, storage, entry):
        uow = storage.product_uow()
        with uow:
            uow.ledger.save(entry)
            uow.commit()

        with uow:
            found = uow.ledger.entry_for("o-1")

        assert found == entry

    def test_an_order_never_seen_has_no_entry(self, storage):
        uow = storage.product_uow()

        with uow:
            found = uow.ledger.entry_for("o-1")

        assert found is None

    def test_saving_replaces_the_order_entry(self, storage):
        reserved = LedgerEntry("o-1", EntryState.RESERVED, (Line("p-1", 2),))
        uow = storage.product_uow()
        with uow:
            uow.ledger.save(reserved)
            uow.commit()

        with uow:
            uow.ledger.save(LedgerEntry("o-1", EntryState.RELEASED, reserved.taken))
            uow.commit()

        with uow:
            assert uow.ledger.entry_for("o-1") == LedgerEntry("o-1", EntryState.RELEASED, reserved.taken)


class TestInbox:
    def test_a_message_is_unseen_until_recorded_and_seen_at_once_after(self, storage):
        uow = storage.order_uow()

        with uow:
            before = uow.inbox.seen("m-1")
            uow.inbox.record("m-1")
            within = uow.inbox.seen("m-1")
            other = uow.inbox.seen("m-2")

        assert (before, within, other) == (False, True, False)

    def test_recording_a_message_twice_is_harmless(self, storage):
        uow = storage.message_uow()

        with uow:
            uow.inbox.record("m-1")
            uow.inbox.record("m-1")
            uow.commit()

        with uow:
            assert uow.inbox.seen("m-1")


class TestEventPublisher:
    def test_events_are_published_in_order_across_units_of_work(self, storage):
        first, second = an_order("o-1"), an_order("o-2")
        paid = OrderPaid(envelope("o-1", "o-1-paid"), "pay-1", customer_id=CUSTOMER)
        uow = storage.order_uow()

        with uow:
            uow.events.publish(order_events(first))
            uow.commit()
        with uow:
            uow.events.publish(order_events(second))
            uow.events.publish([])
            uow.events.publish([paid])
            uow.commit()

        assert storage.published(uow) == [*order_events(first), *order_events(second), paid]


# -- the relay's side of the outbox -----------------------------------------------------------------------------


def publish_committed(storage: Storage, events: list[Event]) -> None:
    uow = storage.order_uow()
    with uow:
        uow.events.publish(events)
        uow.commit()


def on_the_relays_thread(call: Callable[[], T]) -> T:
    """`call` run on another thread, as the relay runs (a thread sees its own uncommitted writes)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result()


class TestOutbox:
    def test_pending_gives_committed_records_oldest_first_up_to_the_limit(self, storage):
        events = [*order_events(an_order("o-1")), *order_events(an_order("o-2"))]
        publish_committed(storage, events)

        rows = storage.order_outbox().pending(4)

        assert [(r.topic, r.key, r.value, tuple(r.headers)) for r in rows] == [
            (e.topic, e.key, e.value, e.headers) for e in map(encode, events[:4])
        ]

    def test_rows_marked_sent_leave_the_pending_rows_and_the_backlog(self, storage):
        events = [*order_events(an_order("o-1")), *order_events(an_order("o-2"))]
        publish_committed(storage, events)
        outbox = storage.order_outbox()
        waiting = outbox.backlog()

        outbox.mark_sent([row.id for row in outbox.pending(4)])

        assert (waiting, outbox.backlog()) == (6, 2)
        assert [decode(r.topic, r.value) for r in outbox.pending(10)] == events[4:]

    def test_events_not_yet_committed_are_not_pending_for_the_relay(self, storage):
        uow = storage.order_uow()
        outbox = storage.order_outbox()

        with uow:
            uow.events.publish(order_events(an_order("o-1")))
            seen_by_relay = on_the_relays_thread(lambda: (outbox.backlog(), outbox.pending(10)))

        assert seen_by_relay == (0, [])


# -- views --------------------------------------------------------------------------------------------------


def add_orders_placed_a_to_e(storage: Storage) -> None:
    """Orders o-a .. o-e, placed in that order, added out of it: o-b and o-c at the same instant (the id
    breaks the tie), o-d at a time given in another offset."""
    add_orders(
        storage,
        an_order("o-e", placed_at=NOW + timedelta(hours=1)),
        an_order("o-c", placed_at=NOW),
        an_order("o-b", placed_at=NOW),
        an_order("o-d", placed_at=datetime(2026, 3, 1, 17, 31, tzinfo=INDIA)),  # 12:01 UTC
        an_order("o-a", placed_at=NOW - timedelta(days=1)),
    )


class TestOrderViews:
    def test_shows_a_committed_order_and_none_for_an_unknown_one(self, storage):
        add_orders(storage, an_order("o-1"))

        views = storage.order_views()

        assert (views.order("o-1"), views.order("o-2")) == (an_order("o-1"), None)

    def test_pages_run_oldest_first_by_placed_at_then_order_id(self, storage):
        add_orders_placed_a_to_e(storage)
        views = storage.order_views()

        first = views.orders(customer_id=None, after=None, limit=2)
        second = views.orders(customer_id=None, after=first[-1].order_id, limit=2)
        third = views.orders(customer_id=None, after=second[-1].order_id, limit=2)
        fourth = views.orders(customer_id=None, after=third[-1].order_id, limit=2)

        pages = [[order.order_id for order in page] for page in (first, second, third, fourth)]
        assert pages == [["o-a", "o-b"], ["o-c", "o-d"], ["o-e"], []]

    def test_pages_run_newest_first_when_asked(self, storage):
        add_orders_placed_a_to_e(storage)
        views = storage.order_views()

        first = views.orders(customer_id=None, after=None, limit=2, newest_first=True)
        second = views.orders(customer_id=None, after=first[-1].order_id, limit=2, newest_first=True)
        third = views.orders(customer_id=None, after=second[-1].order_id, limit=2, newest_first=True)

        pages = [[order.order_id for order in page] for page in (first, second, third)]
        assert pages == [["o-e", "o-d"], ["o-c", "o-b"], ["o-a"]]

    def test_a_page_after_an_unknown_order_is_empty(self, storage):
        add_orders(storage, an_order("o-1"))

        page = storage.order_views().orders(customer_id=None, after="o-404", limit=10)

        assert list(page) == []


def add_another_customers_orders_among_them(storage: Storage) -> None:
    """After `add_orders_placed_a_to_e` (all CUSTOMER's): OTHER_CUSTOMER's x-1 .. x-3, placed before, among
    (at the instant of o-b and o-c) and after them."""
    add_orders(
        storage,
        an_order("x-2", placed_at=NOW, customer_id=OTHER_CUSTOMER),
        an_order("x-1", placed_at=NOW - timedelta(days=2), customer_id=OTHER_CUSTOMER),
        an_order("x-3", placed_at=NOW + timedelta(hours=2), customer_id=OTHER_CUSTOMER),
    )


def all_pages(views: OrderViews, customer_id: str | None, *, newest_first: bool = False) -> list[list[str]]:
    """The ids of every page of two, each asked for after the last order of the page before, up to the empty one."""
    pages: list[list[str]] = []
    after = None
    while not pages or pages[-1]:
        page = views.orders(customer_id=customer_id, after=after, limit=2, newest_first=newest_first)
        pages.append([order.order_id for order in page])
        after = page[-1].order_id if page else None
    return pages


class TestOrderViewsOfACustomer:
    def test_a_customers_pages_hold_their_orders_only_oldest_first(self, storage):
        add_orders_placed_a_to_e(storage)
        add_another_customers_orders_among_them(storage)

        pages = all_pages(storage.order_views(), CUSTOMER)

        assert pages == [["o-a", "o-b"], ["o-c", "o-d"], ["o-e"], []]

    def test_a_customers_pages_hold_their_orders_only_newest_first_when_asked(self, storage):
        add_orders_placed_a_to_e(storage)
        add_another_customers_orders_among_them(storage)

        pages = all_pages(storage.order_views(), OTHER_CUSTOMER, newest_first=True)

        assert pages == [["x-3", "x-2"], ["x-1"], []]

    def test_no_customer_pages_through_everyones_orders(self, storage):
        add_orders_placed_a_to_e(storage)
        add_another_customers_orders_among_them(storage)

        pages = all_pages(storage.order_views(), None)

        assert pages == [["x-1", "o-a"], ["o-b", "o-c"], ["x-2", "o-d"], ["o-e", "x-3"], []]

    @pytest.mark.parametrize("newest_first", [False, True], ids=["oldest-first", "newest-first"])
    def test_a_page_after_another_customers_order_is_empty(self, storage, newest_first):
        add_orders_placed_a_to_e(storage)
        add_another_customers_orders_among_them(storage)

        page = storage.order_views().orders(
            customer_id=CUSTOMER, after="x-2", limit=10, newest_first=newest_first
        )

        assert list(page) == []

    def test_a_customer_without_orders_has_an_empty_list(self, storage):
        add_orders_placed_a_to_e(storage)

        page = storage.order_views().orders(customer_id=OTHER_CUSTOMER, after=None, limit=10)

        assert list(page) == []


class TestProductViews:
    def test_lists_every_product_by_id(self, storage):
        add_products(storage, pen("p-3"), pen("p-1", price="0.50"), pen("p-2", stock=0))

        listed = storage.product_views().products()

        assert list(listed) == [pen("p-1", price="0.50"), pen("p-2", stock=0), pen("p-3")]

    def test_shows_one_product_and_none_for_an_unknown_one(self, storage):
        add_products(storage, pen("p-1"))

        views = storage.product_views()

        assert (views.product("p-1"), views.product("p-9")) == (pen("p-1"), None)


class TestMessageViews:
    def test_shows_an_orders_messages_oldest_first_and_no_one_elses(self, storage):
        unpaid = a_message("o-1", "m-1", OrderStatus.UNPAID)
        other = a_message("o-2", "m-2", OrderStatus.UNPAID)
        paid = a_message("o-1", "m-3", OrderStatus.PAID)
        refunded = a_message("o-1", "m-4", OrderStatus.CANCELLED, CancelReason.OUT_OF_STOCK)
        uow = storage.message_uow()
        for message in (unpaid, other, paid, refunded):
            with uow:
                uow.notifier.notify(message)
                uow.commit()

        shown = storage.message_views().messages_for("o-1", customer_id=CUSTOMER)

        assert list(shown) == [unpaid, paid, refunded]
        assert [m.reason for m in shown] == [None, None, CancelReason.OUT_OF_STOCK]
        assert shown[0].occurred_at.utcoffset() == INDIA.utcoffset(None)

    def test_an_order_without_messages_has_none(self, storage):
        assert list(storage.message_views().messages_for("o-404", customer_id=None)) == []

    def test_an_orders_messages_are_shown_to_its_customer_and_to_no_customer_in_particular(self, storage):
        messages = [
            a_message("o-1", "m-1", OrderStatus.UNPAID, customer_id=OTHER_CUSTOMER),
            a_message("o-1", "m-2", OrderStatus.PAID, customer_id=OTHER_CUSTOMER),
        ]
        uow = storage.message_uow()
        with uow:
            for message in messages:
                uow.notifier.notify(message)
            uow.commit()
        views = storage.message_views()

        theirs = views.messages_for("o-1", customer_id=OTHER_CUSTOMER)
        anyones = views.messages_for("o-1", customer_id=None)
        someone_elses = views.messages_for("o-1", customer_id=CUSTOMER)

        assert (list(theirs), list(anyones), list(someone_elses)) == (messages, messages, [])
