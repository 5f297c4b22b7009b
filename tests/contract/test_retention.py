"""Retention (adapters/sqlite/retention.py): the databases keep sent outbox rows, inbox ids and Idempotency-Keys
only for their windows, give the space back, and stay the same size under steady load; and a replay of every
topic after the inboxes forgot changes nothing, because the use cases are idempotent per order."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from attrs import evolve

from adapters.retention import Retention
from adapters.sqlite.database import INCREMENTAL_AUTO_VACUUM, Database
from adapters.sqlite.idempotency import SqliteIdempotencyStore
from adapters.sqlite.messages import MESSAGE_SCHEMA, SqliteMessageUnitOfWork
from adapters.sqlite.orders import ORDER_SCHEMA, SqliteOrderUnitOfWork
from adapters.sqlite.outbox import SqliteOutbox
from adapters.sqlite.products import PRODUCT_SCHEMA, SqliteProductUnitOfWork
from adapters.sqlite.retention import SqlitePruner, sqlite_time
from adapters.wire.codec import decode
from entrypoints.consumers import message_events, order_events, product_events
from entrypoints.in_process import Counter, InProcessSystem
from entrypoints.retention import prune_job, retention_of
from entrypoints.settings import Settings
from ordering_core import (
    Envelope,
    Line,
    Order,
    OrderCreated,
    OrderLine,
    OrderStatus,
    OrderStatusChanged,
    Product,
)
from ordering_core.ports import Remembered, Reply

CUSTOMER = "customer-a"
KEPT = Retention(
    sent_outbox_rows=timedelta(minutes=5), inbox_ids=timedelta(days=7), idempotency_keys=timedelta(hours=24)
)


def utc_now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def order_db(tmp_path: Path) -> Iterator[Database]:
    with Database(tmp_path / "order.db", ORDER_SCHEMA) as database:
        yield database


def an_order(order_id: str, placed_at: datetime) -> Order:
    return Order(
        order_id, (OrderLine("p-1", 2, Decimal("2.50")),), OrderStatus.UNPAID, placed_at, customer_id=CUSTOMER
    )


def place(uow: SqliteOrderUnitOfWork, order_id: str, now: datetime, *, consumed: str | None = None) -> None:
    """The order path's writes: the order, its events in the outbox, and (as a consumer would) an inbox id."""
    order = an_order(order_id, now)
    envelope = Envelope(f"{order_id}-created", now, order_id, "corr-1")
    status = Envelope(f"{order_id}-status", now, order_id, "corr-1")
    with uow:
        uow.orders.add(order)
        uow.events.publish(
            [
                OrderCreated(envelope, order.lines, order.total, customer_id=CUSTOMER),
                OrderStatusChanged(status, OrderStatus.UNPAID, customer_id=CUSTOMER),
            ]
        )
        if consumed is not None:
            uow.inbox.record(consumed)
        uow.commit()


def rows(database: Database, statement: str) -> list[tuple[object, ...]]:
    return database.connection().execute(statement).fetchall()


class TestSentOutboxRows:
    def test_go_once_kept_for_their_window_and_unsent_rows_stay(self, order_db):
        uow = SqliteOrderUnitOfWork(order_db)
        outbox = SqliteOutbox(order_db)
        place(uow, "o-1", utc_now())
        place(uow, "o-2", utc_now())
        outbox.mark_sent([row.id for row in outbox.pending(2)])  # o-1's two rows
        pruner = SqlitePruner(order_db, KEPT)

        within = pruner.prune(utc_now() + KEPT.sent_outbox_rows - timedelta(seconds=1))
        after = pruner.prune(utc_now() + KEPT.sent_outbox_rows + timedelta(seconds=1))

        assert (within.sent_outbox_rows, after.sent_outbox_rows) == (0, 2)
        assert rows(order_db, "SELECT id FROM outbox ORDER BY id") == [(3,), (4,)]
        assert [row.id for row in outbox.pending(10)] == [3, 4]

    def test_ids_are_not_reused_after_every_row_went(self, order_db):
        uow = SqliteOrderUnitOfWork(order_db)
        outbox = SqliteOutbox(order_db)
        place(uow, "o-1", utc_now())
        outbox.mark_sent([row.id for row in outbox.pending(10)])
        SqlitePruner(order_db, evolve(KEPT, sent_outbox_rows=timedelta(0))).prune(utc_now() + timedelta(seconds=1))

        place(uow, "o-2", utc_now())

        assert [row.id for row in outbox.pending(10)] == [3, 4]


