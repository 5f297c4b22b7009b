"""The Order Service's database: orders, the outbox of their events, and the inbox of what it consumed.

An order is one row. Its lines are JSON in that row: they never change once the order is placed and are
always read with it, so one order is one row read and one row written. Money is text, never REAL: prices
and the total are decimal strings ("2.50"), so they come back as the same `Decimal`, trailing zeros included.

`placed_at` keeps the time as it was given, offset included, so it comes back unchanged; `placed_at_us` is
the same instant in microseconds since 1970-01-01 UTC, and is what orders are sorted and cut off by (ISO
texts with different offsets do not sort in time order). `units` is the order's total quantity, kept beside
its lines so that a customer's holdings (`holdings_of`) are summed from an index, not from every order's JSON.

Schema version 2 gave every order its customer: orders (and Idempotency-Keys) written by version 1 belong to
UNIDENTIFIED_CUSTOMER. The tables were rebuilt rather than altered so that no column has a default: an insert
that forgot the customer fails instead of quietly giving the order to the placeholder.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters import rows
from adapters.rows import ORDER_COLUMNS
from adapters.schema import Schema
from adapters.sqlite.database import Database, sql_text
from adapters.sqlite.outbox import OUTBOX_TABLES, SqliteEventPublisher
from adapters.sqlite.transactions import INBOX_TABLES, Connect, SqliteInbox, SqliteUnitOfWork
from ordering_core.customers import UNIDENTIFIED_CUSTOMER
from ordering_core.holds import NOTHING_HELD, Holdings
from ordering_core.orders import Order
from ordering_core.ports import Reply

# Version 2 rebuilds `orders` and `idempotency_keys` the way SQLite documents for changing a table's columns:
# a new table, the rows copied into it, the old one dropped, the new one renamed and its indexes made again,
# all in the one transaction a migration runs in (a failure leaves the file as it was).
_ORDERS_WITH_CUSTOMERS = (
    """
    CREATE TABLE orders_v2 (
        order_id TEXT PRIMARY KEY,
        customer_id TEXT NOT NULL,
        status TEXT NOT NULL,
        cancel_reason TEXT,
        payment_id TEXT,
        placed_at TEXT NOT NULL,
        placed_at_us INTEGER NOT NULL,
        total TEXT NOT NULL,
        units INTEGER NOT NULL,
        lines TEXT NOT NULL
    ) STRICT
    """,
    # An order has at least one line, so the sum is never NULL; if a row broke that, NOT NULL stops the upgrade.
    f"""
    INSERT INTO orders_v2 (
        order_id, customer_id, status, cancel_reason, payment_id, placed_at, placed_at_us, total, units, lines
    )
    SELECT
        order_id, {sql_text(UNIDENTIFIED_CUSTOMER)}, status, cancel_reason, payment_id, placed_at, placed_at_us,
        total, (SELECT sum(json_extract(line.value, '$.quantity')) FROM json_each(orders.lines) AS line), lines
    FROM orders
    """,
    "DROP TABLE orders",
    "ALTER TABLE orders_v2 RENAME TO orders",
    "CREATE INDEX orders_by_placed_at ON orders (placed_at_us, order_id)",
    "CREATE INDEX orders_unpaid_by_placed_at ON orders (placed_at_us, order_id) WHERE status = 'unpaid'",
    # A customer's own order list, in page order.
    "CREATE INDEX orders_of_customer ON orders (customer_id, placed_at_us, order_id)",
    # A customer's holdings: only unpaid orders, with every column `holdings_of` names, so it reads no row.
    # `status` too, though it is always 'unpaid' here: SQLite counts an index as covering a query only if it
    # holds every column the query names.
    (
        "CREATE INDEX orders_unpaid_of_customer ON orders (customer_id, placed_at_us, units, status) "
        "WHERE status = 'unpaid'"
    ),
)
# The HTTP edge's Idempotency-Keys as version 1 made them (adapters/sqlite/idempotency.py).
_IDEMPOTENCY_KEYS_V1 = """
    CREATE TABLE IF NOT EXISTS idempotency_keys (
        key TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        claimed_at TEXT NOT NULL,
        claimed_at_us INTEGER NOT NULL,
        order_id TEXT,
        body BLOB,
        CHECK ((order_id IS NULL) = (body IS NULL))
    ) STRICT
    """
_IDEMPOTENCY_KEYS_OF_CUSTOMERS = (
    # Files made before version 1 had this table are at version 1 without it: made here as version 1 made it.
    _IDEMPOTENCY_KEYS_V1,
    # A key is the customer's own: another customer's request with the same key is another request.
    """
    CREATE TABLE idempotency_keys_v2 (
        customer_id TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        claimed_at TEXT NOT NULL,
        claimed_at_us INTEGER NOT NULL,
        order_id TEXT,
        body BLOB,
        PRIMARY KEY (customer_id, key),
        CHECK ((order_id IS NULL) = (body IS NULL))
    ) STRICT
    """,
    f"""
    INSERT INTO idempotency_keys_v2 (customer_id, key, fingerprint, claimed_at, claimed_at_us, order_id, body)
    SELECT {sql_text(UNIDENTIFIED_CUSTOMER)}, key, fingerprint, claimed_at, claimed_at_us, order_id, body
    FROM idempotency_keys
    """,
    "DROP TABLE idempotency_keys",
    "ALTER TABLE idempotency_keys_v2 RENAME TO idempotency_keys",
)

ORDER_SCHEMA = Schema(
    "order",
    tables=frozenset({"orders", "outbox", "inbox", "idempotency_keys"}),
    migrations=(
        (
            """
            CREATE TABLE IF NOT EXISTS orders (
                order_id TEXT PRIMARY KEY,
                status TEXT NOT NULL,
                cancel_reason TEXT,
                payment_id TEXT,
                placed_at TEXT NOT NULL,
                placed_at_us INTEGER NOT NULL,
                total TEXT NOT NULL,
                lines TEXT NOT NULL
            ) STRICT
            """,
            # The order list's pages, oldest first.
            "CREATE INDEX IF NOT EXISTS orders_by_placed_at ON orders (placed_at_us, order_id)",
            # The expiry sweep's: only unpaid orders, so it stays small however many orders were paid.
            (
                "CREATE INDEX IF NOT EXISTS orders_unpaid_by_placed_at ON orders (placed_at_us, order_id) "
                "WHERE status = 'unpaid'"
            ),
            *OUTBOX_TABLES,
            *INBOX_TABLES,
            # Not in `tables`: those are what the order unit of work requires, and it never touches this one;
            # the store checks for it.
            _IDEMPOTENCY_KEYS_V1,
        ),
        (*_ORDERS_WITH_CUSTOMERS, *_IDEMPOTENCY_KEYS_OF_CUSTOMERS),
    ),
)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_us(moment: datetime) -> int:
    """The instant as whole microseconds since 1970-01-01 UTC (exact: no float on the way)."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def from_epoch_us(microseconds: int) -> datetime:
    """The instant `epoch_us` gave, in UTC (the offset it was given in is not in the number)."""
    return _EPOCH + timedelta(microseconds=microseconds)


