"""The Product Service's database in PostgreSQL: products, the stock ledger, the outbox and the inbox.

A price is the Decimal's own text ("2.50"), as in SQLite, not NUMERIC: NUMERIC would give back 0.00 for a
Decimal("0E-2"), and the contract holds every adapter to returning exactly what it was given. A ledger entry
is one row per order id: its state and the lines it took, as JSONB (always read and written whole).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from psycopg.types.json import Jsonb

from adapters.postgres.database import PostgresDatabase
from adapters.postgres.outbox import OUTBOX_TABLES, PostgresEventPublisher
from adapters.postgres.transactions import INBOX_TABLES, Connect, PostgresInbox, PostgresUnitOfWork
from adapters.schema import Schema
from ordering_core.products import Product
from ordering_core.stock import EntryState, LedgerEntry
from ordering_core.values import Line

PRODUCT_SCHEMA = Schema(
    "product",
    tables=frozenset({"products", "ledger", "outbox", "inbox"}),
    migrations=(
        (
            """
            CREATE TABLE IF NOT EXISTS products (
                product_id TEXT COLLATE "C" PRIMARY KEY,  -- listed byte by byte, as SQLite sorts text
                name TEXT NOT NULL,
                price TEXT NOT NULL,
                stock INTEGER NOT NULL
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS ledger (
                order_id TEXT PRIMARY KEY,
                state TEXT NOT NULL,
                taken JSONB NOT NULL
            )
            """,
            *OUTBOX_TABLES,
            *INBOX_TABLES,
        ),
    ),
)

PRODUCT_COLUMNS = "product_id, name, price, stock"

# ON CONFLICT DO NOTHING rather than catching the unique violation: an error would abort the whole
# transaction, where SQLite fails the one statement and the unit of work may go on.
_INSERT_PRODUCT = (
    f"INSERT INTO products ({PRODUCT_COLUMNS}) VALUES (%s, %s, %s, %s) "
    "ON CONFLICT (product_id) DO NOTHING"
)
_UPDATE_PRODUCT = "UPDATE products SET name = %s, price = %s, stock = %s WHERE product_id = %s"
_SELECT_PRODUCTS = f"SELECT {PRODUCT_COLUMNS} FROM products WHERE product_id = ANY(%s)"
_SELECT_ENTRY = "SELECT order_id, state, taken FROM ledger WHERE order_id = %s"
_UPSERT_ENTRY = (
    "INSERT INTO ledger (order_id, state, taken) VALUES (%s, %s, %s) "
    "ON CONFLICT (order_id) DO UPDATE SET state = excluded.state, taken = excluded.taken"
)


def product_from_row(row: Sequence[Any]) -> Product:
    """The product in a row selected as PRODUCT_COLUMNS."""
    product_id, name, price, stock = row
    return Product(product_id, name, Decimal(price), stock)


class PostgresProductRepository:
    def __init__(self, connect: Connect) -> None:
        self._connect = connect

    def get_many(self, product_ids: Iterable[str]) -> Mapping[str, Product]:
        wanted = list(product_ids)
        with self._connect() as connection:
            rows = connection.execute(_SELECT_PRODUCTS, (wanted,)).fetchall()
        found = {row[0]: product_from_row(row) for row in rows}
        # In the order asked for, as the in-memory repository answers.
        return {product_id: found[product_id] for product_id in wanted if product_id in found}

    def add(self, product: Product) -> None:
        with self._connect() as connection:
            added = connection.execute(
                _INSERT_PRODUCT, (product.product_id, product.name, str(product.price), product.stock)
            )
        if added.rowcount == 0:
            raise ValueError(f"product {product.product_id!r} already exists")

    def save(self, product: Product) -> None:
        with self._connect() as connection:
            changed = connection.execute(
                _UPDATE_PRODUCT, (product.name, str(product.price), product.stock, product.product_id)
            )
        if changed.rowcount == 0:
            raise ValueError(f"product {product.product_id!r} was never added")


class PostgresStockLedger:
    def __init__(self, connect: Connect) -> None:
        self._connect = connect

    def entry_for(self, order_id: str) -> LedgerEntry | None:
        with self._connect() as connection:
            row = connection.execute(_SELECT_ENTRY, (order_id,)).fetchone()
        if row is None:
            return None
        order_id, state, taken = row
        lines = tuple(Line(item["product_id"], item["quantity"]) for item in taken)
        return LedgerEntry(order_id, EntryState(state), lines)

    def save(self, entry: LedgerEntry) -> None:
        taken = [{"product_id": line.product_id, "quantity": line.quantity} for line in entry.taken]
        with self._connect() as connection:
            connection.execute(_UPSERT_ENTRY, (entry.order_id, entry.state.value, Jsonb(taken)))


class PostgresProductUnitOfWork(PostgresUnitOfWork):
    """`products`, `ledger`, `events` (the outbox) and `inbox`, in one transaction per `with` block."""

    def __init__(self, database: PostgresDatabase) -> None:
        super().__init__(database, *PRODUCT_SCHEMA.tables)
        self.products = PostgresProductRepository(self.connection)
        self.ledger = PostgresStockLedger(self.connection)
        self.events = PostgresEventPublisher(self.connection)
        self.inbox = PostgresInbox(self.connection)
