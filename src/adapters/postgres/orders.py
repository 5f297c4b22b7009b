"""The Order Service's database in PostgreSQL: orders, the outbox, the inbox and the Idempotency-Keys.

An order is one row, its lines JSONB in it (placed once, always read with the order), as in SQLite. Money is
the Decimal's own text ("2.50"), not NUMERIC, for the reason `adapters.postgres.products` gives.

`placed_at` keeps the time as it was given, offset included, so it comes back unchanged; `placed_instant` is
the same instant as a TIMESTAMPTZ (which keeps no offset), and is what orders are sorted and cut off by. `units`
is the order's total quantity, beside its lines so that `holdings_of` sums an index, not every order's JSON.

`order_id` compares byte by byte (COLLATE "C"), as SQLite's text does: pages are cut at "the orders after this
id", and the server's default collation (whatever locale initdb found) could order ids otherwise.

No schema history to replay here: version 1 is SQLite's version 2, every order with its customer, and no
column has a default, so an insert that forgot the customer fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from psycopg.types.json import Jsonb

from adapters import rows
from adapters.postgres.database import PostgresDatabase
from adapters.postgres.outbox import OUTBOX_TABLES, PostgresEventPublisher
from adapters.postgres.transactions import INBOX_TABLES, Connect, PostgresInbox, PostgresUnitOfWork
from adapters.rows import ORDER_COLUMNS
from adapters.schema import Schema
from ordering_core.holds import NOTHING_HELD, Holdings
from ordering_core.orders import Order
from ordering_core.ports import Reply

_ORDERS_TABLES = (
    """
    CREATE TABLE IF NOT EXISTS orders (
        order_id TEXT COLLATE "C" PRIMARY KEY,
        customer_id TEXT NOT NULL,
        status TEXT NOT NULL,
        cancel_reason TEXT,
        payment_id TEXT,
        placed_at TEXT NOT NULL,
        placed_instant TIMESTAMPTZ NOT NULL,
        total TEXT NOT NULL,
        units INTEGER NOT NULL,
        lines JSONB NOT NULL
    )
    """,
    # The order list's pages, oldest first (or, read backwards, newest first).
    "CREATE INDEX IF NOT EXISTS orders_by_placed_at ON orders (placed_instant, order_id)",
    # The expiry sweep's: only unpaid orders, so it stays small however many orders were paid.
    (
        "CREATE INDEX IF NOT EXISTS orders_unpaid_by_placed_at ON orders (placed_instant, order_id) "
        "WHERE status = 'unpaid'"
    ),
    # A customer's own order list, in page order.
    "CREATE INDEX IF NOT EXISTS orders_of_customer ON orders (customer_id, placed_instant, order_id)",
    # A customer's holdings, read from the index alone (an index-only scan, where the visibility map allows).
    (
        "CREATE INDEX IF NOT EXISTS orders_unpaid_of_customer ON orders (customer_id) "
        "INCLUDE (units, placed_instant) WHERE status = 'unpaid'"
    ),
)
# A key is the customer's own: another customer's request with the same key is another request
# (adapters/postgres/idempotency.py has the store that claims and releases them).
_IDEMPOTENCY_KEYS_TABLE = """
    CREATE TABLE IF NOT EXISTS idempotency_keys (
        customer_id TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        claimed_at TIMESTAMPTZ NOT NULL,
        order_id TEXT,
        body BYTEA,
        PRIMARY KEY (customer_id, key),
        CHECK ((order_id IS NULL) = (body IS NULL))
    )
    """

ORDER_SCHEMA = Schema(
    "order",
    tables=frozenset({"orders", "outbox", "inbox", "idempotency_keys"}),
    migrations=(
        (
            *_ORDERS_TABLES,
            *OUTBOX_TABLES,
            *INBOX_TABLES,
            _IDEMPOTENCY_KEYS_TABLE,
            # The retention job deletes keys past their TTL, the oldest a batch at a time.
            "CREATE INDEX IF NOT EXISTS idempotency_keys_by_claimed_at ON idempotency_keys (claimed_at)",
        ),
    ),
)



def order_from_row(row: Sequence[Any]) -> Order:
    """The order in a row selected as ORDER_COLUMNS (its lines are JSONB, decoded by psycopg)."""
    return rows.order_from_row(row, row[-1])


def _values(order: Order) -> tuple[object, ...]:
    """The row's values, in the order of _WRITTEN."""
    return rows.order_values(order, order.placed_at, Jsonb(rows.order_lines(order)))