def order_from_row(row: Sequence[Any]) -> Order:
    """The order in a row selected as ORDER_COLUMNS (its lines are JSON text)."""
    return rows.order_from_row(row, json.loads(row[-1]))


def _values(order: Order) -> tuple[object, ...]:
    """The row's values, in the order of _WRITTEN."""
    lines = json.dumps(rows.order_lines(order), separators=(",", ":"))
    return rows.order_values(order, epoch_us(order.placed_at), lines)


# Every statement is a constant: sqlite3 prepares each once per connection and reuses it.
_WRITTEN = (
    "customer_id, status, cancel_reason, payment_id, placed_at, placed_at_us, total, units, lines, order_id"
)
_INSERT = f"INSERT INTO orders ({_WRITTEN}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
# Every column, as the in-memory repository replaces the whole order (the use cases never change its customer).
_UPDATE = (
    "UPDATE orders SET customer_id = ?, status = ?, cancel_reason = ?, payment_id = ?, placed_at = ?, "
    "placed_at_us = ?, total = ?, units = ?, lines = ? WHERE order_id = ?"
)
_SELECT_ONE = f"SELECT {ORDER_COLUMNS} FROM orders WHERE order_id = ?"
# 'unpaid' is written out, not bound: only then can SQLite tell that the partial index applies.
_SELECT_UNPAID_BEFORE = (
    f"SELECT {ORDER_COLUMNS} FROM orders WHERE status = 'unpaid' AND placed_at_us < ? "
    "ORDER BY placed_at_us, order_id"
)
# One read of the partial index orders_unpaid_of_customer; 'unpaid' is written out for the same reason.
_SELECT_HOLDINGS = (
    "SELECT count(*), sum(units), min(placed_at_us) FROM orders WHERE customer_id = ? AND status = 'unpaid'"
)


