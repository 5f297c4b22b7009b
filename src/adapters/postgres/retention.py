"""The retention job of a service's PostgreSQL database: the windows and their reasons are SQLite's
(`adapters.sqlite.retention`), and so are the values it takes and returns (`Retention`, `Pruned`).

Each table is pruned oldest first, `batch` rows per transaction, and each batch's transaction takes the
service's writer lock first, as a unit of work does (`PostgresDatabase.begin`): a delete never interleaves
with a use case's check-then-write, and the job never holds the writer for longer than one batch. A lock wait
is bounded by the database's lock_timeout; a run that times out raises, and the next run starts again from
the oldest rows.

No step gives space back. SQLite's job ends with an incremental vacuum; here a deleted row is a dead tuple
that autovacuum reclaims for the table's next rows (the table does not shrink, it stops growing), so
`Pruned.pages_freed` is always 0. A one-off `VACUUM FULL` after a large first prune is an operator's
choice: it locks the table for its length.

Cost. The outbox is read along its primary key (the oldest ids are the sent ones); the inbox and the
Idempotency-Keys along an index on their time (`inbox_by_recorded_at`, `idempotency_keys_by_claimed_at`), so
a batch reads only what it deletes.

The cutoffs come from the caller's clock and the rows' times from the server's (`now()` at insert or
`mark_sent`); a skew between the two moves every window by that much.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from adapters.postgres.database import Connection, PostgresDatabase
from adapters.retention import Pruned, Retention

# Each statement finds its batch in a subquery and deletes the rows by ctid, their place in the table, which
# the subquery read in the same statement: the delete then fetches those rows (a TID scan) instead of scanning
# or joining the table a second time. A ctid alone names a row safely only if the row is not updated before
# the delete reaches it (older PostgreSQL releases do not check a TID scan's ctid again on a row's new
# version): sent outbox rows and inbox ids never are; a key may be, hence its second condition.

# Unsent rows have no sent_at and never match. Ids are in commit order (the writer lock), so the smallest
# ids are the ones sent first.
_SENT_OUTBOX_ROWS = (
    "DELETE FROM outbox WHERE ctid = ANY(ARRAY("
    "SELECT ctid FROM outbox WHERE sent_at < %(cutoff)s ORDER BY id LIMIT %(batch)s))"
)
_INBOX_IDS = (
    "DELETE FROM inbox WHERE ctid = ANY(ARRAY("
    "SELECT ctid FROM inbox WHERE recorded_at < %(cutoff)s ORDER BY recorded_at LIMIT %(batch)s))"
)
# Claims take a lock on their key, not the writer lock, so one may take over a lapsed key while the batch
# waits for its row: the time is checked again on the version the delete reads, so a key claimed just now stays.
_IDEMPOTENCY_KEYS = (
    "DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY("
    "SELECT ctid FROM idempotency_keys WHERE claimed_at < %(cutoff)s ORDER BY claimed_at LIMIT %(batch)s)) "
    "AND claimed_at < %(cutoff)s"
)


class PostgresPruner:
    """The retention job of one service's database: `prune(now)` on a thread of its own (it waits for the
    writer lock)."""

    def __init__(self, database: PostgresDatabase, retention: Retention, *, batch: int = 5_000) -> None:
        if batch < 1:
            raise ValueError(f"batch must be at least 1: {batch}")
        self._database = database
        self._retention = retention
        self._batch = batch
        self._tables = database.schema.tables

    def prune(self, now: datetime) -> Pruned:
        """Delete what has been kept long enough at `now` (an aware datetime)."""
        if now.utcoffset() is None:
            raise ValueError(f"now must carry its offset, not be naive: {now!r}")
        sent = inbox = keys = 0
        if "outbox" in self._tables:
            sent = self.prune_sent_outbox_rows(now - self._retention.sent_outbox_rows)
        if "inbox" in self._tables:
            inbox = self.prune_inbox(now - self._retention.inbox_ids)
        if "idempotency_keys" in self._tables:
            keys = prune_idempotency_keys(self._database, now - self._retention.idempotency_keys, batch=self._batch)
        return Pruned(sent, inbox, keys)

    def prune_sent_outbox_rows(self, sent_before: datetime) -> int:
        return _in_batches(self._database, _SENT_OUTBOX_ROWS, sent_before, self._batch)

    def prune_inbox(self, recorded_before: datetime) -> int:
        return _in_batches(self._database, _INBOX_IDS, recorded_before, self._batch)


def prune_idempotency_keys(database: PostgresDatabase, claimed_before: datetime, *, batch: int = 5_000) -> int:
    """Delete the Idempotency-Keys claimed before `claimed_before`: answered ones past their TTL, and claims
    whose request died. A live claim is younger than its TTL and never matches."""
    return _in_batches(database, _IDEMPOTENCY_KEYS, claimed_before, batch)


def _in_batches(database: PostgresDatabase, statement: str, cutoff: datetime, batch: int) -> int:
    deleted = 0
    while True:
        with _writing(database) as connection:
            count = connection.execute(statement, {"cutoff": cutoff, "batch": batch}).rowcount
        deleted += count
        if count < batch:  # fewer than a batch was old enough: nothing older is left
            return deleted


@contextmanager
def _writing(database: PostgresDatabase) -> Iterator[Connection]:
    """One transaction holding the service's writer lock: committed if the block ends normally, else rolled
    back. `begin` takes the lock; the pool puts the connection back in autocommit mode."""
    with database.connection() as connection:
        try:
            database.begin(connection)  # in the try: a lock wait that timed out is rolled back here, not by the pool
            yield connection
        except BaseException:
            connection.rollback()
            raise
        connection.commit()
