"""A unit of work whose connection is lost (the server restarted, failed over, or ended the session) fails with
the connection's error, and gives the connection back to the pool, which replaces it: the next units of work
run, without a restart, however many failed before."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import psycopg
import pytest

from adapters.postgres.database import PostgresDatabase
from adapters.postgres.products import PRODUCT_SCHEMA, PostgresProductUnitOfWork
from ordering_core import Product

pytestmark = pytest.mark.postgres

POOL_SIZE = 2
PEN = Product("pen", "Pen", Decimal("2.50"), 1)


@pytest.fixture
def database(postgres_url: str, postgres_namespace: str) -> Iterator[PostgresDatabase]:
    with PostgresDatabase(postgres_url, PRODUCT_SCHEMA, namespace=postgres_namespace, pool_size=POOL_SIZE) as db:
        yield db


def cut_connections(database: PostgresDatabase, url: str) -> None:
    """End the server side of every connection the pool holds (pg_terminate_backend), as a restart would."""
    backends = []
    for _ in range(POOL_SIZE):
        connection = database.pool.getconn()
        backends.append(connection.info.backend_pid)
        database.pool.putconn(connection)
    with psycopg.connect(url, autocommit=True) as admin:
        for backend in backends:
            admin.execute("SELECT pg_terminate_backend(%s)", (backend,))


class TestALostConnection:
    def test_fails_its_unit_of_work_and_the_next_ones_run_on_new_connections(self, database, postgres_url):
        uow = PostgresProductUnitOfWork(database)
        failures = []
        for _ in range(POOL_SIZE + 1):  # more than the pool holds: a kept connection would starve the next
            cut_connections(database, postgres_url)
            with pytest.raises(psycopg.OperationalError) as failed, uow:
                uow.products.add(PEN)
                uow.commit()
            failures.append(type(failed.value).__name__)

        with uow:
            uow.products.add(PEN)
            uow.commit()

        assert all(name != "PoolTimeout" for name in failures)
        assert [p.product_id for p in uow.products.get_many(["pen"]).values()] == ["pen"]