class TestInboxIds:
    def test_are_kept_for_their_window_then_go_oldest_first(self, order_db):
        uow = SqliteOrderUnitOfWork(order_db)
        with order_db.transaction() as connection:  # recorded eight and six days ago
            for message_id, days in [("m-old", 8), ("m-young", 6)]:
                connection.execute(
                    "INSERT INTO inbox (message_id, recorded_at) VALUES (?, ?)",
                    (message_id, sqlite_time(utc_now() - timedelta(days=days))),
                )
        place(uow, "o-1", utc_now(), consumed="m-now")

        pruned = SqlitePruner(order_db, KEPT).prune(utc_now())

        assert pruned.inbox_ids == 1
        assert rows(order_db, "SELECT message_id FROM inbox ORDER BY rowid") == [("m-young",), ("m-now",)]

    def test_are_pruned_in_batches_of_the_oldest(self, order_db):
        uow = SqliteOrderUnitOfWork(order_db)
        for n in range(7):
            place(uow, f"o-{n}", utc_now(), consumed=f"m-{n}")

        pruned = SqlitePruner(order_db, KEPT, batch=3).prune(utc_now() + KEPT.inbox_ids + timedelta(seconds=1))

        assert pruned.inbox_ids == 7
        assert rows(order_db, "SELECT count(*) FROM inbox") == [(0,)]


class TestIdempotencyKeys:
    def test_an_answered_key_past_its_ttl_is_deleted_and_a_younger_one_kept(self, order_db):
        store = SqliteIdempotencyStore(order_db, ttl=KEPT.idempotency_keys)
        start = utc_now()
        store.claim(CUSTOMER, "k-old", "fp", start - timedelta(hours=25))
        store.fulfil(CUSTOMER, "k-old", Reply("o-1", b"{}"))
        store.claim(CUSTOMER, "k-young", "fp", start - timedelta(hours=23))
        store.fulfil(CUSTOMER, "k-young", Reply("o-2", b"{}"))

        pruned = SqlitePruner(order_db, KEPT).prune(start)

        assert pruned.idempotency_keys == 1
        assert rows(order_db, "SELECT key FROM idempotency_keys") == [("k-young",)]
        assert store.claim(CUSTOMER, "k-young", "fp", start) == Remembered("fp", Reply("o-2", b"{}"))
        assert store.claim(CUSTOMER, "k-old", "fp", start) is None


class TestSpace:
    def test_a_new_file_uses_incremental_auto_vacuum(self, order_db):
        assert rows(order_db, "PRAGMA auto_vacuum") == [(INCREMENTAL_AUTO_VACUUM,)]

    def test_a_file_made_without_it_is_switched_when_opened_and_keeps_its_rows(self, tmp_path):
        path = tmp_path / "order.db"
        with Database(path, ORDER_SCHEMA) as database:
            place(SqliteOrderUnitOfWork(database), "o-1", utc_now())
        with closing(sqlite3.connect(path, isolation_level=None)) as connection:  # as earlier releases made it
            connection.execute("PRAGMA auto_vacuum = NONE")
            connection.execute("VACUUM")
            assert connection.execute("PRAGMA auto_vacuum").fetchone() == (0,)

        with Database(path, ORDER_SCHEMA) as reopened:
            assert rows(reopened, "PRAGMA auto_vacuum") == [(INCREMENTAL_AUTO_VACUUM,)]
            assert rows(reopened, "SELECT order_id FROM orders") == [("o-1",)]

    def test_the_pages_pruned_rows_leave_go_back_to_the_file_system_but_a_reserve(self, order_db):
        uow = SqliteOrderUnitOfWork(order_db)
        outbox = SqliteOutbox(order_db)
        for n in range(1_000):
            place(uow, f"o-{n}", utc_now(), consumed=f"m-{n}")
        outbox.mark_sent([row.id for row in outbox.pending(10_000)])
        before = page_count(order_db)

        pruned = SqlitePruner(order_db, Retention(timedelta(0), timedelta(0), timedelta(0)), keep_free_pages=16).prune(
            utc_now() + timedelta(seconds=1)
        )

        assert (pruned.sent_outbox_rows, pruned.inbox_ids) == (2_000, 1_000)
        assert pruned.pages_freed > 0
        assert page_count(order_db) == before - pruned.pages_freed
        assert rows(order_db, "PRAGMA freelist_count") == [(16,)]


