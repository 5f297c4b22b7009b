"""PostgreSQL reads of the Order Service: an order, and the pages of everyone's or one customer's orders.

Each answer is one SELECT on a pooled connection in autocommit mode, so it reads one committed snapshot and
takes no writer lock (as `adapters.postgres.views`).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product

from adapters.postgres.database import PostgresDatabase
from adapters.postgres.orders import order_from_row
from adapters.rows import ORDER_COLUMNS
from ordering_core.orders import Order

_ORDER = f"SELECT {ORDER_COLUMNS} FROM orders WHERE order_id = %s"


def _orders_page(*, of_customer: bool, after: bool, newest_first: bool) -> str:
    """The SELECT of one page of orders, its parameters named customer_id, after and limit.

    Everyone's pages read the index orders_by_placed_at, a customer's orders_of_customer (forwards, or backwards
    for newest first). The page after a given order compares with that order's place in the sequence; when
    there is no such order, or it is not the customer's, the subquery gives no row, the comparison is NULL
    and the page is empty, as in memory and in SQLite.
    """
    theirs = "customer_id = %(customer_id)s"
    conditions = [theirs] if of_customer else []
    if after:
        cursor = " AND ".join(["order_id = %(after)s", *conditions])
        beyond = "<" if newest_first else ">"
        conditions.append(
            f"(placed_instant, order_id) {beyond} (SELECT placed_instant, order_id FROM orders WHERE {cursor})"
        )
    where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
    direction = " DESC" if newest_first else ""
    return (
        f"SELECT {ORDER_COLUMNS} FROM orders {where}"
        f"ORDER BY placed_instant{direction}, order_id{direction} LIMIT %(limit)s"
    )


# Made once, keyed as _orders_page's flags: psycopg prepares a statement it sees often, by its text.
_ORDER_PAGES = {
    flags: _orders_page(of_customer=flags[0], after=flags[1], newest_first=flags[2])
    for flags in product((False, True), repeat=3)
}


class PostgresOrderViews:
    def __init__(self, database: PostgresDatabase) -> None:
        database.require("orders")
        self._database = database

    def order(self, order_id: str) -> Order | None:
        with self._database.connection() as connection:
            row = connection.execute(_ORDER, (order_id,)).fetchone()
        return None if row is None else order_from_row(row)

    def orders(
        self, *, customer_id: str | None, after: str | None, limit: int, newest_first: bool = False
    ) -> Sequence[Order]:
        page = _ORDER_PAGES[customer_id is not None, after is not None, newest_first]
        parameters = {"customer_id": customer_id, "after": after, "limit": limit}
        with self._database.connection() as connection:
            rows = connection.execute(page, parameters).fetchall()
        return [order_from_row(row) for row in rows]
