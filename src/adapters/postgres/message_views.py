"""What the Message Service's HTTP endpoint shows from PostgreSQL: an order's messages, one SELECT on a pooled
connection, as `adapters.postgres.views` reads the other services' tables (no unit of work, no writer lock).
"""

from __future__ import annotations

from collections.abc import Sequence

from adapters.postgres.database import PostgresDatabase
from adapters.rows import MESSAGE_COLUMNS, message_from_row
from ordering_core.messages import CustomerMessage

# Both read the index customer_messages_by_order; the second checks the customer on the rows it finds.
_MESSAGES = f"SELECT {MESSAGE_COLUMNS} FROM customer_messages WHERE order_id = %s ORDER BY seq"
_CUSTOMERS_MESSAGES = (
    f"SELECT {MESSAGE_COLUMNS} FROM customer_messages WHERE order_id = %s AND customer_id = %s ORDER BY seq"
)


class PostgresMessageViews:
    def __init__(self, database: PostgresDatabase) -> None:
        database.require("customer_messages")
        self._database = database

    def messages_for(self, order_id: str, *, customer_id: str | None) -> Sequence[CustomerMessage]:
        with self._database.connection() as connection:
            if customer_id is None:
                rows = connection.execute(_MESSAGES, (order_id,)).fetchall()
            else:
                rows = connection.execute(_CUSTOMERS_MESSAGES, (order_id, customer_id)).fetchall()
        return [message_from_row(row) for row in rows]
