"""Where each service keeps its state, chosen by DATABASE_URL: a SQLite file in DATA_DIR (unset: the embedded
default, one process per service) or PostgreSQL (set: as many instances as wanted, sharing it).

Each function here opens one service's database and returns its parts, whichever the engine: what the
composition root wires into the app, the consumers, the relay and the periodic jobs, and what it closes at
shutdown. The two engines' adapters keep one contract (tests/contract/test_storage_contract.py), so nothing
past this module knows which one it got.

On PostgreSQL each service keeps its tables in a schema of its own (`NAMESPACES`), so the three may share
one database, or each have its own: DATABASE_URL is the process's, and names whichever database the operator
chose (docs/deploying.md). Every instance of a service runs an outbox relay; the relay lease
(adapters.postgres.lease) lets exactly one of them publish.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Protocol

import psycopg
from attrs import frozen

from adapters.http.probes import Check
from adapters.http.problems import DatabaseErrors
from adapters.messaging.relay import Lease, Outbox
from adapters.messaging.worker import Batch
from adapters.postgres import messages as pg_messages
from adapters.postgres import orders as pg_orders
from adapters.postgres import products as pg_products
from adapters.postgres.database import PostgresDatabase
from adapters.postgres.idempotency import PostgresIdempotencyStore
from adapters.postgres.lease import RelayLease
from adapters.postgres.message_views import PostgresMessageViews
from adapters.postgres.metrics import PostgresOrderCounts
from adapters.postgres.order_views import PostgresOrderViews
from adapters.postgres.outbox import PostgresOutbox
from adapters.postgres.retention import PostgresPruner
from adapters.postgres.views import PostgresProductViews
from adapters.postgres.writer import PostgresWriter
from adapters.retention import Pruned, Retention
from adapters.sqlite import messages as sqlite_messages
from adapters.sqlite import orders as sqlite_orders
from adapters.sqlite import products as sqlite_products
from adapters.sqlite.database import Database
from adapters.sqlite.idempotency import SqliteIdempotencyStore
from adapters.sqlite.metrics import SqliteOrderCounts
from adapters.sqlite.outbox import SqliteOutbox
from adapters.sqlite.retention import SqlitePruner
from adapters.sqlite.views import SqliteMessageViews, SqliteOrderViews, SqliteProductViews
from adapters.sqlite.writer import Writer
from ordering_core.ports import (
    IdempotencyStore,
    MessageUnitOfWork,
    MessageViews,
    Offload,
    OrderUnitOfWork,
    OrderViews,
    ProductUnitOfWork,
    ProductViews,
)

# The PostgreSQL schema each service keeps its tables in.
NAMESPACES = {"order": "order_service", "product": "product_service", "message": "message_service"}


class Pruner(Protocol):
    def prune(self, now: datetime) -> Pruned: ...


@frozen
class Where:
    """Which database a service uses, from its settings."""

    database_url: str | None  # None: SQLite in data_dir
    data_dir: Path
    retention: Retention


@frozen
class Storage:
    """What every service needs of its database, whichever the engine."""

    check: Check  # the readiness probe's "database"
    pruner: Pruner  # the retention job's (entrypoints.retention)
    closers: tuple[Callable[[], None], ...]  # at shutdown, in order, once nothing uses the database
    unavailable: DatabaseErrors  # what the engine raises when it does not answer: the app's 503
    batch: Batch  # the consumer's: several records' units of work in one transaction (adapters.messaging.worker)


@frozen
class OrderStorage:
    uow: OrderUnitOfWork  # one for the service, shared by its threads
    offload: Offload  # where the event loop's units of work run
    views: OrderViews
    idempotency: IdempotencyStore
    outbox: Outbox
    relay_lease: Lease | None  # None: this process is the only one, and relays
    orders_by_status: Callable[[], dict[str, int]]
    common: Storage


@frozen
class ProductStorage:
    uow: ProductUnitOfWork
    offload: Offload
    views: ProductViews
    outbox: Outbox
    relay_lease: Lease | None
    common: Storage


@frozen
class MessageStorage:
    uow: MessageUnitOfWork
    views: MessageViews
    common: Storage


def order_storage(where: Where) -> OrderStorage:
    ttl = where.retention.idempotency_keys
    if where.database_url is None:
        database = Database(where.data_dir / "order.db", sqlite_orders.ORDER_SCHEMA)
        writer = Writer(database)
        return OrderStorage(
            uow=sqlite_orders.SqliteOrderUnitOfWork(database),
            offload=writer,
            views=SqliteOrderViews(database),
            idempotency=SqliteIdempotencyStore(database, ttl=ttl),
            outbox=SqliteOutbox(database),
            relay_lease=None,
            orders_by_status=SqliteOrderCounts(database).by_status,
            common=_sqlite(database, where.retention, writer.close),
        )
    shared = PostgresDatabase(where.database_url, pg_orders.ORDER_SCHEMA, namespace=NAMESPACES["order"])
    pg_writer = PostgresWriter(shared)
    return OrderStorage(
        uow=pg_orders.PostgresOrderUnitOfWork(shared),
        offload=pg_writer,
        views=PostgresOrderViews(shared),
        idempotency=PostgresIdempotencyStore(shared, ttl=ttl),
        outbox=PostgresOutbox(shared),
        relay_lease=RelayLease(shared, where.database_url),
        orders_by_status=PostgresOrderCounts(shared).by_status,
        common=_postgres(shared, where.retention, pg_writer.close),
    )


def product_storage(where: Where) -> ProductStorage:
    if where.database_url is None:
        database = Database(where.data_dir / "product.db", sqlite_products.PRODUCT_SCHEMA)
        writer = Writer(database)
        return ProductStorage(
            uow=sqlite_products.SqliteProductUnitOfWork(database),
            offload=writer,
            views=SqliteProductViews(database),
            outbox=SqliteOutbox(database),
            relay_lease=None,
            common=_sqlite(database, where.retention, writer.close),
        )
    shared = PostgresDatabase(where.database_url, pg_products.PRODUCT_SCHEMA, namespace=NAMESPACES["product"])
    pg_writer = PostgresWriter(shared)
    return ProductStorage(
        uow=pg_products.PostgresProductUnitOfWork(shared),
        offload=pg_writer,
        views=PostgresProductViews(shared),
        outbox=PostgresOutbox(shared),
        relay_lease=RelayLease(shared, where.database_url),
        common=_postgres(shared, where.retention, pg_writer.close),
    )


def message_storage(where: Where) -> MessageStorage:
    if where.database_url is None:
        database = Database(where.data_dir / "message.db", sqlite_messages.MESSAGE_SCHEMA)
        return MessageStorage(
            uow=sqlite_messages.SqliteMessageUnitOfWork(database),
            views=SqliteMessageViews(database),
            common=_sqlite(database, where.retention),
        )
    shared = PostgresDatabase(where.database_url, pg_messages.MESSAGE_SCHEMA, namespace=NAMESPACES["message"])
    return MessageStorage(
        uow=pg_messages.PostgresMessageUnitOfWork(shared),
        views=PostgresMessageViews(shared),
        common=_postgres(shared, where.retention),
    )


def _sqlite(database: Database, retention: Retention, *closers: Callable[[], None]) -> Storage:
    def ping() -> None:
        database.connection().execute("SELECT 1").fetchone()

    return Storage(
        check=_check(ping, sqlite3.Error),
        pruner=SqlitePruner(database, retention),
        closers=(*closers, database.close_all),
        unavailable=SQLITE_UNAVAILABLE,
        batch=database.batch,
    )


def _postgres(database: PostgresDatabase, retention: Retention, *closers: Callable[[], None]) -> Storage:
    def ping() -> None:
        with database.connection() as connection:
            connection.execute("SELECT 1")

    return Storage(
        check=_check(ping, psycopg.Error),
        pruner=PostgresPruner(database, retention),
        closers=(*closers, database.close_all),
        unavailable=POSTGRES_UNAVAILABLE,
        batch=database.batch,
    )


def _sqlite_busy(error: Exception) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if code is None:  # raised by adapters.sqlite.database itself, when its own writer lock timed out
        return str(error).startswith("database is locked")
    return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)  # the primary code of an extended one


# SQLite's OperationalError is also "no such table" or a syntax error: bugs, which stay 500s. Only a database
# still locked by another writer when the busy timeout ran out is an outage.
SQLITE_UNAVAILABLE = DatabaseErrors((sqlite3.OperationalError,), when=_sqlite_busy)
# psycopg's OperationalError is the server's or the connection's state, never the statement's (a missing
# table is a ProgrammingError): the server down, restarting or failing over, a lost connection, the pool
# timing out (PoolTimeout) or closed at shutdown (PoolClosed), a lock wait over lock_timeout
# (LockNotAvailable), a deadlock or a serialization failure (rolled back, so a retry may pass).
POSTGRES_UNAVAILABLE = DatabaseErrors((psycopg.OperationalError,))


def _check(ping: Callable[[], None], failure: type[Exception]) -> Check:
    async def check() -> str | None:
        try:
            await asyncio.to_thread(ping)
        except failure as error:  # anything else is a bug, reported by the probe as a reason too
            return f"{type(error).__name__}: {error}"
        return None

    return check
