"""PostgreSQL reads: what the HTTP endpoints show, each answer one SELECT on a pooled connection.

No unit of work and no writer lock: in autocommit mode a single statement reads one committed snapshot, and
in PostgreSQL a reader neither waits for a writer nor holds one up.
"""

from __future__ import annotations

from collections.abc import Sequence

from adapters.postgres.database import PostgresDatabase
from adapters.postgres.products import PRODUCT_COLUMNS, product_from_row
from ordering_core.products import Product

_PRODUCTS = f"SELECT {PRODUCT_COLUMNS} FROM products ORDER BY product_id"
_PRODUCT = f"SELECT {PRODUCT_COLUMNS} FROM products WHERE product_id = %s"


class PostgresProductViews:
    def __init__(self, database: PostgresDatabase) -> None:
        database.require("products")
        self._database = database

    def products(self) -> Sequence[Product]:
        with self._database.connection() as connection:
            return [product_from_row(row) for row in connection.execute(_PRODUCTS)]

    def product(self, product_id: str) -> Product | None:
        with self._database.connection() as connection:
            row = connection.execute(_PRODUCT, (product_id,)).fetchone()
        return None if row is None else product_from_row(row)
