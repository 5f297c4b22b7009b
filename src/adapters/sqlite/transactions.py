"""The SQLite unit of work (one write transaction per `with` block, per thread) and the inbox every service has.

A unit of work object is made once per service and shared by its threads: whether a block is open is kept
per thread, and each thread works on its own connection, so the event loop's thread and a consumer's thread
can each be inside a block at the same time (SQLite runs their write transactions one after the other).

Inside the block the repositories write into the open transaction; `commit()` makes it durable; leaving the
block rolls back whatever was not committed. Work after a `commit()` belongs to a new transaction, begun by
the first statement that needs it and again kept only if committed (as in `adapters.memory`). Outside a block
a repository reads the committed state and a write commits by itself, as the in-memory parts do.

Inside the database's `batch` (a consumer applying a poll's records) a block is a savepoint of the batch's
transaction instead: `commit()` releases it, leaving the block without one rolls back to it, so a record the
domain refuses takes back only its own writes; nothing is durable before the batch commits.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Self

from adapters.sqlite.database import Database

INBOX_TABLES = (
    """
    CREATE TABLE IF NOT EXISTS inbox (
        message_id TEXT PRIMARY KEY,
        recorded_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    ) STRICT
    """,
)

Connect = Callable[[], sqlite3.Connection]

_SAVEPOINT = "unit_of_work"  # a unit of work's block inside a batch (module docstring)


class SqliteUnitOfWork:
    """The transaction plumbing; subclasses add the repositories, each given `self.connection`."""

    def __init__(self, database: Database, *tables: str) -> None:
        database.require(*tables)
        self.database = database
        self._thread = threading.local()  # `open`: whether the calling thread is inside this unit's block
        self._commits_lock = threading.Lock()
        self.commits = 0

    def connection(self) -> sqlite3.Connection:
        """The calling thread's connection; inside the block, in this unit of work's transaction."""
        connection = self.database.connection()
        if getattr(self._thread, "open", False) and not self._working(connection):
            self._begin(connection)  # the first statement after a commit() starts the next one
        return connection

    def batch(self) -> AbstractContextManager[None]:
        """The database's batch (module docstring): this thread's units of work in one transaction."""
        return self.database.batch()

    def __enter__(self) -> Self:
        if getattr(self._thread, "open", False):
            raise RuntimeError("this unit of work is already open; units of work do not nest")
        # Begun now, not at the first statement, so a unit of work opened inside another one's block (they
        # share this thread's connection) is refused here (`Database.begin`, or in a batch
        # `Database.enter_unit`) rather than silently joining its transaction.
        if self.database.batching():
            self.database.enter_unit(self)
        self._begin(self.database.connection())
        self._thread.open = True
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._thread.open = False
        try:
            self._end(self.database.connection(), committed=False)
        finally:
            if self.database.batching():
                self.database.leave_unit()

    def commit(self) -> None:
        if not getattr(self._thread, "open", False):
            raise RuntimeError("commit() outside the unit of work's `with` block")
        self._end(self.database.connection(), committed=True)
        with self._commits_lock:
            self.commits += 1

    def _working(self, connection: sqlite3.Connection) -> bool:
        """Whether the calling thread's block has its transaction open now (in a batch, its savepoint)."""
        if self.database.batching():
            return getattr(self._thread, "savepoint", False)
        return connection.in_transaction

    def _begin(self, connection: sqlite3.Connection) -> None:
        if self.database.batching():
            connection.execute(f"SAVEPOINT {_SAVEPOINT}")
            self._thread.savepoint = True
        else:
            self.database.begin(connection)

    def _end(self, connection: sqlite3.Connection, *, committed: bool) -> None:
        if not self.database.batching():
            self.database.end(connection, "COMMIT" if committed else "ROLLBACK")
        elif getattr(self._thread, "savepoint", False):
            self._thread.savepoint = False
            # An error that ended the batch's transaction itself (a full disk) took the savepoint with it: the
            # batch fails as a whole, and that error is the one to tell.
            if connection.in_transaction:
                if not committed:
                    connection.execute(f"ROLLBACK TO {_SAVEPOINT}")
                connection.execute(f"RELEASE {_SAVEPOINT}")


class SqliteInbox:
    """The ids of the messages a consumer applied, in the `inbox` table."""

    def __init__(self, connect: Connect) -> None:
        self._connect = connect

    def seen(self, message_id: str) -> bool:
        row = self._connect().execute("SELECT 1 FROM inbox WHERE message_id = ?", (message_id,)).fetchone()
        return row is not None

    def record(self, message_id: str) -> None:
        # Recording twice is harmless, as adding to the in-memory inbox's set is. (Not OR IGNORE: that would
        # also drop, silently, a row breaking NOT NULL.)
        self._connect().execute(
            "INSERT INTO inbox (message_id) VALUES (?) ON CONFLICT (message_id) DO NOTHING", (message_id,)
        )
