"""A data folder made by release 0.1 opens with this release: upgraded in place, nothing lost, nothing given away.

The folder is the SQL text in tests/fixtures/release-0.1, written once by that release's own adapters and use
cases (its make_fixtures.py says how): three orders (v1-1 unpaid, v1-5 paid, v1-9 cancelled), v1-1 placed with
an Idempotency-Key, outbox rows 1-3 sent and 4-14 not, five customer messages, two products and a ledger entry.
Each test loads it into new files and opens them as the services do, with `Database(path, SCHEMA)`.

Release 0.1 had no customers. What it stored now belongs to UNIDENTIFIED_CUSTOMER, whom no token names: only
an admin (who lists everyone's) sees those orders and messages, and no customer is replayed an old key's order.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.http.idempotency import fingerprint
from adapters.schema import Schema
from adapters.sqlite.database import Database
from adapters.sqlite.idempotency import SqliteIdempotencyStore
from adapters.sqlite.messages import MESSAGE_SCHEMA
from adapters.sqlite.orders import ORDER_SCHEMA, SqliteOrderUnitOfWork
from adapters.sqlite.outbox import SqliteOutbox, load_headers
from adapters.sqlite.products import PRODUCT_SCHEMA, SqliteProductUnitOfWork
from adapters.sqlite.views import SqliteMessageViews, SqliteOrderViews, SqliteProductViews
from adapters.wire.codec import decode
from ordering_core import (
    UNIDENTIFIED_CUSTOMER,
    CancelReason,
    EntryState,
    Holdings,
    LedgerEntry,
    Line,
    Order,
    OrderLine,
    OrderStatus,
    Product,
)
from ordering_core.ports import Remembered, Reply

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "release-0.1"
SCHEMAS = {"order": ORDER_SCHEMA, "product": PRODUCT_SCHEMA, "message": MESSAGE_SCHEMA}
PLACED_AT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
A_CUSTOMER = "customer-a"

# What release 0.1 stored, as this release reads it.
OLD_ORDERS = [
    Order(
        "v1-1",
        (OrderLine("pen", 3, Decimal("2.50")), OrderLine("ink", 1, Decimal("12.00"))),
        OrderStatus.UNPAID,
        PLACED_AT,
        customer_id=UNIDENTIFIED_CUSTOMER,
    ),
    Order(
        "v1-5",
        (OrderLine("pen", 2, Decimal("2.50")),),
        OrderStatus.PAID,
        PLACED_AT + timedelta(minutes=5),
        None,
        "pay-1",
        customer_id=UNIDENTIFIED_CUSTOMER,
    ),
    Order(
        "v1-9",
        (OrderLine("ink", 2, Decimal("12.00")), OrderLine("pen", 1, Decimal("2.50"))),
        OrderStatus.CANCELLED,
        PLACED_AT + timedelta(minutes=10),
        CancelReason.CUSTOMER,
        customer_id=UNIDENTIFIED_CUSTOMER,
    ),
]
OLD_KEY = "release-0.1-key"
OLD_KEYS_REQUEST = {"items": [{"product_id": "pen", "quantity": 3}, {"product_id": "ink", "quantity": 1}]}


def load_release_0_1(name: str, folder: Path) -> Path:
    """The service's file as release 0.1 left it (its user_version too): `name`.db in `folder`."""
    path = folder / f"{name}.db"
    with closing(sqlite3.connect(path)) as connection:
        connection.executescript((FIXTURES / f"{name}.sql").read_text(encoding="utf-8"))
    return path


def raw(path: Path, statement: str) -> list[tuple[object, ...]]:
    """What a plain connection (no adapter, no migration) reads from the file."""
    with closing(sqlite3.connect(path)) as connection:
        return connection.execute(statement).fetchall()


