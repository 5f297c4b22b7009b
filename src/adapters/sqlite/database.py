"""One SQLite file per service: its connections (one per thread), its write transactions and its schema.

Every connection is set up alike:
- WAL journal: readers never wait for the writer nor the writer for readers, so HTTP handlers read while the
  relay and the consumers write;
- synchronous=NORMAL: in WAL mode a commit is not synced to disk at once. A crash of the process loses
  nothing; a power cut can lose the last commits but never corrupts the file (the outbox and the inbox stay
  consistent with the rest, because they are in the same transactions);
- a busy timeout: a writer waits up to 5 s for another writer's transaction instead of failing at once;
- foreign keys enforced (SQLite leaves them off by default; on, any future child table is checked);
- incremental auto-vacuum: the pages rows leave free are kept for new rows until the retention job
  (`adapters.sqlite.retention`) gives them back to the file system with `PRAGMA incremental_vacuum`. It is
  set before a new file has a table; a file an earlier release made without it is rebuilt once with
  VACUUM when it is opened (see `Database`);
- `isolation_level=None`: the sqlite3 module never opens a transaction on its own, so a statement outside
  a unit of work commits by itself and a unit of work's transaction is exactly what it says (BEGIN IMMEDIATE).

Connections are per thread (the event loop's thread and the worker threads use one `Database` at the same
time; a sqlite3 connection must not be shared by threads running at once). They are also kept in a registry,
so `close_all()` at shutdown closes those of threads that never closed their own.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Self

from adapters.schema import Schema, UnusableDatabase, migrate

BUSY_TIMEOUT_S = 5.0
# STRICT tables (3.37) keep "2.50" a string and a quantity an integer, whatever a column's affinity would do;
# JSON functions are built in from 3.38.
MINIMUM_SQLITE_VERSION = (3, 38, 0)
INCREMENTAL_AUTO_VACUUM = 2  # what PRAGMA auto_vacuum reads for INCREMENTAL (0 is NONE, 1 FULL)


def sql_text(value: str) -> str:
    """`value` as an SQL string literal: how a constant of ours goes into a migration, whose statements are run
    as they are, without parameters."""
    return "'" + value.replace("'", "''") + "'"


class Database:
    """The file at `path`, created (with its folders) or upgraded to `schema` when this object is made.

    Upgrading also switches a file made without incremental auto-vacuum to it. That is not a migration:
    SQLite changes the mode only on a file without tables or by VACUUM, which cannot run inside the
    migrations' transaction. It runs once, after them (1 s for a 205 MB file, measured), and a file already
    in the mode is left as it is.
    """

    def __init__(self, path: str | Path, schema: Schema, *, busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        if sqlite3.sqlite_version_info < MINIMUM_SQLITE_VERSION:
            raise UnusableDatabase(
                f"SQLite {sqlite3.sqlite_version} is too old; these adapters need "
                f"{'.'.join(map(str, MINIMUM_SQLITE_VERSION))} or later"
            )
        self.path = Path(path)
        self.schema = schema
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._lock = threading.Lock()  # guards the registry and `_closed`
        # This process's writers queue here before SQLite's own write lock (see `begin`).
        self._writer = threading.Lock()
        self._writing = threading.local()  # `held`: whether the calling thread holds `_writer`
        # `open`: whether the calling thread is inside `batch`; `unit`: the unit of work whose block is open in it
        self._batching = threading.local()
        self._connections: set[sqlite3.Connection] = set()
        self._closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._migrate()
            self._vacuum_incrementally()
        except BaseException:
            self.close_all()
            raise

    def __repr__(self) -> str:
        return f"Database({str(self.path)!r}, {self.schema.name})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close_all()

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        try:
            connection: sqlite3.Connection = self._local.connection
        except AttributeError:
            connection = self._open()
        return connection

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction on this thread's connection: committed if the block ends normally, else rolled
        back (also when COMMIT itself fails)."""
        connection = self.connection()
        self.begin(connection)
        try:
            yield connection
            self.end(connection, "COMMIT")
        finally:
            self.end(connection, "ROLLBACK")

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One write transaction for every unit of work this thread opens in the block: each one's block is a
        savepoint of it (`adapters.sqlite.transactions`), and nothing is kept unless the whole block ends
        normally and its COMMIT succeeds. A consumer applies a poll's records so (adapters.messaging.worker):
        one BEGIN and one COMMIT for them all, and the pages they share written once."""
        with self.transaction():
            self._batching.open = True
            try:
                yield
            finally:
                self._batching.open = False
                self._batching.unit = None

    def batching(self) -> bool:
        """Whether the calling thread is inside `batch`."""
        return getattr(self._batching, "open", False)

    def enter_unit(self, unit: object) -> None:
        """`unit`'s block opens in the calling thread's batch: refused while another one's is open there, as
        `begin` refuses a transaction inside another outside a batch (units of work do not nest)."""
        if getattr(self._batching, "unit", None) is not None:
            raise RuntimeError("a unit of work is already open in this thread's batch; they do not nest")
        self._batching.unit = unit

    def leave_unit(self) -> None:
        """The block `enter_unit` opened is over."""
        self._batching.unit = None

    def begin(self, connection: sqlite3.Connection) -> None:
        """Start a write transaction on this thread's `connection`, holding the write lock from now on.

        BEGIN IMMEDIATE, not BEGIN (deferred): a deferred transaction that has read and then writes cannot
        wait for the lock; if another connection committed meanwhile it fails at once ("database is locked").

        Writers of this process first queue on a lock of our own. SQLite's busy handler waits by sleeping
        (1, 2, 5, 10 ... 100 ms, rechecking between): a request's unit of work that found the outbox relay
        writing slept for milliseconds even when the relay was done in one (2% of the event loop's time under
        load, when units of work still ran on it: BENCHMARKS.md). Our lock wakes the next writer as the last
        one ends. SQLite's lock still guards against other processes. Waiting here blocks the calling
        thread, so the event loop never calls this: its units of work run on `adapters.sqlite.writer`.
        """
        if connection.in_transaction:
            raise RuntimeError("a transaction is already open on this thread's connection; they do not nest")
        if not getattr(self._writing, "held", False):  # still held if an error ended the last one itself
            if not self._writer.acquire(timeout=self._busy_timeout_s):
                raise sqlite3.OperationalError("database is locked (another thread of this process is writing)")
            self._writing.held = True
        try:
            connection.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._release_writer()
            raise

    def end(self, connection: sqlite3.Connection, statement: str) -> None:
        """End this thread's write transaction with COMMIT or ROLLBACK, if it is still open, and let the next
        writer in once it is over. A failed COMMIT leaves it open (and the lock held) for the ROLLBACK."""
        try:
            # Some errors (a full disk, an interrupt) end the transaction themselves: ROLLBACK would then fail
            # and hide the error that matters.
            if connection.in_transaction:
                connection.execute(statement)
        finally:
            if not connection.in_transaction and not getattr(self._writing, "pinned", False):
                self._release_writer()

    @contextmanager
    def writing_now(self) -> Iterator[bool]:
        """Hold this process's write lock for the whole block, if it is free this instant: yields True, and
        the block's transactions never wait for another thread of the process. Yields False, holding nothing,
        when another thread writes: the caller must not wait for it (`adapters.sqlite.writer` then hands its
        block to its thread). Never blocks."""
        if getattr(self._writing, "held", False) or not self._writer.acquire(blocking=False):
            yield False
            return
        self._writing.held = True
        self._writing.pinned = True
        try:
            yield True
        finally:
            self._writing.pinned = False
            connection = self._local.__dict__.get("connection")
            if connection is None or not connection.in_transaction:  # else its end() releases the lock
                self._release_writer()

    def _release_writer(self) -> None:
        if getattr(self._writing, "held", False):
            self._writing.held = False
            self._writer.release()

    def require(self, *tables: str) -> None:
        """Refuse, when the services are wired, an adapter given another service's database."""
        missing = set(tables) - self.schema.tables
        if missing:
            raise ValueError(
                f"{self!r} has no {', '.join(sorted(missing))} table; is it the wrong service's database?"
            )

    def close(self) -> None:
        """Close this thread's connection (a thread that is done with the database calls this)."""
        connection = self._local.__dict__.pop("connection", None)
        if connection is not None:
            with self._lock:
                self._connections.discard(connection)
            connection.close()

    def close_all(self) -> None:
        """Close every thread's connection, for good: later use raises. Call it once the threads using the
        database have stopped: a connection closed under a running thread fails that thread's next statement."""
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, set()
        self._local = threading.local()  # forget every thread's (now closed) connection
        for connection in connections:
            connection.close()

    def _open(self) -> sqlite3.Connection:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self!r} is closed")
            # check_same_thread=False only so that close_all() may close another thread's connection; each
            # connection is otherwise used by the one thread that opened it.
            connection = sqlite3.connect(
                self.path, timeout=self._busy_timeout_s, isolation_level=None, check_same_thread=False
            )
            self._connections.add(connection)
        try:
            # On a new (empty) file, and before WAL: switching to WAL writes the first page, and then the file
            # is no longer new enough for the auto-vacuum mode to change without a VACUUM. Only then: on a file
            # in use, setting it would wait for the write lock.
            if connection.execute("PRAGMA page_count").fetchone()[0] == 0:
                connection.execute("PRAGMA auto_vacuum = INCREMENTAL")
            mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                raise UnusableDatabase(
                    f"{self.path}: SQLite refused WAL mode (journal_mode is {mode!r}); "
                    "the file needs a local filesystem"
                )
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            with self._lock:
                self._connections.discard(connection)
            connection.close()
            raise
        self._local.connection = connection
        return connection

    def _vacuum_incrementally(self) -> None:
        connection = self.connection()
        if connection.execute("PRAGMA auto_vacuum").fetchone()[0] != INCREMENTAL_AUTO_VACUUM:
            connection.execute("PRAGMA auto_vacuum = INCREMENTAL")
            # Outside any transaction, as VACUUM must be; this object's threads have not started yet, and
            # another process's writer is waited for (busy timeout).
            connection.execute("VACUUM")

    def _migrate(self) -> None:
        # In a write transaction: two processes opening a new file at once migrate it one after the other, and
        # the second finds the version already current (adapters.schema).
        with self.transaction() as connection:
            migrate(self.schema, _SqliteMigrating(connection), where=str(self.path))


class _SqliteMigrating:
    """A file inside `migrate`'s transaction; it keeps its version in PRAGMA user_version."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def version(self) -> int:
        return int(self._connection.execute("PRAGMA user_version").fetchone()[0])

    def run(self, statement: str) -> None:
        self._connection.execute(statement)

    def record(self, version: int) -> None:
        self._connection.execute(f"PRAGMA user_version = {version:d}")  # PRAGMA takes no parameters

    def tables(self) -> set[str]:
        listed = self._connection.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")
        return {name for (name,) in listed}