_WRITTEN = (
    "customer_id, status, cancel_reason, payment_id, placed_at, placed_instant, total, units, lines, order_id"
)
# ON CONFLICT DO NOTHING rather than catching the unique violation: an error would abort the whole
# transaction, where SQLite fails the one statement and the unit of work may go on.
_INSERT = (
    f"INSERT INTO orders ({_WRITTEN}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (order_id) DO NOTHING"
)
# Every column, as the in-memory repository replaces the whole order (the use cases never change its customer).
_UPDATE = (
    "UPDATE orders SET customer_id = %s, status = %s, cancel_reason = %s, payment_id = %s, placed_at = %s, "
    "placed_instant = %s, total = %s, units = %s, lines = %s WHERE order_id = %s"
)
_SELECT_ONE = f"SELECT {ORDER_COLUMNS} FROM orders WHERE order_id = %s"
# 'unpaid' is written out, not bound: only then can the planner tell that the partial indexes apply.
_SELECT_UNPAID_BEFORE = (
    f"SELECT {ORDER_COLUMNS} FROM orders WHERE status = 'unpaid' AND placed_instant < %s "
    "ORDER BY placed_instant, order_id"
)
_SELECT_HOLDINGS = (
    "SELECT count(*), sum(units), min(placed_instant) FROM orders "
    "WHERE customer_id = %s AND status = 'unpaid'"
)


class PostgresOrderRepository:
    def __init__(self, connect: Connect) -> None:
        self._connect = connect

    def get(self, order_id: str) -> Order | None:
        with self._connect() as connection:
            row = connection.execute(_SELECT_ONE, (order_id,)).fetchone()
        return None if row is None else order_from_row(row)

    def add(self, order: Order) -> None:
        with self._connect() as connection:
            added = connection.execute(_INSERT, _values(order))
        if added.rowcount == 0:
            raise ValueError(f"order {order.order_id!r} already exists")

    def save(self, order: Order) -> None:
        with self._connect() as connection:
            changed = connection.execute(_UPDATE, _values(order))
        if changed.rowcount == 0:
            raise ValueError(f"order {order.order_id!r} was never added")

    def unpaid_placed_before(self, cutoff: datetime) -> Sequence[Order]:
        with self._connect() as connection:
            rows = connection.execute(_SELECT_UNPAID_BEFORE, (cutoff,)).fetchall()
        return [order_from_row(row) for row in rows]

    def holdings_of(self, customer_id: str) -> Holdings:
        with self._connect() as connection:
            row = connection.execute(_SELECT_HOLDINGS, (customer_id,)).fetchone()
        if row is None or row[0] == 0:  # count(*) always gives a row; None only to please the type checker
            return NOTHING_HELD
        # In UTC, as SQLite gives it: the column keeps the instant, not the offset it was given in.
        orders, units, oldest = row
        return Holdings(orders, int(units), oldest.astimezone(UTC))


# The one statement that binds a claimed Idempotency-Key to its reply: in the order's unit of work, and by the
# store's own `fulfil` (adapters/postgres/idempotency.py).
BIND_REPLY = "UPDATE idempotency_keys SET order_id = %s, body = %s WHERE customer_id = %s AND key = %s"


class PostgresReplies:
    """Idempotency-Keys' replies, written in the unit of work's transaction (`Replies` in ordering_core.ports).

    No row is bound only if the claim's lease ran out and another request took the key over and released
    it; the key is then free and stays so, as the store's `fulfil` leaves it."""

    def __init__(self, connect: Connect) -> None:
        self._connect = connect

    def bind(self, customer_id: str, key: str, reply: Reply) -> None:
        with self._connect() as connection:
            connection.execute(BIND_REPLY, (reply.order_id, reply.body, customer_id, key))


class PostgresOrderUnitOfWork(PostgresUnitOfWork):
    """`orders`, `events` (the outbox), `inbox` and `replies`, in one transaction per `with` block."""

    def __init__(self, database: PostgresDatabase) -> None:
        super().__init__(database, *ORDER_SCHEMA.tables)
        self.orders = PostgresOrderRepository(self.connection)
        self.events = PostgresEventPublisher(self.connection)
        self.inbox = PostgresInbox(self.connection)
        self.replies = PostgresReplies(self.connection)