def tables_and_columns(path: Path) -> dict[str, list[str]]:
    tables = [
        name for (name,) in raw(path, "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
    ]
    return {table: [row[1] for row in raw(path, f"PRAGMA table_info({table})")] for table in tables}


def rows_of(path: Path, columns_by_table: dict[str, list[str]]) -> dict[str, list[tuple[object, ...]]]:
    """Each table's rows, only the given columns, ordered by the first (each table's key)."""
    return {
        table: raw(path, f"SELECT {', '.join(columns)} FROM {table} ORDER BY 1")
        for table, columns in columns_by_table.items()
    }


def layout(path: Path) -> set[tuple[object, ...]]:
    """The file's tables, columns and indexes as sqlite_schema has them, whitespace aside."""
    rows = raw(path, "SELECT type, name, tbl_name, sql FROM sqlite_schema")
    return {
        (kind, name, table, None if sql is None else re.sub(r"\s+", "", sql))
        for kind, name, table, sql in rows
    }


def version_of(path: Path) -> int:
    ((version,),) = raw(path, "PRAGMA user_version")
    return int(version)


@pytest.fixture
def open_database() -> Iterator[Callable[[Path, Schema], Database]]:
    """Opens databases as the services do, and closes each after the test."""
    opened: list[Database] = []

    def open_one(path: Path, schema: Schema) -> Database:
        opened.append(Database(path, schema))
        return opened[-1]

    yield open_one
    for database in opened:
        database.close_all()


@pytest.fixture
def old_orders_file(tmp_path: Path) -> Path:
    return load_release_0_1("order", tmp_path)


@pytest.fixture
def orders(old_orders_file: Path, open_database) -> Database:
    return open_database(old_orders_file, ORDER_SCHEMA)


@pytest.fixture
def old_messages_file(tmp_path: Path) -> Path:
    return load_release_0_1("message", tmp_path)


@pytest.fixture
def messages(old_messages_file: Path, open_database) -> Database:
    return open_database(old_messages_file, MESSAGE_SCHEMA)


class TestTheFixtures:
    @pytest.mark.parametrize("name", ["order", "product", "message"])
    def test_are_files_of_release_0_1_at_schema_version_1(self, tmp_path, name):
        path = load_release_0_1(name, tmp_path)

        assert version_of(path) == 1


class TestAnOrderFileOfRelease01:
    def test_is_brought_to_version_2(self, orders):
        assert version_of(orders.path) == ORDER_SCHEMA.version == 2

    def test_keeps_every_order_as_it_was_now_owned_by_the_unidentified_customer(self, orders):
        found = SqliteOrderViews(orders).orders(customer_id=None, after=None, limit=10)

        assert found == OLD_ORDERS
        assert [order.placed_at.utcoffset() for order in found] == [timedelta(0)] * 3

    def test_keeps_every_value_of_every_column_it_had(self, tmp_path, open_database):
        old = load_release_0_1("order", tmp_path)
        columns = tables_and_columns(old)
        before = rows_of(old, columns)

        open_database(old, ORDER_SCHEMA)

        assert rows_of(old, columns) == before
        assert {table: len(rows) for table, rows in before.items()} == {
            "idempotency_keys": 1,
            "inbox": 0,
            "orders": 3,
            "outbox": 14,
            "sqlite_sequence": 1,
        }

    def test_gives_each_order_its_units(self, orders):
        units = dict(orders.connection().execute("SELECT order_id, units FROM orders"))

        assert units == {"v1-1": 4, "v1-5": 2, "v1-9": 3}
        assert units == {order.order_id: order.units for order in OLD_ORDERS}

    def test_the_unidentified_customer_holds_the_unpaid_order(self, orders):
        uow = SqliteOrderUnitOfWork(orders)

        with uow:
            theirs = uow.orders.holdings_of(UNIDENTIFIED_CUSTOMER)
            a_customers = uow.orders.holdings_of(A_CUSTOMER)

        assert theirs == Holdings(1, 4, PLACED_AT)
        assert a_customers == Holdings(0, 0)

    def test_the_old_orders_are_listed_for_everyone_and_for_the_unidentified_customer_only(self, orders):
        views = SqliteOrderViews(orders)

        everyones = views.orders(customer_id=None, after=None, limit=10, newest_first=True)
        unidentified = views.orders(customer_id=UNIDENTIFIED_CUSTOMER, after=None, limit=10)
        a_customers = views.orders(customer_id=A_CUSTOMER, after=None, limit=10)
        after_an_old_one = views.orders(customer_id=A_CUSTOMER, after="v1-1", limit=10)

        assert [o.order_id for o in everyones] == ["v1-9", "v1-5", "v1-1"]
        assert [o.order_id for o in unidentified] == ["v1-1", "v1-5", "v1-9"]
        assert (list(a_customers), list(after_an_old_one)) == ([], [])

    def test_the_old_idempotency_key_replays_its_order_to_the_unidentified_customer_only(self, orders):
        ((body,),) = orders.connection().execute("SELECT body FROM idempotency_keys").fetchall()
        store = SqliteIdempotencyStore(orders)
        later = PLACED_AT + timedelta(hours=12)  # within the key's TTL (24 h from its claim, at PLACED_AT)

        for_the_owner = store.claim(UNIDENTIFIED_CUSTOMER, OLD_KEY, fingerprint(OLD_KEYS_REQUEST), later)
        for_a_customer = store.claim(A_CUSTOMER, OLD_KEY, fingerprint(OLD_KEYS_REQUEST), later)

        assert for_the_owner == Remembered(fingerprint(OLD_KEYS_REQUEST), Reply("v1-1", body))
        assert b'"order_id":"v1-1"' in body
        assert for_a_customer is None  # a new claim of A_CUSTOMER's own: their request places its own order

    def test_leaves_the_rows_it_had_not_sent_waiting_byte_for_byte(self, old_orders_file, open_database):
        unsent = raw(
            old_orders_file, "SELECT id, topic, key, value, headers FROM outbox WHERE sent_at IS NULL"
        )

        upgraded = open_database(old_orders_file, ORDER_SCHEMA)

        pending = SqliteOutbox(upgraded).pending(100)
        assert [(r.id, r.topic, r.key, r.value, r.headers) for r in pending] == [
            (row_id, topic, key, value, load_headers(headers))
            for row_id, topic, key, value, headers in unsent
        ]
        assert [row.id for row in pending] == list(range(4, 15))

    def test_the_rows_it_had_not_sent_are_read_as_the_unidentified_customers_events(self, orders):
        # They are schema version 1 events, written before events had customers (adapters.wire.codec).
        events = [decode(row.topic, row.value, row.key) for row in SqliteOutbox(orders).pending(100)]

        owners = {getattr(event, "customer_id", None) for event in events}

        assert owners == {UNIDENTIFIED_CUSTOMER, None}  # None: the stock messages, which have no customer

    def test_takes_new_orders_beside_the_old_ones(self, orders):
        new = Order.place("o-new", [OrderLine("pen", 1, Decimal("2.50"))], PLACED_AT, customer_id=A_CUSTOMER)
        uow = SqliteOrderUnitOfWork(orders)

        with uow:
            uow.orders.add(new)
            uow.commit()

        views = SqliteOrderViews(orders)
        assert views.orders(customer_id=A_CUSTOMER, after=None, limit=10) == [new]
        assert len(views.orders(customer_id=None, after=None, limit=10)) == 4

    def test_opening_it_again_changes_nothing(self, old_orders_file, open_database):
        open_database(old_orders_file, ORDER_SCHEMA).close_all()
        columns = tables_and_columns(old_orders_file)
        before = (layout(old_orders_file), rows_of(old_orders_file, columns))

        open_database(old_orders_file, ORDER_SCHEMA)

        assert (layout(old_orders_file), rows_of(old_orders_file, columns)) == before

    def test_a_file_made_before_idempotency_keys_existed_gets_the_table(self, old_orders_file, open_database):
        # Version 1 files made before the table was added to the first migration are at version 1 without it.
        with closing(sqlite3.connect(old_orders_file)) as connection:
            connection.execute("DROP TABLE idempotency_keys")

        upgraded = open_database(old_orders_file, ORDER_SCHEMA)

        store = SqliteIdempotencyStore(upgraded)
        assert store.claim(A_CUSTOMER, "k", "fp", PLACED_AT) is None

    def test_a_row_the_upgrade_cannot_carry_leaves_the_file_as_it_was(self, old_orders_file):
        # An order without lines has no units: NOT NULL stops the upgrade, and its one transaction undoes it.
        with closing(sqlite3.connect(old_orders_file)) as connection, connection:
            connection.execute("UPDATE orders SET lines = '[]' WHERE order_id = 'v1-5'")
        before = layout(old_orders_file)

        with pytest.raises(sqlite3.IntegrityError, match=r"NOT NULL constraint failed: orders_v2\.units"):
            Database(old_orders_file, ORDER_SCHEMA)

        assert (version_of(old_orders_file), layout(old_orders_file)) == (1, before)


class TestAMessageFileOfRelease01:
    def test_is_brought_to_version_3(self, messages):
        assert version_of(messages.path) == MESSAGE_SCHEMA.version == 3

    def test_keeps_every_value_of_every_column_it_had(self, old_messages_file, open_database):
        columns = tables_and_columns(old_messages_file)
        before = rows_of(old_messages_file, columns)

        open_database(old_messages_file, MESSAGE_SCHEMA)

        assert rows_of(old_messages_file, columns) == before
        assert len(before["customer_messages"]) == 5

    def test_every_old_message_is_the_unidentified_customers(self, messages):
        owners = (
            messages.connection().execute("SELECT DISTINCT customer_id FROM customer_messages").fetchall()
        )

        assert owners == [(UNIDENTIFIED_CUSTOMER,)]

    def test_an_old_orders_messages_are_shown_to_the_unidentified_customer_and_to_an_admin_only(
        self, messages
    ):
        views = SqliteMessageViews(messages)

        theirs = views.messages_for("v1-5", customer_id=UNIDENTIFIED_CUSTOMER)
        anyones = views.messages_for("v1-5", customer_id=None)
        a_customers = views.messages_for("v1-5", customer_id=A_CUSTOMER)

        assert [(m.message_id, m.status, m.customer_id) for m in theirs] == [
            ("v1-8", OrderStatus.UNPAID, UNIDENTIFIED_CUSTOMER),
            ("v1-14", OrderStatus.PAID, UNIDENTIFIED_CUSTOMER),
        ]
        assert (list(anyones), list(a_customers)) == (list(theirs), [])

    def test_a_status_told_twice_keeps_its_first_message_only(self, old_messages_file, open_database):
        # Version 3 keeps one message per order and status; a file holding two (told twice under different
        # ids) keeps the first, so the upgrade can make its unique index.
        with closing(sqlite3.connect(old_messages_file)) as connection, connection:
            connection.execute(
                "INSERT INTO customer_messages (message_id, order_id, status, reason, text, occurred_at) "
                "SELECT 'v1-99', order_id, status, reason, text, occurred_at FROM customer_messages "
                "WHERE message_id = 'v1-14'"
            )

        upgraded = open_database(old_messages_file, MESSAGE_SCHEMA)

        told = SqliteMessageViews(upgraded).messages_for("v1-5", customer_id=None)
        assert [m.message_id for m in told] == ["v1-8", "v1-14"]

    def test_opening_it_again_changes_nothing(self, old_messages_file, open_database):
        open_database(old_messages_file, MESSAGE_SCHEMA).close_all()
        columns = tables_and_columns(old_messages_file)
        before = (layout(old_messages_file), rows_of(old_messages_file, columns))

        open_database(old_messages_file, MESSAGE_SCHEMA)

        assert (layout(old_messages_file), rows_of(old_messages_file, columns)) == before


class TestAProductFileOfRelease01:
    def test_opens_unchanged(self, tmp_path, open_database):
        old = load_release_0_1("product", tmp_path)
        before = (version_of(old), layout(old), rows_of(old, tables_and_columns(old)))

        products = open_database(old, PRODUCT_SCHEMA)

        assert (version_of(old), layout(old), rows_of(old, tables_and_columns(old))) == before
        assert SqliteProductViews(products).products() == [
            Product("ink", "Ink, blue", Decimal("12.00"), 4),
            Product("pen", "Pen", Decimal("2.50"), 17),
        ]
        assert SqliteProductUnitOfWork(products).ledger.entry_for("v1-1") == LedgerEntry(
            "v1-1", EntryState.RESERVED, (Line("pen", 3), Line("ink", 1))
        )


class TestAnUpgradedFileIsLaidOutAsANewOne:
    @pytest.mark.parametrize("name", ["order", "message", "product"])
    def test_same_tables_columns_and_indexes(self, tmp_path, open_database, name):
        schema = SCHEMAS[name]
        upgraded = load_release_0_1(name, tmp_path)
        open_database(upgraded, schema)

        new = open_database(tmp_path / "new" / f"{name}.db", schema)

        assert layout(upgraded) == layout(new.path)


class TestThePlaceholderIsNeverADefault:
    """The upgrade gives old rows UNIDENTIFIED_CUSTOMER; a new row written without its customer is refused."""

    @pytest.mark.parametrize(
        ("name", "statement"),
        [
            (
                "order",
                (
                    "INSERT INTO orders (order_id, status, placed_at, placed_at_us, total, units, lines) "
                    "VALUES ('o-1', 'unpaid', '2026-03-01T12:00:00+00:00', 0, '1.00', 1, '[]')"
                ),
            ),
            (
                "order",
                (
                    "INSERT INTO idempotency_keys (key, fingerprint, claimed_at, claimed_at_us) "
                    "VALUES ('k', 'fp', '2026-03-01T12:00:00+00:00', 0)"
                ),
            ),
            (
                "message",
                (
                    "INSERT INTO customer_messages (message_id, order_id, status, text, occurred_at) "
                    "VALUES ('m-1', 'o-1', 'unpaid', 'text', '2026-03-01T12:00:00+00:00')"
                ),
            ),
        ],
        ids=["orders", "idempotency_keys", "customer_messages"],
    )
    def test_a_row_written_without_its_customer_is_refused(self, tmp_path, open_database, name, statement):
        database = open_database(load_release_0_1(name, tmp_path), SCHEMAS[name])

        with pytest.raises(sqlite3.IntegrityError, match=r"NOT NULL constraint failed: \w+\.customer_id"):
            database.connection().execute(statement)
