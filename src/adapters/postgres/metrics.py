"""PostgreSQL reads for the metrics a service reports when scraped (adapters/metrics.py) that no view already
makes, as `adapters.sqlite.metrics`: one statement on a pooled connection, on the scrape's thread."""

from __future__ import annotations

from adapters.postgres.database import PostgresDatabase

_ORDERS_BY_STATUS = "SELECT status, count(*) FROM orders GROUP BY status"


class PostgresOrderCounts:
    def __init__(self, database: PostgresDatabase) -> None:
        database.require("orders")
        self._database = database

    def by_status(self) -> dict[str, int]:
        """How many orders are in each status; a status no order is in is absent."""
        with self._database.connection() as connection:
            return dict(connection.execute(_ORDERS_BY_STATUS).fetchall())
