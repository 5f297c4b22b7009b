"""SQLite reads: what the HTTP endpoints show, each answer one SELECT on the calling thread's connection.

No unit of work and no explicit transaction: a single statement already reads one committed snapshot, and in
WAL mode it neither waits for a writer nor holds one up.
"""

from __future__ import annotations

from collections.abc import Sequence

from adapters.sqlite.database import Database
from adapters.sqlite.messages import MESSAGE_COLUMNS, message_from_row
from adapters.sqlite.orders import ORDER_COLUMNS, order_from_row
from adapters.sqlite.products import PRODUCT_COLUMNS, product_from_row
from ordering_core.messages import CustomerMessage
from ordering_core.orders import Order
from ordering_core.products import Product

_ORDER = f"SELECT {ORDER_COLUMNS} FROM orders WHERE order_id = ?"
_FIRST_ORDERS = f"SELECT {ORDER_COLUMNS} FROM orders ORDER BY placed_at_us, order_id LIMIT ?"
# The page after a given order; when there is no such order the subquery gives NULLs, the comparison is never
# true and the page is empty, as in memory.
_ORDERS_AFTER = (
    f"SELECT {ORDER_COLUMNS} FROM orders "
    "WHERE (placed_at_us, order_id) > (SELECT placed_at_us, order_id FROM orders WHERE order_id = ?) "
    "ORDER BY placed_at_us, order_id LIMIT ?"
)
# The same two, newest first: the index orders_by_placed_at is read backwards.
_NEWEST_ORDERS = f"SELECT {ORDER_COLUMNS} FROM orders ORDER BY placed_at_us DESC, order_id DESC LIMIT ?"
_NEWER_ORDERS_AFTER = (
    f"SELECT {ORDER_COLUMNS} FROM orders "
    "WHERE (placed_at_us, order_id) < (SELECT placed_at_us, order_id FROM orders WHERE order_id = ?) "
    "ORDER BY placed_at_us DESC, order_id DESC LIMIT ?"
)
_PRODUCTS = f"SELECT {PRODUCT_COLUMNS} FROM products ORDER BY product_id"
_PRODUCT = f"SELECT {PRODUCT_COLUMNS} FROM products WHERE product_id = ?"
_MESSAGES = f"SELECT {MESSAGE_COLUMNS} FROM customer_messages WHERE order_id = ? ORDER BY seq"


class SqliteOrderViews:
    def __init__(self, database: Database) -> None:
        database.require("orders")
        self._database = database

    def order(self, order_id: str) -> Order | None:
        row = self._database.connection().execute(_ORDER, (order_id,)).fetchone()
        return None if row is None else order_from_row(row)

    def orders(self, *, after: str | None, limit: int, newest_first: bool = False) -> Sequence[Order]:
        connection = self._database.connection()
        if after is None:
            rows = connection.execute(_NEWEST_ORDERS if newest_first else _FIRST_ORDERS, (limit,))
        else:
            rows = connection.execute(_NEWER_ORDERS_AFTER if newest_first else _ORDERS_AFTER, (after, limit))
        return [order_from_row(row) for row in rows]


class SqliteProductViews:
    def __init__(self, database: Database) -> None:
        database.require("products")
        self._database = database

    def products(self) -> Sequence[Product]:
        return [product_from_row(row) for row in self._database.connection().execute(_PRODUCTS)]

    def product(self, product_id: str) -> Product | None:
        row = self._database.connection().execute(_PRODUCT, (product_id,)).fetchone()
        return None if row is None else product_from_row(row)


class SqliteMessageViews:
    def __init__(self, database: Database) -> None:
        database.require("customer_messages")
        self._database = database

    def messages_for(self, order_id: str) -> Sequence[CustomerMessage]:
        rows = self._database.connection().execute(_MESSAGES, (order_id,))
        return [message_from_row(row) for row in rows]
