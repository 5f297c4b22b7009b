"""The outbox in PostgreSQL: events written as Kafka records in the use case's transaction, read and marked by
the relay (`adapters.messaging.relay.OutboxRelay`), as `adapters.sqlite.outbox` does in SQLite.

Ids come from an identity column and are taken at INSERT. "Oldest first" is "smallest id first" only because
units of work commit one after the other under the service's writer lock (`adapters.postgres.database`): with
writers committing at once, a smaller id could commit after a larger one the relay already sent past.
Headers are kept as two arrays, names (text) and values (bytea), so every byte string comes back unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

from adapters.postgres.database import PostgresDatabase
from adapters.postgres.transactions import Connect
from adapters.rows import OutboxRow
from adapters.wire.codec import encode
from ordering_core.events import Event

OUTBOX_TABLES = (
    """
    CREATE TABLE IF NOT EXISTS outbox (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        topic TEXT NOT NULL,
        key BYTEA NOT NULL,
        value BYTEA NOT NULL,
        header_names TEXT[] NOT NULL,
        header_values BYTEA[] NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        sent_at TIMESTAMPTZ
    )
    """,
    # Only the unsent rows: as small as the backlog however many sent rows pile up.
    "CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (id) WHERE sent_at IS NULL",
)


_INSERT = (
    "INSERT INTO outbox (topic, key, value, header_names, header_values) VALUES (%s, %s, %s, %s, %s)"
)
_PENDING = (
    "SELECT id, topic, key, value, header_names, header_values FROM outbox "
    "WHERE sent_at IS NULL ORDER BY id LIMIT %s"
)
_MARK_SENT = "UPDATE outbox SET sent_at = now() WHERE id = ANY(%s) AND sent_at IS NULL"
_BACKLOG = "SELECT count(*) FROM outbox WHERE sent_at IS NULL"


class PostgresEventPublisher:
    """A unit of work's `events`: each event becomes one outbox row, in publishing order."""

    def __init__(self, connect: Connect) -> None:
        self._connect = connect

    def publish(self, events: Sequence[Event]) -> None:
        rows = []
        for event in events:
            record = encode(event)
            names = [name for name, _ in record.headers]
            values = [value for _, value in record.headers]
            rows.append((record.topic, record.key, record.value, names, values))
        if rows:
            with self._connect() as connection, connection.cursor() as cursor:
                cursor.executemany(_INSERT, rows)


class PostgresOutbox:
    """The relay's view of a service's outbox. Runs on the relay's thread, outside any unit of work."""

    def __init__(self, database: PostgresDatabase) -> None:
        database.require("outbox")
        self._database = database

    def pending(self, limit: int) -> list[OutboxRow]:
        """Up to `limit` rows not yet sent, oldest first."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        with self._database.connection() as connection:
            rows = connection.execute(_PENDING, (limit,)).fetchall()
        return [
            OutboxRow(row_id, topic, key, value, tuple(zip(names, values, strict=True)))
            for row_id, topic, key, value, names, values in rows
        ]

    def mark_sent(self, ids: Sequence[int]) -> None:
        """Mark these rows sent, in one statement (a row already sent keeps its first time)."""
        with self._database.connection() as connection:
            connection.execute(_MARK_SENT, (list(ids),))

    def backlog(self) -> int:
        """How many rows wait to be sent."""
        with self._database.connection() as connection:
            row = connection.execute(_BACKLOG).fetchone()
        return 0 if row is None else int(row[0])

