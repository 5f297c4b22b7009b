"""The periodic job that lets go what a service's SQLite file keeps only for a while (adapters.retention
says what, and for how long).

- Outbox rows, once sent: kept OUTBOX_SENT_RETENTION_S (5 minutes) after the relay marked them. Kafka has
  them; a person, or bench/propagation.py, may still look at what went out just now.
- Inbox ids: kept INBOX_RETENTION_S (7 days) after they were recorded. A redelivery (a crash or a rebalance
  before the offset commit) comes within seconds; a rewind to offset 0 finds only what the topic retains,
  and our topics keep Kafka's default retention.ms, 7 days.
- Idempotency-Keys (Order Service): kept IDEMPOTENCY_KEY_TTL_S (24 hours) after they were claimed. A client
  retries for minutes, not days; a key older than that is free again (the stores' `claim`) and its row goes.

A record older than INBOX_RETENTION_S can still come again (Kafka deletes whole segments, so a record outlives
retention.ms by up to segment.ms; an operator may lengthen a topic's retention), and then finds no id. That is
safe: the use cases are idempotent without the inbox. The stock ledger keeps an entry per order (a
reservation or a release applies once, and a tombstone stops a late reservation), an order's transitions
repeat as no-ops, and the Message Service keeps one message per order and status. tests/contract/
test_retention.py replays every topic from offset 0 after pruning and finds nothing changed.

Each table is pruned oldest first, `batch` rows per write transaction, so the job never holds the write lock
for long (the relay, the consumers and the HTTP side's units of work wait for it). Then the free pages beyond
`keep_free_pages` go back to the file system (incremental auto-vacuum, which `Database` sets up): a burst's
pages are returned, and a reserve stays for the rows of the next minutes.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from adapters.retention import Pruned, Retention
from adapters.sqlite.database import Database
from adapters.sqlite.orders import epoch_us

_TABLES = "SELECT name FROM sqlite_schema WHERE type = 'table'"


def sqlite_time(moment: datetime) -> str:
    """`moment` as the text `strftime('%Y-%m-%dT%H:%M:%fZ', 'now')` writes (UTC, milliseconds), so the two
    compare as times."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


class SqlitePruner:
    """The retention job of one service's database: `prune(now)` on a thread of its own (it writes)."""

    def __init__(
        self, database: Database, retention: Retention, *, batch: int = 5_000, keep_free_pages: int = 1_024
    ) -> None:
        if batch < 1 or keep_free_pages < 0:
            raise ValueError(f"batch must be at least 1 and keep_free_pages at least 0: {batch}, {keep_free_pages}")
        self._database = database
        self._retention = retention
        self._batch = batch
        self._keep_free_pages = keep_free_pages
        self._tables = {name for (name,) in database.connection().execute(_TABLES)}

    def prune(self, now: datetime) -> Pruned:
        """Delete what has been kept long enough at `now`, then give back the free pages beyond the reserve."""
        sent = inbox = keys = 0
        if "outbox" in self._tables:
            sent = self.prune_sent_outbox_rows(now - self._retention.sent_outbox_rows)
        if "inbox" in self._tables:
            inbox = self.prune_inbox(now - self._retention.inbox_ids)
        if "idempotency_keys" in self._tables:
            cutoff = now - self._retention.idempotency_keys
            keys = prune_idempotency_keys(self._database, cutoff, batch=self._batch)
        return Pruned(sent, inbox, keys, self.give_back_free_pages())

    def prune_sent_outbox_rows(self, sent_before: datetime) -> int:
        # Unsent rows have no sent_at and never match. The sent rows are few (minutes' worth), so the scan is
        # short; rows sent by an earlier release, which kept them all, go here too, a batch at a time.
        statement = (
            "DELETE FROM outbox WHERE id IN "
            "(SELECT id FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ? ORDER BY id LIMIT ?)"
        )
        return _in_batches(self._database, statement, (sqlite_time(sent_before),), self._batch)

    def prune_inbox(self, recorded_before: datetime) -> int:
        return _delete_oldest(self._database, "inbox", "recorded_at", sqlite_time(recorded_before), self._batch)

    def give_back_free_pages(self) -> int:
        """Return the file's free pages beyond `keep_free_pages` to the file system, 2,048 (8 MiB) per
        transaction. Each statement frees one page: the sqlite3 module steps a statement that returns no
        row once, and each step of incremental_vacuum frees one page (measured: about 8 µs each)."""
        freed = 0
        while True:
            with self._database.transaction() as connection:
                free = _freelist(connection)
                surplus = min(free - self._keep_free_pages, 2_048)
                for _ in range(surplus):
                    connection.execute("PRAGMA incremental_vacuum(1)")
                left = _freelist(connection)
            freed += free - left
            if surplus <= 0 or left >= free:  # done, or the file is not in incremental mode
                return freed


def prune_idempotency_keys(database: Database, claimed_before: datetime, *, batch: int = 5_000) -> int:
    """Delete the Idempotency-Keys claimed before `claimed_before`: answered ones past their TTL, and claims
    whose request died (their lease, a minute, ran out long ago). A claim that took over a lapsed key keeps its
    row (and its place in rowid order) with a new time, so it may hold back older rows behind it until it
    expires too: a key is kept at most twice its TTL."""
    return _delete_oldest(database, "idempotency_keys", "claimed_at_us", epoch_us(claimed_before), batch)


def _delete_oldest(database: Database, table: str, column: str, cutoff: object, batch: int) -> int:
    """Delete `table`'s rows whose `column` is below `cutoff`, oldest first, until the oldest row left is young
    enough to keep.

    Rows are appended under the write lock as time goes on and never moved, so rowid order is the order they
    were written in. Each batch looks only at the `batch` oldest rows: the job reads what it deletes plus one
    batch, however many rows are kept (a week of inbox ids), with no index on the time.
    """
    # Table and column names are our constants, never input: they go into the statement as text.
    statement = (
        f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} ORDER BY rowid LIMIT ?) AND {column} < ?"
    )
    deleted = 0
    while True:
        with database.transaction() as connection:
            count = connection.execute(statement, (batch, cutoff)).rowcount
        deleted += count
        if count < batch:  # a row among the oldest is to be kept, or none is left
            return deleted


def _in_batches(database: Database, statement: str, parameters: tuple[object, ...], batch: int) -> int:
    deleted = 0
    while True:
        with database.transaction() as connection:
            count = connection.execute(statement, (*parameters, batch)).rowcount
        deleted += count
        if count < batch:
            return deleted


def _freelist(connection: sqlite3.Connection) -> int:
    return int(connection.execute("PRAGMA freelist_count").fetchone()[0])
