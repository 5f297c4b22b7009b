"""The PostgreSQL unit of work (one transaction per `with` block, per thread) and the inbox every service has.

As in `adapters.sqlite.transactions`: a unit of work object is made once per service and shared by its
threads; whether a block is open, and the pooled connection it holds for the block, are kept per thread.
Inside the block the repositories write into the open transaction, which holds the service's writer lock
(`adapters.postgres.database`); `commit()` makes it durable; leaving the block rolls back whatever was not
committed. Work after a `commit()` belongs to a new transaction, begun (and locked again) by the first
statement that needs it. Outside a block a repository borrows a connection from the pool for one statement:
a read sees the committed state and a write commits by itself, as the in-memory parts do.

Inside the database's `batch` (a consumer applying a poll's records) a block is a savepoint of the batch's
transaction, on the batch's connection, instead: `commit()` releases it, leaving the block without one rolls
back to it, so a record the domain refuses takes back only its own writes; nothing is durable before the
batch commits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from types import TracebackType
from typing import Self

import psycopg
from psycopg.pq import TransactionStatus

from adapters.postgres.database import Connection, PostgresDatabase

INBOX_TABLES = (
    """
    CREATE TABLE IF NOT EXISTS inbox (
        message_id TEXT PRIMARY KEY,
        recorded_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )
    """,
    # The retention job deletes the oldest ids a batch at a time: without it, each batch sorts the whole table.
    "CREATE INDEX IF NOT EXISTS inbox_by_recorded_at ON inbox (recorded_at)",
)

Connect = Callable[[], AbstractContextManager[Connection]]

_SAVEPOINT = "unit_of_work"  # a unit of work's block inside a batch (module docstring)


class PostgresUnitOfWork:
    """The transaction plumbing; subclasses add the repositories, each given `self.connection`."""

    def __init__(self, database: PostgresDatabase, *tables: str) -> None:
        database.require(*tables)
        self.database = database
        self._thread = threading.local()  # `held`: the pooled connection of the calling thread's open block
        self._commits_lock = threading.Lock()
        self.commits = 0

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """Inside the block, its connection, in this unit of work's transaction; outside, a pooled one."""
        held: Connection | None = getattr(self._thread, "held", None)
        if held is None:
            with self.database.connection() as connection:
                yield connection
            return
        if held is self.database.batch_connection():
            if not getattr(self._thread, "savepoint", False):
                self._savepoint(held)  # the first statement after a commit() starts the next one
        elif held.info.transaction_status == TransactionStatus.IDLE:
            self.database.begin(held)  # the first statement after a commit() starts the next transaction
        yield held

    def batch(self) -> AbstractContextManager[None]:
        """The database's batch (module docstring): this thread's units of work in one transaction."""
        return self.database.batch()

    def __enter__(self) -> Self:
        if getattr(self._thread, "held", None) is not None:
            raise RuntimeError("this unit of work is already open; units of work do not nest")
        batch = self.database.batch_connection()
        if batch is not None:
            self.database.enter_unit(self)
            self._savepoint(batch)
            self._thread.held = batch
            return self
        connection = self.database.pool.getconn()
        try:
            # Begun now, not at the first statement, as SQLite's BEGIN IMMEDIATE: the block waits for the
            # writer lock here, before the use case reads anything.
            self.database.begin(connection)
        except BaseException:
            # The connection may be the reason (lost, its server gone): then rolling back fails too, and that
            # must neither hide the first error nor keep the connection from the pool (which drops a broken one).
            with suppress(psycopg.Error):
                connection.rollback()
            self.database.pool.putconn(connection)
            raise
        self._thread.held = connection
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        connection: Connection = self._thread.held
        self._thread.held = None
        if connection is self.database.batch_connection():
            self.database.leave_unit()
            # Not suppressed, unlike below: a batch whose refused unit could not be taken back must not commit.
            if getattr(self._thread, "savepoint", False):
                self._thread.savepoint = False
                connection.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
                connection.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")
            return
        # A no-op when everything was committed. On a lost connection it fails, and the server has rolled back
        # already: the error that ended the block, if any, is the one to tell.
        with suppress(psycopg.Error):
            connection.rollback()
        self.database.pool.putconn(connection)

    def commit(self) -> None:
        held: Connection | None = getattr(self._thread, "held", None)
        if held is None:
            raise RuntimeError("commit() outside the unit of work's `with` block")
        if held is not self.database.batch_connection():
            held.commit()
        elif getattr(self._thread, "savepoint", False):
            self._thread.savepoint = False
            held.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")
        with self._commits_lock:
            self.commits += 1

    def _savepoint(self, connection: Connection) -> None:
        connection.execute(f"SAVEPOINT {_SAVEPOINT}")
        self._thread.savepoint = True


class PostgresInbox:
    """The ids of the messages a consumer applied, in the `inbox` table."""

    def __init__(self, connect: Connect) -> None:
        self._connect = connect

    def seen(self, message_id: str) -> bool:
        with self._connect() as connection:
            row = connection.execute("SELECT 1 FROM inbox WHERE message_id = %s", (message_id,)).fetchone()
        return row is not None

    def record(self, message_id: str) -> None:
        # Recording twice is harmless, as adding to the in-memory inbox's set is.
        with self._connect() as connection:
            connection.execute(
                "INSERT INTO inbox (message_id) VALUES (%s) ON CONFLICT (message_id) DO NOTHING", (message_id,)
            )
