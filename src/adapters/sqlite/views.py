"""SQLite reads: what the HTTP endpoints show, each answer one SELECT on the calling thread's connection.

No unit of work and no explicit transaction: a single statement already reads one committed snapshot, and in
WAL mode it neither waits for a writer nor holds one up.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product

from adapters.rows import MESSAGE_COLUMNS, ORDER_COLUMNS, message_from_row
from adapters.sqlite.database import Database
from adapters.sqlite.orders import order_from_row
from adapters.sqlite.products import PRODUCT_COLUMNS, product_from_row
from ordering_core.messages import CustomerMessage
from ordering_core.orders import Order
from ordering_core.products import Product

_ORDER = f"SELECT {ORDER_COLUMNS} FROM orders WHERE order_id = ?"


def _orders_page(*, of_customer: bool, after: bool, newest_first: bool) -> str:
    """The SELECT of one page of orders, its parameters named :customer_id, :after and :limit.

    Everyone's pages read the index orders_by_placed_at, a customer's orders_of_customer (forwards, or backwards
    for newest first). The page after a given order compares with that order's place in the sequence; when
    there is no such order, or it is not the customer's, the subquery gives NULLs, the comparison is never true
    and the page is empty, as in memory.
    """
    theirs = "customer_id = :customer_id"
    conditions = [theirs] if of_customer else []
    if after:
        cursor = " AND ".join(["order_id = :after", *conditions])
        beyond = "<" if newest_first else ">"
        conditions.append(
            f"(placed_at_us, order_id) {beyond} (SELECT placed_at_us, order_id FROM orders WHERE {cursor})"
        )
    where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
    direction = " DESC" if newest_first else ""
    return (
        f"SELECT {ORDER_COLUMNS} FROM orders {where}"
        f"ORDER BY placed_at_us{direction}, order_id{direction} LIMIT :limit"
    )


# Made once, so each is a constant that sqlite3 prepares once per connection; keyed as _orders_page's flags.
_ORDER_PAGES = {
    flags: _orders_page(of_customer=flags[0], after=flags[1], newest_first=flags[2])
    for flags in product((False, True), repeat=3)
}
_PRODUCTS = f"SELECT {PRODUCT_COLUMNS} FROM products ORDER BY product_id"
_PRODUCT = f"SELECT {PRODUCT_COLUMNS} FROM products WHERE product_id = ?"
# Both read the index customer_messages_by_order; the second checks the customer on the rows it finds.
_MESSAGES = f"SELECT {MESSAGE_COLUMNS} FROM customer_messages WHERE order_id = ? ORDER BY seq"
_CUSTOMERS_MESSAGES = (
    f"SELECT {MESSAGE_COLUMNS} FROM customer_messages WHERE order_id = ? AND customer_id = ? ORDER BY seq"
)


class SqliteOrderViews:
    def __init__(self, database: Database) -> None:
        database.require("orders")
        self._database = database

    def order(self, order_id: str) -> Order | None:
        row = self._database.connection().execute(_ORDER, (order_id,)).fetchone()
        return None if row is None else order_from_row(row)

    def orders(
        self, *, customer_id: str | None, after: str | None, limit: int, newest_first: bool = False
    ) -> Sequence[Order]:
        page = _ORDER_PAGES[customer_id is not None, after is not None, newest_first]
        parameters = {"customer_id": customer_id, "after": after, "limit": limit}
        return [order_from_row(row) for row in self._database.connection().execute(page, parameters)]


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

    def messages_for(self, order_id: str, *, customer_id: str | None) -> Sequence[CustomerMessage]:
        connection = self._database.connection()
        if customer_id is None:
            rows = connection.execute(_MESSAGES, (order_id,))
        else:
            rows = connection.execute(_CUSTOMERS_MESSAGES, (order_id, customer_id))
        return [message_from_row(row) for row in rows]
