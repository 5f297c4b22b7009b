"""The Product Service's database: products, the stock ledger, the outbox and the inbox.

A price is a decimal string ("2.50"), never REAL, so it comes back as the same `Decimal`. A ledger entry is
one row per order id: its state and the lines it took, as JSON (always read and written whole).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from adapters.schema import Schema
from adapters.sqlite.database import Database
from adapters.sqlite.outbox import OUTBOX_TABLES, SqliteEventPublisher
from adapters.sqlite.transactions import INBOX_TABLES, Connect, SqliteInbox, SqliteUnitOfWork
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
                product_id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                price TEXT NOT NULL,
                stock INTEGER NOT NULL
            ) STRICT
            """,
            """
            CREATE TABLE IF NOT EXISTS ledger (
                order_id TEXT PRIMARY KEY,
                state TEXT NOT NULL,
                taken TEXT NOT NULL
            ) STRICT
            """,
            *OUTBOX_TABLES,
            *INBOX_TABLES,
        ),
    ),
)

PRODUCT_COLUMNS = "product_id, name, price, stock"

_INSERT_PRODUCT = f"INSERT INTO products ({PRODUCT_COLUMNS}) VALUES (?, ?, ?, ?)"
_UPDATE_PRODUCT = "UPDATE products SET name = ?, price = ?, stock = ? WHERE product_id = ?"
# One statement for any number of ids (the ids travel as one JSON array), so it is prepared once.
_SELECT_PRODUCTS = (
    f"SELECT {PRODUCT_COLUMNS} FROM products WHERE product_id IN (SELECT value FROM json_each(?))"
)
_SELECT_ENTRY = "SELECT order_id, state, taken FROM ledger WHERE order_id = ?"
_UPSERT_ENTRY = (
    "INSERT INTO ledger (order_id, state, taken) VALUES (?, ?, ?) "
    "ON CONFLICT (order_id) DO UPDATE SET state = excluded.state, taken = excluded.taken"
)


def product_from_row(row: Sequence[Any]) -> Product:
    """The product in a row selected as PRODUCT_COLUMNS."""
    product_id, name, price, stock = row
    return Product(product_id, name, Decimal(price), stock)


class SqliteProductRepository:
    def __init__(self, connect: Connect) -> None:
        self._connect = connect

    def get_many(self, product_ids: Iterable[str]) -> Mapping[str, Product]:
        wanted = list(product_ids)
        rows = self._connect().execute(_SELECT_PRODUCTS, (json.dumps(wanted),))
        found = {row[0]: product_from_row(row) for row in rows}
        # In the order asked for, as the in-memory repository answers.
        return {product_id: found[product_id] for product_id in wanted if product_id in found}

    def add(self, product: Product) -> None:
        try:
            self._connect().execute(
                _INSERT_PRODUCT, (product.product_id, product.name, str(product.price), product.stock)
            )
        except sqlite3.IntegrityError as error:
            if error.sqlite_errorname == "SQLITE_CONSTRAINT_PRIMARYKEY":
                raise ValueError(f"product {product.product_id!r} already exists") from None
            raise

    def save(self, product: Product) -> None:
        changed = self._connect().execute(
            _UPDATE_PRODUCT, (product.name, str(product.price), product.stock, product.product_id)
        )
        if changed.rowcount == 0:
            raise ValueError(f"product {product.product_id!r} was never added")


class SqliteStockLedger:
    def __init__(self, connect: Connect) -> None:
        self._connect = connect

    def entry_for(self, order_id: str) -> LedgerEntry | None:
        row = self._connect().execute(_SELECT_ENTRY, (order_id,)).fetchone()
        if row is None:
            return None
        order_id, state, taken = row
        lines = tuple(Line(item["product_id"], item["quantity"]) for item in json.loads(taken))
        return LedgerEntry(order_id, EntryState(state), lines)

    def save(self, entry: LedgerEntry) -> None:
        taken = [{"product_id": line.product_id, "quantity": line.quantity} for line in entry.taken]
        self._connect().execute(
            _UPSERT_ENTRY, (entry.order_id, entry.state.value, json.dumps(taken, separators=(",", ":")))
        )


class SqliteProductUnitOfWork(SqliteUnitOfWork):
    """`products`, `ledger`, `events` (the outbox) and `inbox`, in one transaction per `with` block."""

    def __init__(self, database: Database) -> None:
        super().__init__(database, *PRODUCT_SCHEMA.tables)
        self.products = SqliteProductRepository(self.connection)
        self.ledger = SqliteStockLedger(self.connection)
        self.events = SqliteEventPublisher(self.connection)
        self.inbox = SqliteInbox(self.connection)