class SqliteOrderRepository:
    def __init__(self, connect: Connect) -> None:
        self._connect = connect

    def get(self, order_id: str) -> Order | None:
        row = self._connect().execute(_SELECT_ONE, (order_id,)).fetchone()
        return None if row is None else order_from_row(row)

    def add(self, order: Order) -> None:
        try:
            self._connect().execute(_INSERT, _values(order))
        except sqlite3.IntegrityError as error:
            if error.sqlite_errorname == "SQLITE_CONSTRAINT_PRIMARYKEY":
                raise ValueError(f"order {order.order_id!r} already exists") from None
            raise

    def save(self, order: Order) -> None:
        if self._connect().execute(_UPDATE, _values(order)).rowcount == 0:
            raise ValueError(f"order {order.order_id!r} was never added")

    def unpaid_placed_before(self, cutoff: datetime) -> Sequence[Order]:
        rows = self._connect().execute(_SELECT_UNPAID_BEFORE, (epoch_us(cutoff),))
        return [order_from_row(row) for row in rows]

    def holdings_of(self, customer_id: str) -> Holdings:
        orders, units, oldest_us = self._connect().execute(_SELECT_HOLDINGS, (customer_id,)).fetchone()
        if orders == 0:
            return NOTHING_HELD
        return Holdings(orders, units, from_epoch_us(oldest_us))


# The one statement that binds a claimed Idempotency-Key to its reply (adapters/sqlite/idempotency.py has the
# claim and the release): in the order's unit of work, and by the store's own `fulfil`.
BIND_REPLY = "UPDATE idempotency_keys SET order_id = ?, body = ? WHERE customer_id = ? AND key = ?"


class SqliteReplies:
    """Idempotency-Keys' replies, written in the unit of work's transaction (`Replies` in ordering_core.ports).

    No row is bound only if the claim's lease ran out and another request took the key over and released
    it; the key is then free and stays so, as the store's `fulfil` leaves it."""

    def __init__(self, connect: Connect) -> None:
        self._connect = connect

    def bind(self, customer_id: str, key: str, reply: Reply) -> None:
        self._connect().execute(BIND_REPLY, (reply.order_id, reply.body, customer_id, key))


class SqliteOrderUnitOfWork(SqliteUnitOfWork):
    """`orders`, `events` (the outbox), `inbox` and `replies`, in one transaction per `with` block."""

    def __init__(self, database: Database) -> None:
        super().__init__(database, *ORDER_SCHEMA.tables)
        self.orders = SqliteOrderRepository(self.connection)
        self.events = SqliteEventPublisher(self.connection)
        self.inbox = SqliteInbox(self.connection)
        self.replies = SqliteReplies(self.connection)
