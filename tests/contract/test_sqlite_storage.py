"""What only the SQLite adapters promise: the file, its schema, restarts, threads, and the relay's outbox.

The behaviour they share with the in-memory adapters is in test_storage_contract.py.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import pytest
import sqlite_utils
from hypothesis import given
from hypothesis import strategies as st

from adapters.memory.broker import InMemoryBroker
from adapters.messaging.relay import OutboxRelay
from adapters.messaging.topics import TOPICS
from adapters.schema import Schema, UnusableDatabase
from adapters.sqlite.database import Database
from adapters.sqlite.messages import MESSAGE_SCHEMA, SqliteMessageUnitOfWork
from adapters.sqlite.orders import ORDER_SCHEMA, SqliteOrderUnitOfWork
from adapters.sqlite.outbox import SqliteOutbox, dump_headers, load_headers
from adapters.sqlite.products import PRODUCT_SCHEMA, SqliteProductUnitOfWork
from adapters.sqlite.views import SqliteMessageViews, SqliteOrderViews, SqliteProductViews
from adapters.wire.codec import decode
from ordering_core import (
    CustomerMessage,
    EntryState,
    Envelope,
    Event,
    LedgerEntry,
    Line,
    Order,
    OrderLine,
    OrderStatus,
    OrderStatusChanged,
    Product,
    put_product,
    restock,
)

T = TypeVar("T")
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CUSTOMER = "customer-a"


@pytest.fixture
def open_databases() -> Iterator[Callable[[Path, Schema], Database]]:
    """Opens databases and closes every one of them (every thread's connection) after the test."""
    opened: list[Database] = []

    def open_database(path: Path, schema: Schema) -> Database:
        opened.append(Database(path, schema))
        return opened[-1]

    yield open_database
    for database in opened:
        database.close_all()


@pytest.fixture
def order_db(tmp_path: Path, open_databases) -> Database:
    return open_databases(tmp_path / "order.db", ORDER_SCHEMA)


def an_order(order_id: str) -> Order:
    return Order.place(order_id, [OrderLine("p-1", 2, Decimal("2.50"))], NOW, customer_id=CUSTOMER)


def status_event(order_id: str, n: int = 1) -> OrderStatusChanged:
    return OrderStatusChanged(
        Envelope(f"{order_id}-m{n}", NOW, order_id, "corr-1"), OrderStatus.UNPAID, customer_id=CUSTOMER
    )


def place(uow: SqliteOrderUnitOfWork, order_id: str) -> None:
    """The order path: one transaction with the order and three outbox rows."""
    with uow:
        uow.orders.add(an_order(order_id))
        uow.events.publish([status_event(order_id, n) for n in (1, 2, 3)])
        uow.commit()


def listed(database: Database) -> list[str]:
    """The ids of every order in the file, oldest first, as an admin lists them."""
    orders = SqliteOrderViews(database).orders(customer_id=None, after=None, limit=1_000)
    return [order.order_id for order in orders]


def published(database: Database) -> list[Event]:
    rows = database.connection().execute("SELECT topic, value FROM outbox ORDER BY id")
    return [decode(topic, value) for topic, value in rows]


def on_threads(database: Database, *works: Callable[[], T]) -> list[T]:
    """Run each of `works` on a thread of its own, all starting together; their results, in order (an error
    in any of them is raised here). Each thread closes its connection when done, as the services' threads do."""
    start = threading.Barrier(len(works))

    def run(work: Callable[[], T]) -> T:
        start.wait()
        try:
            return work()
        finally:
            database.close()

    with ThreadPoolExecutor(max_workers=len(works)) as pool:
        futures = [pool.submit(run, work) for work in works]
        return [future.result() for future in futures]


class TestOpeningADatabase:
    def test_creates_the_file_and_its_folders(self, tmp_path, open_databases):
        path = tmp_path / "var" / "data" / "order.db"

        open_databases(path, ORDER_SCHEMA)

        assert path.is_file()

    @pytest.mark.parametrize("on_a_worker_thread", [False, True], ids=["event-loop-thread", "worker-thread"])
    def test_every_connection_is_wal_normal_sync_with_a_busy_timeout_and_foreign_keys(
        self, order_db, on_a_worker_thread
    ):
        def settings() -> tuple[object, ...]:
            connection = order_db.connection()
            return tuple(
                connection.execute(f"PRAGMA {name}").fetchone()[0]
                for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
            )

        found = on_threads(order_db, settings)[0] if on_a_worker_thread else settings()

        assert found == ("wal", 1, 5000, 1)  # synchronous 1 is NORMAL

    def test_records_the_schema_version_in_the_file(self, order_db):
        (version,) = order_db.connection().execute("PRAGMA user_version").fetchone()

        assert version == ORDER_SCHEMA.version == 2

    def test_lays_out_the_tables_other_tools_read(self, order_db):
        tools = sqlite_utils.Database(order_db.connection(), execute_plugins=False, recursive_triggers=False)

        assert tools["orders"].columns_dict == {
            "order_id": str,
            "customer_id": str,
            "status": str,
            "cancel_reason": str,
            "payment_id": str,
            "placed_at": str,
            "placed_at_us": int,
            "total": str,
            "units": int,
            "lines": str,
        }
        assert {index.name for index in tools["orders"].indexes} == {
            "orders_by_placed_at",
            "orders_unpaid_by_placed_at",
            "orders_of_customer",
            "orders_unpaid_of_customer",
            "sqlite_autoindex_orders_1",
        }
        assert tools["outbox"].columns_dict == {
            "id": int,
            "topic": str,
            "key": bytes,
            "value": bytes,
            "headers": str,
            "created_at": str,
            "sent_at": str,
        }
        assert {index.name for index in tools["outbox"].indexes} == {"outbox_unsent"}

    def test_opening_again_changes_nothing(self, tmp_path, open_databases):
        def schema_of(database: Database) -> list[tuple[str, str]]:
            return (
                database.connection().execute("SELECT name, sql FROM sqlite_schema ORDER BY name").fetchall()
            )

        first = open_databases(tmp_path / "order.db", ORDER_SCHEMA)
        before = schema_of(first)
        first.close_all()

        again = open_databases(tmp_path / "order.db", ORDER_SCHEMA)

        assert schema_of(again) == before

    def test_brings_a_file_of_an_older_version_up_to_date_keeping_its_rows(self, tmp_path, open_databases):
        version_1 = Schema(
            "notes", frozenset({"notes"}), (("CREATE TABLE notes (text TEXT NOT NULL) STRICT",),)
        )
        version_2 = Schema(
            "notes",
            frozenset({"notes", "tags"}),
            (*version_1.migrations, ("CREATE TABLE tags (name TEXT PRIMARY KEY) STRICT",)),
        )
        old = open_databases(tmp_path / "notes.db", version_1)
        with old.transaction() as connection:
            connection.execute("INSERT INTO notes VALUES ('kept')")
        old.close_all()

        upgraded = open_databases(tmp_path / "notes.db", version_2)

        connection = upgraded.connection()
        assert connection.execute("PRAGMA user_version").fetchone() == (2,)
        assert connection.execute("SELECT text FROM notes").fetchall() == [("kept",)]
        assert connection.execute("SELECT count(*) FROM tags").fetchone() == (0,)

    def test_refuses_a_file_written_by_a_newer_release(self, tmp_path, open_databases):
        open_databases(tmp_path / "order.db", ORDER_SCHEMA).close_all()
        with sqlite3.connect(tmp_path / "order.db") as newer:
            newer.execute("PRAGMA user_version = 3")
        newer.close()

        with pytest.raises(UnusableDatabase, match="version 3, newer than this release's 2"):
            Database(tmp_path / "order.db", ORDER_SCHEMA)

    def test_refuses_another_services_file(self, tmp_path, open_databases):
        open_databases(tmp_path / "message.db", MESSAGE_SCHEMA).close_all()

        with pytest.raises(UnusableDatabase, match="no idempotency_keys, orders, outbox table"):
            Database(tmp_path / "message.db", ORDER_SCHEMA)

    def test_an_adapter_refuses_another_services_database(self, tmp_path, open_databases):
        messages = open_databases(tmp_path / "message.db", MESSAGE_SCHEMA)

        with pytest.raises(ValueError, match="no idempotency_keys, orders, outbox table"):
            SqliteOrderUnitOfWork(messages)


class TestConnections:
    def test_each_thread_has_its_own_connection(self, order_db):
        mine = order_db.connection()

        (theirs,) = on_threads(order_db, order_db.connection)

        assert order_db.connection() is mine
        assert theirs is not mine

    def test_close_closes_the_calling_threads_connection_and_the_next_use_opens_a_new_one(self, order_db):
        first = order_db.connection()

        order_db.close()

        with pytest.raises(sqlite3.ProgrammingError, match="closed"):
            first.execute("SELECT 1")
        assert order_db.connection().execute("SELECT 1").fetchone() == (1,)

    def test_close_all_closes_the_connections_of_threads_that_never_closed_theirs(self, order_db):
        left_open: list[sqlite3.Connection] = []
        worker = threading.Thread(target=lambda: left_open.append(order_db.connection()))
        worker.start()
        worker.join()

        order_db.close_all()

        with pytest.raises(sqlite3.ProgrammingError, match="closed"):
            left_open[0].execute("SELECT 1")
        with pytest.raises(RuntimeError, match="closed"):
            order_db.connection()

    def test_a_unit_of_work_opened_inside_another_on_the_same_thread_is_refused(self, order_db):
        outer, inner = SqliteOrderUnitOfWork(order_db), SqliteOrderUnitOfWork(order_db)

        with outer, pytest.raises(RuntimeError, match="already open"):
            inner.__enter__()


class TestRestart:
    def test_orders_their_outbox_and_inbox_survive_a_restart_without_duplicates(
        self, tmp_path, open_databases
    ):
        before = open_databases(tmp_path / "order.db", ORDER_SCHEMA)
        for order_id in ("o-1", "o-2"):
            place(SqliteOrderUnitOfWork(before), order_id)
        uow = SqliteOrderUnitOfWork(before)
        with uow:
            uow.inbox.record("m-1")
            uow.commit()
        SqliteOutbox(before).mark_sent([1, 2, 3])
        events = published(before)
        before.close_all()

        after = open_databases(tmp_path / "order.db", ORDER_SCHEMA)
        place(SqliteOrderUnitOfWork(after), "o-3")

        assert SqliteOrderViews(after).orders(customer_id=None, after=None, limit=10) == [
            an_order(f"o-{n}") for n in (1, 2, 3)
        ]
        assert published(after) == [*events, *(status_event("o-3", n) for n in (1, 2, 3))]
        assert [row.id for row in SqliteOutbox(after).pending(10)] == [4, 5, 6, 7, 8, 9]
        assert SqliteOrderUnitOfWork(after).inbox.seen("m-1")

    def test_products_and_the_ledger_survive_a_restart(self, tmp_path, open_databases):
        entry = LedgerEntry("o-1", EntryState.RESERVED, (Line("p-1", 2),))
        before = open_databases(tmp_path / "product.db", PRODUCT_SCHEMA)
        uow = SqliteProductUnitOfWork(before)
        with uow:
            uow.products.add(Product("p-1", "Pen", Decimal("2.50"), 8))
            uow.ledger.save(entry)
            uow.commit()
        before.close_all()

        after = open_databases(tmp_path / "product.db", PRODUCT_SCHEMA)

        assert SqliteProductViews(after).products() == [Product("p-1", "Pen", Decimal("2.50"), 8)]
        assert SqliteProductUnitOfWork(after).ledger.entry_for("o-1") == entry

    def test_customer_messages_survive_a_restart(self, tmp_path, open_databases):
        message = CustomerMessage.from_status_change(status_event("o-1"))
        before = open_databases(tmp_path / "message.db", MESSAGE_SCHEMA)
        uow = SqliteMessageUnitOfWork(before)
        with uow:
            uow.notifier.notify(message)
            uow.commit()
        before.close_all()

        after = open_databases(tmp_path / "message.db", MESSAGE_SCHEMA)

        assert SqliteMessageViews(after).messages_for("o-1", customer_id=CUSTOMER) == [message]

    def test_a_transaction_cut_off_by_a_shutdown_keeps_nothing(self, tmp_path, open_databases):
        before = open_databases(tmp_path / "order.db", ORDER_SCHEMA)
        uow = SqliteOrderUnitOfWork(before)
        uow.__enter__()
        uow.orders.add(an_order("o-1"))
        uow.events.publish([status_event("o-1")])

        before.close_all()  # the process goes away in the middle of the block

        after = open_databases(tmp_path / "order.db", ORDER_SCHEMA)
        assert (SqliteOrderViews(after).order("o-1"), SqliteOutbox(after).backlog()) == (None, 0)


class TestThreads:
    def test_two_threads_writing_at_once_through_one_unit_of_work_both_succeed(self, order_db):
        uow = SqliteOrderUnitOfWork(
            order_db
        )  # one per service, shared by its threads, as the services wire it

        def place_many(name: str) -> Callable[[], None]:
            def work() -> None:
                for n in range(150):
                    place(uow, f"{name}-{n}")

            return work

        on_threads(order_db, place_many("a"), place_many("b"))

        assert len(listed(order_db)) == 300
        assert SqliteOutbox(order_db).backlog() == 900

    def test_two_threads_changing_the_same_product_at_once_lose_no_update(self, tmp_path, open_databases):
        # Each restock reads the stock, then writes it: the transaction that reads must already hold the write
        # lock, or one thread's write is lost (or refused with "database is locked") when both read first.
        database = open_databases(tmp_path / "product.db", PRODUCT_SCHEMA)
        uow = SqliteProductUnitOfWork(database)
        put_product("p-1", "Pen", Decimal("2.50"), uow=uow)

        def restock_many() -> None:
            for _ in range(100):
                restock("p-1", 1, uow=uow)

        on_threads(database, restock_many, restock_many)

        assert SqliteProductViews(database).product("p-1").stock == 200

    def test_a_writer_waits_for_another_writers_transaction_instead_of_failing(self, order_db):
        uow = SqliteOrderUnitOfWork(order_db)

        with ThreadPoolExecutor(max_workers=1) as other_thread:
            with uow:
                uow.orders.add(an_order("o-1"))
                second = other_thread.submit(on_threads, order_db, lambda: place(uow, "o-2"))
                # It cannot have the write lock while this block holds it: it waits rather than fails.
                finished_early = wait([second], timeout=0.2).done
                uow.commit()
            second.result()

        assert not finished_early
        assert listed(order_db) == ["o-1", "o-2"]

    def test_a_writer_in_another_process_still_waits_on_sqlite_s_own_lock(self, tmp_path, open_databases):
        # Two Database objects on one file stand for two processes: they share no lock of ours.
        here = open_databases(tmp_path / "order.db", ORDER_SCHEMA)
        elsewhere = open_databases(tmp_path / "order.db", ORDER_SCHEMA)
        uow = SqliteOrderUnitOfWork(here)

        with ThreadPoolExecutor(max_workers=1) as other_process:
            with uow:
                uow.orders.add(an_order("o-1"))
                second = other_process.submit(
                    on_threads, elsewhere, lambda: place(SqliteOrderUnitOfWork(elsewhere), "o-2")
                )
                finished_early = wait([second], timeout=0.2).done
                uow.commit()
            second.result()

        assert not finished_early
        assert listed(here) == ["o-1", "o-2"]

    def test_a_transaction_an_error_ended_by_itself_does_not_keep_other_writers_out(self, order_db):
        uow = SqliteOrderUnitOfWork(order_db)

        with uow:
            uow.orders.add(an_order("o-1"))
            order_db.connection().execute("ROLLBACK")  # as SQLite does itself on a full disk or an interrupt
            uow.orders.add(an_order("o-2"))  # the same thread begins the next transaction: no self-deadlock
            uow.commit()
        on_threads(order_db, lambda: place(uow, "o-3"))

        assert listed(order_db) == ["o-2", "o-3"]

    def test_a_reader_sees_the_last_commit_while_a_write_transaction_is_open(self, order_db):
        uow = SqliteOrderUnitOfWork(order_db)
        place(uow, "o-1")

        with uow:
            uow.orders.add(an_order("o-2"))
            seen = on_threads(order_db, lambda: listed(order_db))

        assert seen == [["o-1"]]


class TestOutboxRows:
    def test_the_relay_publishes_the_rows_in_order_and_marks_them_sent(self, order_db):
        uow = SqliteOrderUnitOfWork(order_db)
        place(uow, "o-1")
        place(uow, "o-2")
        broker = InMemoryBroker()
        broker.create_topics(TOPICS)
        relay = OutboxRelay(SqliteOutbox(order_db), lambda: broker.producer("relay"), name="relay")

        relayed = relay.relay_once()

        relay.stop()
        broker.close()
        assert (relayed, SqliteOutbox(order_db).backlog()) == (6, 0)
        assert [decode(r.topic, r.value) for r in broker.records("order-status")] == published(order_db)

    def test_row_ids_are_never_reused_even_after_the_newest_rows_are_pruned(self, order_db):
        place(SqliteOrderUnitOfWork(order_db), "o-1")
        with order_db.transaction() as connection:
            connection.execute("DELETE FROM outbox")

        place(SqliteOrderUnitOfWork(order_db), "o-2")

        assert [row.id for row in SqliteOutbox(order_db).pending(10)] == [4, 5, 6]

    def test_a_row_records_when_it_was_written_and_when_it_was_sent(self, order_db):
        place(SqliteOrderUnitOfWork(order_db), "o-1")
        outbox = SqliteOutbox(order_db)

        outbox.mark_sent([1])
        first_sent = order_db.connection().execute("SELECT sent_at FROM outbox WHERE id = 1").fetchone()
        outbox.mark_sent([1, 2])

        rows = (
            order_db.connection().execute("SELECT id, created_at, sent_at FROM outbox ORDER BY id").fetchall()
        )
        assert [row_id for row_id, _, sent_at in rows if sent_at is not None] == [1, 2]
        assert rows[0][2] == first_sent[0]  # a row already sent keeps its first time
        assert all(datetime.fromisoformat(created_at).tzinfo == UTC for _, created_at, _ in rows)

    @given(st.lists(st.tuples(st.text(), st.binary())))
    def test_headers_come_back_byte_for_byte(self, headers):
        assert load_headers(dump_headers(headers)) == tuple(headers)


class TestQueryPlans:
    """The reads that run all day use their indexes, so they stay fast as sent rows and old orders pile up."""

    @pytest.mark.parametrize(
        ("schema", "read", "index"),
        [
            (ORDER_SCHEMA, lambda db: SqliteOutbox(db).pending(10), "outbox_unsent"),
            (ORDER_SCHEMA, lambda db: SqliteOutbox(db).backlog(), "outbox_unsent"),
            (
                ORDER_SCHEMA,
                lambda db: SqliteOrderUnitOfWork(db).orders.unpaid_placed_before(NOW),
                "orders_unpaid_by_placed_at",
            ),
            (
                ORDER_SCHEMA,
                lambda db: SqliteOrderUnitOfWork(db).orders.holdings_of(CUSTOMER),
                "COVERING INDEX orders_unpaid_of_customer",
            ),
            (
                ORDER_SCHEMA,
                lambda db: SqliteOrderViews(db).orders(customer_id=None, after="o-1", limit=10),
                "orders_by_placed_at",
            ),
            (
                ORDER_SCHEMA,
                lambda db: SqliteOrderViews(db).orders(
                    customer_id=None, after=None, limit=10, newest_first=True
                ),
                "orders_by_placed_at",
            ),
            (
                ORDER_SCHEMA,
                lambda db: SqliteOrderViews(db).orders(customer_id=CUSTOMER, after="o-1", limit=10),
                "orders_of_customer (customer_id=? AND placed_at_us>?)",
            ),
            (
                ORDER_SCHEMA,
                lambda db: SqliteOrderViews(db).orders(
                    customer_id=CUSTOMER, after=None, limit=10, newest_first=True
                ),
                "orders_of_customer (customer_id=?)",
            ),
            (
                MESSAGE_SCHEMA,
                lambda db: SqliteMessageViews(db).messages_for("o-1", customer_id=None),
                "customer_messages_by_order",
            ),
            (
                MESSAGE_SCHEMA,
                lambda db: SqliteMessageViews(db).messages_for("o-1", customer_id=CUSTOMER),
                "customer_messages_by_order",
            ),
        ],
        ids=[
            "pending",
            "backlog",
            "unpaid_placed_before",
            "holdings_of",
            "orders-page",
            "orders-newest",
            "customers-orders-page",
            "customers-orders-newest",
            "messages_for",
            "customers-messages_for",
        ],
    )
    def test_reads_through_their_index(self, tmp_path, open_databases, schema, read, index):
        database = open_databases(tmp_path / "service.db", schema)
        executed: list[str] = []
        database.connection().set_trace_callback(executed.append)

        read(database)

        database.connection().set_trace_callback(None)
        plans = [
            " / ".join(step[3] for step in database.connection().execute(f"EXPLAIN QUERY PLAN {statement}"))
            for statement in executed
        ]
        assert any(index in plan for plan in plans), plans
        # The index gives the rows in the order asked for, newest first too: no sort of the matching rows.
        assert not any("TEMP B-TREE" in plan for plan in plans), plans
