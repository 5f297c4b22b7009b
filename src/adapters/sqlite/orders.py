"""The Order Service's database: orders, the outbox of their events, and the inbox of what it consumed.

An order is one row. Its lines are JSON in that row: they never change once the order is placed and are
always read with it, so one order is one row read and one row written. Money is text, never REAL: prices
and the total are decimal strings ("2.50"), so they come back as the same `Decimal`, trailing zeros included.

`placed_at` keeps the time as it was given, offset included, so it comes back unchanged; `placed_at_us` is
the same instant in microseconds since 1970-01-01 UTC, and is what orders are sorted and cut off by (ISO
texts with different offsets do not sort in time order).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from adapters.sqlite.database import Database, Schema
from adapters.sqlite.outbox import OUTBOX_TABLES, SqliteEventPublisher
from adapters.sqlite.transactions import INBOX_TABLES, Connect, SqliteInbox, SqliteUnitOfWork
from ordering_core.orders import CancelReason, Order, OrderLine, OrderStatus

ORDER_SCHEMA = Schema(
    "order",
    tables=frozenset({"orders", "outbox", "inbox"}),
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
            # The HTTP edge's Idempotency-Keys (adapters/sqlite/idempotency.py). Not in `tables`: those are
            # what the order unit of work requires, and it never touches this one; the store checks for it.
            """
            CREATE TABLE IF NOT EXISTS idempotency_keys (
                key TEXT PRIMARY KEY,
                fingerprint TEXT NOT NULL,
                claimed_at TEXT NOT NULL,
                claimed_at_us INTEGER NOT NULL,
                order_id TEXT,
                body BLOB,
                CHECK ((order_id IS NULL) = (body IS NULL))
            ) STRICT
            """,
        ),
    ),
)

ORDER_COLUMNS = "order_id, status, cancel_reason, payment_id, placed_at, lines"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_us(moment: datetime) -> int:
    """The instant as whole microseconds since 1970-01-01 UTC (exact: no float on the way)."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def order_from_row(row: Sequence[Any]) -> Order:
    """The order in a row selected as ORDER_COLUMNS."""
    order_id, status, cancel_reason, payment_id, placed_at, lines = row
    return Order(
        order_id,
        tuple(_line(item) for item in json.loads(lines)),
        OrderStatus(status),
        datetime.fromisoformat(placed_at),
        None if cancel_reason is None else CancelReason(cancel_reason),
        payment_id,
    )


def _line(item: dict[str, Any]) -> OrderLine:
    return OrderLine(item["product_id"], item["quantity"], Decimal(item["unit_price"]))


def _values(order: Order) -> tuple[object, ...]:
    """The row's values, in the order of _WRITTEN."""
    lines = [
        {"product_id": line.product_id, "quantity": line.quantity, "unit_price": str(line.unit_price)}
        for line in order.lines
    ]
    return (
        order.status.value,
        None if order.cancel_reason is None else order.cancel_reason.value,
        order.payment_id,
        order.placed_at.isoformat(),
        epoch_us(order.placed_at),
        str(order.total),
        json.dumps(lines, separators=(",", ":")),
        order.order_id,
    )


# Every statement is a constant: sqlite3 prepares each once per connection and reuses it.
_WRITTEN = "status, cancel_reason, payment_id, placed_at, placed_at_us, total, lines, order_id"
_INSERT = f"INSERT INTO orders ({_WRITTEN}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
_UPDATE = (
    "UPDATE orders SET status = ?, cancel_reason = ?, payment_id = ?, placed_at = ?, placed_at_us = ?, "
    "total = ?, lines = ? WHERE order_id = ?"
)
_SELECT_ONE = f"SELECT {ORDER_COLUMNS} FROM orders WHERE order_id = ?"
# 'unpaid' is written out, not bound: only then can SQLite tell that the partial index applies.
_SELECT_UNPAID_BEFORE = (
    f"SELECT {ORDER_COLUMNS} FROM orders WHERE status = 'unpaid' AND placed_at_us < ? "
    "ORDER BY placed_at_us, order_id"
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


class SqliteOrderUnitOfWork(SqliteUnitOfWork):
    """`orders`, `events` (the outbox) and `inbox`, in one transaction per `with` block."""

    def __init__(self, database: Database) -> None:
        super().__init__(database, *ORDER_SCHEMA.tables)
        self.orders = SqliteOrderRepository(self.connection)
        self.events = SqliteEventPublisher(self.connection)
        self.inbox = SqliteInbox(self.connection)
