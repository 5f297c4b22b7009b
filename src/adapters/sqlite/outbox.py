"""The outbox: events written as Kafka records in the use case's transaction, read and marked by the relay.

`SqliteEventPublisher` is a unit of work's `events`: it encodes each event with `adapters.wire.codec` and
inserts it as a row, so an order and its events commit together or not at all. `SqliteOutbox` is what the
relay (`adapters.messaging.relay.OutboxRelay`) reads: the rows not yet sent, oldest first, and `mark_sent` once
Kafka has them. Rows are never reused: AUTOINCREMENT ids only grow, so "oldest first" is "smallest id first".
A sent row is kept a few minutes (OUTBOX_SENT_RETENTION_S), then the retention job deletes it
(`adapters.sqlite.retention`): the outbox holds the backlog and the last minutes, never the service's history.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from adapters.rows import Headers, OutboxRow
from adapters.sqlite.database import Database
from adapters.sqlite.transactions import Connect
from adapters.wire.codec import encode
from ordering_core.events import Event

OUTBOX_TABLES = (
    """
    CREATE TABLE IF NOT EXISTS outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        topic TEXT NOT NULL,
        key BLOB NOT NULL,
        value BLOB NOT NULL,
        headers TEXT NOT NULL,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        sent_at TEXT
    ) STRICT
    """,
    # Only the unsent rows: it stays as small as the backlog however many sent rows pile up, and it holds
    # exactly what `pending` and `backlog` ask for.
    "CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (id) WHERE sent_at IS NULL",
)


_INSERT = "INSERT INTO outbox (topic, key, value, headers) VALUES (?, ?, ?, ?)"
# `sent_at IS NULL` in each statement is what lets SQLite use the partial index.
_PENDING = "SELECT id, topic, key, value, headers FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT ?"
_MARK_SENT = (
    "UPDATE outbox SET sent_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ? AND sent_at IS NULL"
)
_BACKLOG = "SELECT count(*) FROM outbox WHERE sent_at IS NULL"


def dump_headers(headers: Iterable[tuple[str, bytes]]) -> str:
    """Headers as JSON text a person can read: [[name, value], ...].

    A value is bytes; it is written as its UTF-8 text, with any byte that is not UTF-8 kept as a lone
    surrogate (surrogateescape, escaped by json.dumps as \\udcXX), so every byte string comes back unchanged.
    """
    return json.dumps(
        [[name, value.decode("utf-8", "surrogateescape")] for name, value in headers], separators=(",", ":")
    )


def load_headers(text: str) -> Headers:
    return tuple((name, value.encode("utf-8", "surrogateescape")) for name, value in json.loads(text))


class SqliteEventPublisher:
    """A unit of work's `events`: each event becomes one outbox row, in publishing order."""

    def __init__(self, connect: Connect) -> None:
        self._connect = connect

    def publish(self, events: Sequence[Event]) -> None:
        rows = []
        for event in events:
            record = encode(event)
            rows.append((record.topic, record.key, record.value, dump_headers(record.headers)))
        self._connect().executemany(_INSERT, rows)


class SqliteOutbox:
    """The relay's view of a service's outbox. Runs on the relay's thread, outside any unit of work."""

    def __init__(self, database: Database) -> None:
        database.require("outbox")
        self._database = database

    def pending(self, limit: int) -> list[OutboxRow]:
        """Up to `limit` rows not yet sent, oldest first."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        rows = self._database.connection().execute(_PENDING, (limit,))
        return [
            OutboxRow(row_id, topic, key, value, load_headers(headers))
            for row_id, topic, key, value, headers in rows
        ]

    def mark_sent(self, ids: Sequence[int]) -> None:
        """Mark these rows sent, in one transaction (a row already sent keeps its first time)."""
        with self._database.transaction() as connection:
            connection.executemany(_MARK_SENT, [(row_id,) for row_id in ids])

    def backlog(self) -> int:
        """How many rows wait to be sent."""
        (count,) = self._database.connection().execute(_BACKLOG).fetchone()
        return int(count)