def page_count(database: Database) -> int:
    return int(rows(database, "PRAGMA page_count")[0][0])


def used_bytes(database: Database) -> int:
    """The file's size less its free pages: what its rows and indexes take."""
    ((pages, free, size),) = rows(
        database, "SELECT * FROM pragma_page_count(), pragma_freelist_count(), pragma_page_size()"
    )
    return int((pages - free) * size)


def bytes_of(database: Database, *names: str) -> int:
    """The bytes the named tables and indexes take (SQLite's dbstat)."""
    marks = ", ".join("?" * len(names))
    ((total,),) = rows_with(database, f"SELECT sum(pgsize) FROM dbstat WHERE name IN ({marks})", names)
    return int(total or 0)


def rows_with(database: Database, statement: str, parameters: tuple[object, ...]) -> list[tuple[object, ...]]:
    return database.connection().execute(statement, parameters).fetchall()


RETAINED = ("outbox", "outbox_unsent", "inbox", "sqlite_autoindex_inbox_1", "idempotency_keys",
            "sqlite_autoindex_idempotency_keys_1")
ORDERS = ("orders", "sqlite_autoindex_orders_1", "orders_by_placed_at", "orders_unpaid_by_placed_at",
          "orders_of_customer", "orders_unpaid_of_customer")


WINDOW = timedelta(hours=1)


class TestSteadyLoad:
    # make soak (HYPOTHESIS_PROFILE=soak) runs rounds 20 times as large, as it does the property tests.
    ORDERS_PER_ROUND = 10_000 if os.environ.get("HYPOTHESIS_PROFILE") == "soak" else 500

    def test_the_file_grows_only_by_the_orders_it_keeps(self, order_db):
        # Each round is one window: the orders of a round, with their outbox rows (sent by the relay), an
        # inbox id and an Idempotency-Key each, then the job, which lets go of the round before.
        uow = SqliteOrderUnitOfWork(order_db)
        outbox = SqliteOutbox(order_db)
        keys = SqliteIdempotencyStore(order_db)
        ids = Counter("o")
        rounds: list[tuple[int, int, int]] = []
        for _ in range(6):
            started = utc_now()
            for _ in range(self.ORDERS_PER_ROUND):
                order_id = ids()
                keys.claim(CUSTOMER, order_id, "fp", started)
                place(uow, order_id, started, consumed=f"m-{order_id}")
                keys.fulfil(CUSTOMER, order_id, Reply(order_id, b"{}"))
            while pending := outbox.pending(500):
                outbox.mark_sent([row.id for row in pending])
            SqlitePruner(order_db, Retention(WINDOW, WINDOW, WINDOW)).prune(started + WINDOW)  # rounds before go
            rounds.append((used_bytes(order_db), bytes_of(order_db, *RETAINED), bytes_of(order_db, *ORDERS)))

        (used_2, retained_2, orders_2), (used_6, retained_6, orders_6) = rounds[1], rounds[-1]
        assert retained_6 <= retained_2 * 1.25
        assert used_6 - used_2 <= (orders_6 - orders_2) + 256 * 1024


# -- a replay of every topic after the inboxes forgot --------------------------------------------------------


PRODUCTS = (Product("p-1", "Pen", Decimal("2.50"), stock=3), Product("p-2", "Ink", Decimal("12.00"), stock=10))


def a_story() -> InProcessSystem:
    """Every path an order's events take: a reservation, a rejection (two orders both passed the availability
    check for the last units), a payment, a customer's cancel that overtakes its reservation (the ledger's
    tombstone), a payment timeout; run until every event was applied."""
    system = InProcessSystem(PRODUCTS)
    first = system.place_order([Line("p-1", 2)])
    second = system.place_order([Line("p-1", 2)])
    overtaken = system.place_order([Line("p-2", 1)])
    system.cancel(overtaken.order_id)
    while system.relay("order"):
        pass
    heads = system.consumers["product"].member.pending()
    system.deliver("product", pick=next(i for i, r in enumerate(heads) if r.topic == "restore-canceled-item"))
    late = system.place_order([Line("p-2", 3)])
    system.run_until_idle()
    unpaid = [o for o in (first, second) if system.orders.orders.get(o.order_id).status is OrderStatus.UNPAID]
    system.pay(unpaid[0].order_id, "pay-1")
    system.expire_unpaid(InProcessSystem.PAYMENT_TIMEOUT + timedelta(minutes=1))
    system.run_until_idle()
    statuses = {o: system.orders.orders.get(o.order_id).status for o in (first, second, overtaken, late)}
    assert sorted(s.value for s in statuses.values()) == ["cancelled", "cancelled", "cancelled", "paid"]
    assert sorted(applied.kind for applied in system.ledger_log) == [
        "rejected", "released", "released", "reserved", "reserved",  # the overtaken order: released only
    ]
    return system


