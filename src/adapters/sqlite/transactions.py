"""The SQLite unit of work (one write transaction per `with` block, per thread) and the inbox every service has.

A unit of work object is made once per service and shared by its threads: whether a block is open is kept
per thread, and each thread works on its own connection, so the event loop's thread and a consumer's thread
can each be inside a block at the same time (SQLite runs their write transactions one after the other).

Inside the block the repositories write into the open transaction; `commit()` makes it durable; leaving the
block rolls back whatever was not committed. Work after a `commit()` belongs to a new transaction, begun by
the first statement that needs it and again kept only if committed (as in `adapters.memory`). Outside a block
a repository reads the committed state and a write commits by itself, as the in-memory parts do.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
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
        if not connection.in_transaction and getattr(self._thread, "open", False):
            self.database.begin(connection)  # the first statement after a commit() starts the next one
        return connection

    def __enter__(self) -> Self:
        if getattr(self._thread, "open", False):
            raise RuntimeError("this unit of work is already open; units of work do not nest")
        # Begun now, not at the first statement, so a unit of work opened inside another one's block (they
        # share this thread's connection) is refused here rather than silently joining its transaction.
        self.database.begin(self.database.connection())
        self._thread.open = True
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._thread.open = False
        self.database.end(self.database.connection(), "ROLLBACK")

    def commit(self) -> None:
        if not getattr(self._thread, "open", False):
            raise RuntimeError("commit() outside the unit of work's `with` block")
        self.database.end(self.database.connection(), "COMMIT")
        with self._commits_lock:
            self.commits += 1


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
