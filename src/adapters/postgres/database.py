"""One PostgreSQL database (or schema) per service: its connection pool, its write transactions, its schema.

Which isolation, and why. The SQLite units of work run one writer at a time (BEGIN IMMEDIATE), so every use
case's check-then-write (the stock ledger reads the stock, checks the lines fit, writes the new levels; a
consumer checks its inbox, then applies and records the message) sees every earlier unit of work committed
and no later one started: the schedule is serial. These adapters keep exactly that: a unit of work's
transaction first takes the service's writer lock, `pg_advisory_xact_lock` on a key of the service's name,
held until COMMIT or ROLLBACK, across every instance sharing the database. In READ COMMITTED each statement
then reads everything committed before the lock was granted, so no stock is sold twice and no message is
applied twice, whatever the use case reads first.

Not SERIALIZABLE: a serialization failure must be answered by running the whole block again, and the block is
the caller's (an HTTP handler's or a consumer's `with uow:`), which the unit of work cannot re-run; every
caller would need a retry loop first. Not `SELECT ... FOR UPDATE` alone: the inbox check reads a row that is
not there yet, which no row lock covers, and two deliveries of one message would both apply it. The lock
also keeps outbox ids in commit order (ids are taken at INSERT; writers commit one after the other), which
is what lets the relay read "oldest first" by id. Its price is SQLite's: one writer per service at a time.
Reads never take it: views and the relay read committed rows, one statement each.

Every connection of the pool is in autocommit mode, so a statement outside a unit of work commits by itself,
as in SQLite; a unit of work switches its connection out of it for its block (`begin`). A lock wait is
bounded (`lock_timeout`, LOCK_TIMEOUT_S, like SQLite's busy timeout); waiting blocks the calling thread, so
an event loop hands its units of work to a thread.

Schema versions: the one mechanism of `adapters.schema`, as for SQLite, with the version kept in a
`schema_migrations` table (one row per version applied, and when) instead of PRAGMA user_version. They are
applied when the `PostgresDatabase` is made, in one transaction under an advisory lock of their own, so two
instances starting at once apply them one after the other and the second finds nothing to do.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import TracebackType
from typing import Self

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool

from adapters.schema import Schema, migrate

LOCK_TIMEOUT_S = 5.0
POOL_SIZE = 10  # the event loop's writer, a relay, a few consumers and the scrape, with room to spare

Connection = psycopg.Connection[TupleRow]


def lock_key(*names: str) -> int:
    """A stable signed 64-bit advisory lock key for `names` (Python's `hash` changes between processes)."""
    digest = hashlib.blake2b("\0".join(names).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


_LOCK = "SELECT pg_advisory_xact_lock(%s)"
_MIGRATIONS_TABLE = """
    CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER PRIMARY KEY,
        applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )
"""
_VERSION = "SELECT coalesce(max(version), 0) FROM schema_migrations"
_RECORD_VERSION = "INSERT INTO schema_migrations (version) VALUES (%s)"
_TABLES = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"


class PostgresDatabase:
    """A service's database at `url`, migrated to `schema` when this object is made.

    `namespace`: a PostgreSQL schema to keep the service's tables in (created if missing), for services
    sharing one database; None keeps them in the database's default (`public`), for a database per service.
    """

    def __init__(
        self,
        url: str,
        schema: Schema,
        *,
        namespace: str | None = None,
        pool_size: int = POOL_SIZE,
        lock_timeout_s: float = LOCK_TIMEOUT_S,
    ) -> None:
        self.schema = schema
        self.namespace = namespace
        self._writer_key = lock_key(namespace or "", schema.name, "writer")
        # `connection`: the calling thread's inside `batch`; `unit`: the unit of work whose block is open in it
        self._batch = threading.local()
        self._settings = sql.SQL("SET lock_timeout = {}").format(sql.Literal(f"{round(lock_timeout_s * 1000)}ms"))
        if namespace is not None:
            self._create_namespace(url, namespace)
        self.pool: ConnectionPool[Connection] = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True},
            configure=self._configure,
            reset=self._reset,
            open=False,
            name=f"{schema.name}-postgres",
        )
        self.pool.open(wait=True)
        try:
            self._migrate()
        except BaseException:
            self.pool.close()
            raise

    def __repr__(self) -> str:
        where = f", namespace={self.namespace!r}" if self.namespace else ""
        return f"PostgresDatabase({self.schema.name}{where})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close_all()

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A pooled connection in autocommit mode: each statement is its own transaction."""
        with self.pool.connection() as connection:
            yield connection

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction that does not take the writer lock (the relay marking rows sent): committed if the
        block ends normally, else rolled back."""
        with self.pool.connection() as connection, connection.transaction():
            yield connection

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction, holding the writer lock, for every unit of work this thread opens in the block:
        each one's block is a savepoint of it (`adapters.postgres.transactions`), and nothing is kept unless
        the whole block ends normally and its COMMIT succeeds. A consumer applies a poll's records so
        (adapters.messaging.worker): one lock, one round trip to commit and one WAL flush for them all."""
        with self.pool.connection() as connection:
            self.begin(connection)
            self._batch.connection = connection
            try:
                yield
            except BaseException:
                # On a lost connection this fails too, and the server has rolled back already: the error that
                # ended the block is the one to tell (the pool drops a broken connection).
                with suppress(psycopg.Error):
                    connection.rollback()
                raise
            finally:
                self._batch.connection = None
                self._batch.unit = None
            connection.commit()

    def batch_connection(self) -> Connection | None:
        """The connection of the calling thread's `batch`, None outside one."""
        connection: Connection | None = getattr(self._batch, "connection", None)
        return connection

    def enter_unit(self, unit: object) -> None:
        """`unit`'s block opens in the calling thread's batch: refused while another one's is open there
        (units of work do not nest)."""
        if getattr(self._batch, "unit", None) is not None:
            raise RuntimeError("a unit of work is already open in this thread's batch; they do not nest")
        self._batch.unit = unit

    def leave_unit(self) -> None:
        """The block `enter_unit` opened is over."""
        self._batch.unit = None

    def begin(self, connection: Connection) -> None:
        """Start a unit of work's transaction on `connection`, holding the service's writer lock until it
        ends (module docstring)."""
        connection.autocommit = False  # psycopg now opens a transaction at the first statement
        connection.execute(_LOCK, (self._writer_key,))

    def require(self, *tables: str) -> None:
        """Refuse, when the services are wired, an adapter given another service's database."""
        missing = set(tables) - self.schema.tables
        if missing:
            raise ValueError(
                f"{self!r} has no {', '.join(sorted(missing))} table; is it the wrong service's database?"
            )

    def close_all(self) -> None:
        """Close the pool, for good; call it once the threads using the database have stopped."""
        self.pool.close()

    def _configure(self, connection: Connection) -> None:
        connection.execute(self._settings)
        if self.namespace is not None:
            connection.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.namespace)))

    @staticmethod
    def _reset(connection: Connection) -> None:
        # A unit of work hands its connection back out of its transaction; the next user expects autocommit.
        connection.autocommit = True

    @staticmethod
    def _create_namespace(url: str, namespace: str) -> None:
        # Under a lock of its own, in one transaction: IF NOT EXISTS does not hold against a concurrent
        # CREATE, and two instances started at once on a new database would have one of them fail.
        with psycopg.connect(url) as connection, connection.transaction():
            connection.execute(_LOCK, (lock_key(namespace, "namespace"),))
            connection.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(namespace)))

    def _migrate(self) -> None:
        with self.transaction() as connection:
            connection.execute(_LOCK, (lock_key(self.namespace or "", self.schema.name, "migrations"),))
            connection.execute(_MIGRATIONS_TABLE)
            migrate(self.schema, _PostgresMigrating(connection), where=repr(self))


class _PostgresMigrating:
    """A database (or schema) inside `migrate`'s transaction; it keeps its versions in schema_migrations."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def version(self) -> int:
        row = self._connection.execute(_VERSION).fetchone()
        return 0 if row is None else int(row[0])

    def run(self, statement: str) -> None:
        self._connection.execute(statement.encode())  # our own constants, run as they are

    def record(self, version: int) -> None:
        self._connection.execute(_RECORD_VERSION, (version,))

    def tables(self) -> set[str]:
        return {name for (name,) in self._connection.execute(_TABLES)}