def state_of(system: InProcessSystem) -> dict[str, object]:
    return {
        "orders": dict(system.orders.orders.orders),
        "products": dict(system.products.products.products),
        "ledger": dict(system.products.ledger.entries),
        "messages": list(system.messages.notifier.sent),
        "order events": list(system.orders.events.published),
        "product events": list(system.products.events.published),
    }


class TestAReplayAfterTheInboxesForgot:
    def test_changes_nothing_in_memory(self):
        system = a_story()
        before = state_of(system)
        assert before["messages"] and before["ledger"]

        for service in ("order", "product", "message"):
            getattr(system, f"{service}s").inbox.message_ids.clear()
            system.replay(service)
        system.run_until_idle()

        assert state_of(system) == before
        # Every record was applied again (the inboxes are full again), not skipped:
        assert len(system.messages.inbox.message_ids) == len(before["messages"])

    def test_changes_nothing_in_sqlite(self, tmp_path):
        story = a_story()
        topics = {topic for consumed in story.consumed.values() for topic in consumed.topics}
        records = {topic: story.broker.records(topic) for topic in topics}
        ids = Counter("replay")
        now = story.now
        product_db = Database(tmp_path / "product.db", PRODUCT_SCHEMA)
        message_db = Database(tmp_path / "message.db", MESSAGE_SCHEMA)
        order_db = Database(tmp_path / "order.db", ORDER_SCHEMA)
        products = SqliteProductUnitOfWork(product_db)
        orders = SqliteOrderUnitOfWork(order_db)
        with products:
            for product in PRODUCTS:
                products.products.add(product)
            products.commit()
        with orders:  # the orders as the story left them: a rejection of one changes nothing
            for order in story.orders.orders.orders.values():
                orders.orders.add(order)
            orders.commit()
        services = {
            product_db: product_events(uow=products, new_id=ids, clock=lambda: now),
            message_db: message_events(uow=SqliteMessageUnitOfWork(message_db)),
            order_db: order_events(uow=orders, new_id=ids, clock=lambda: now),
        }

        def deliver_everything() -> None:
            for consumed in services.values():
                for topic in consumed.topics:
                    for record in records[topic]:
                        consumed.apply(decode(record.topic, record.value, key=record.key))

        deliver_everything()
        before = {database: dump(database) for database in services}
        later = utc_now() + KEPT.inbox_ids + timedelta(days=1)
        forgotten = [SqlitePruner(database, KEPT).prune(later) for database in services]
        deliver_everything()

        assert all(pruned.inbox_ids > 0 for pruned in forgotten[:2])  # the order inbox had only rejections
        assert {database: dump(database) for database in services} == before
        told = len(story.messages.notifier.sent)
        assert rows(message_db, "SELECT count(*) FROM customer_messages") == [(told,)]
        for database in services:
            database.close_all()


def dump(database: Database) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table but the inbox (which the replay fills again)."""
    tables = [name for (name,) in rows(database, "SELECT name FROM sqlite_schema WHERE type = 'table'")]
    return {
        table: rows(database, f"SELECT * FROM {table} ORDER BY 1")
        for table in tables
        if table not in ("inbox", "sqlite_sequence")
    }


class TestTheServicesJob:
    def test_runs_every_prune_interval_with_the_windows_of_the_settings(self, order_db, tmp_path):
        settings = Settings.from_environment(
            {"DATA_DIR": str(tmp_path), "OUTBOX_SENT_RETENTION_S": "0", "PRUNE_INTERVAL_S": "15"}
        )
        place(SqliteOrderUnitOfWork(order_db), "o-1", utc_now())
        outbox = SqliteOutbox(order_db)
        outbox.mark_sent([row.id for row in outbox.pending(10)])

        pruner = SqlitePruner(order_db, retention_of(settings))
        seconds, job = prune_job(pruner, settings, clock=lambda: utc_now() + timedelta(seconds=1))
        asyncio.run(job())

        assert seconds == 15
        assert rows(order_db, "SELECT count(*) FROM outbox") == [(0,)]
        assert retention_of(settings) == Retention(timedelta(0), timedelta(days=7), timedelta(hours=24))
