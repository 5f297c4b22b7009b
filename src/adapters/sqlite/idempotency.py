"""Idempotency-Keys in the Order Service's database: the `IdempotencyStore` that outlives a restart.

One row per customer's key in `idempotency_keys` (created by ORDER_SCHEMA; its primary key is (customer_id,
key)): the fingerprint of the claiming request's body, when it was claimed, and its reply (`order_id` and
`body`) once there is one. The three states of `adapters.http.idempotency` are:

    free      no row
    held      a row without a reply, claimed less than the lease ago
    answered  a row with a reply, claimed less than the key's TTL ago (24 h: IDEMPOTENCY_KEY_TTL_S)

A held row whose lease has run out is free again: its request died between claiming the key and placing or
releasing it (a crash or a restart in that window). So is an answered row older than the TTL: a client
retries for minutes, not days. Either row stays until another request claims the key or the retention job
deletes it (`adapters.sqlite.retention.prune_idempotency_keys`).

Keys kept by schema version 1, before orders had customers, were given to UNIDENTIFIED_CUSTOMER by the
upgrade. No token names that customer, so they are never replayed: a request first sent before the upgrade
and retried after it places a new order instead of getting the old answer. Giving them to any real customer
instead could hand one customer's order to another.

`claimed_at` is the time as given, offset included, for people reading the file; `claimed_at_us` is the same
instant in microseconds since 1970-01-01 UTC, and is what the lease is measured on (exact integer arithmetic,
whatever the offset).

Each method is one write transaction on the calling thread's connection, so the store is shared by threads
and by processes on the same file. It is not for use inside a unit of work's block on the same thread:
transactions do not nest, and `Database.transaction` refuses rather than joining the open one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from adapters.sqlite.database import Database
from adapters.sqlite.orders import BIND_REPLY, epoch_us
from ordering_core.ports import Remembered, Reply

# Every statement is a constant: sqlite3 prepares each once per connection and reuses it.
_TABLE_EXISTS = "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'idempotency_keys'"
_SELECT = (
    "SELECT fingerprint, claimed_at_us, order_id, body FROM idempotency_keys WHERE customer_id = ? AND key = ?"
)
# A new key, a lapsed claim or an expired answer taken over: the row becomes the new claimant's, as if fresh.
_CLAIM = (
    "INSERT INTO idempotency_keys (customer_id, key, fingerprint, claimed_at, claimed_at_us) "
    "VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (customer_id, key) DO UPDATE SET fingerprint = excluded.fingerprint, "
    "claimed_at = excluded.claimed_at, claimed_at_us = excluded.claimed_at_us, order_id = NULL, body = NULL"
)
# `order_id IS NULL`: a key with a reply is never released, whoever asks.
_RELEASE = "DELETE FROM idempotency_keys WHERE customer_id = ? AND key = ? AND order_id IS NULL"


class SqliteIdempotencyStore:
    """Keys in the `idempotency_keys` table of `database` (the Order Service's)."""

    def __init__(
        self, database: Database, *, lease: timedelta = timedelta(minutes=1), ttl: timedelta = timedelta(hours=24)
    ) -> None:
        # The file is asked, when the service is wired: another service's database fails the wiring, not the
        # first request with a key.
        if database.connection().execute(_TABLE_EXISTS).fetchone() is None:
            raise ValueError(
                f"{database!r} has no idempotency_keys table; is it the wrong service's database?"
            )
        self._database = database
        self._lease_us = lease // timedelta(microseconds=1)
        self._ttl_us = ttl // timedelta(microseconds=1)

    def claim(self, customer_id: str, key: str, fingerprint: str, now: datetime) -> Remembered | None:
        now_us = epoch_us(now)
        # Read and write in one BEGIN IMMEDIATE transaction: it holds the write lock from the start, so of two
        # claims racing on one key (threads or processes) the second reads what the first wrote.
        with self._database.transaction() as connection:
            row = connection.execute(_SELECT, (customer_id, key)).fetchone()
            if row is not None:
                held_fingerprint, claimed_at_us, order_id, body = row
                if order_id is not None:
                    if now_us - claimed_at_us < self._ttl_us:
                        return Remembered(held_fingerprint, Reply(order_id, body))
                elif now_us - claimed_at_us < self._lease_us:
                    return Remembered(held_fingerprint, None)
            connection.execute(_CLAIM, (customer_id, key, fingerprint, now.isoformat(), now_us))
            return None

    def fulfil(self, customer_id: str, key: str, reply: Reply) -> None:
        # No row only if the caller's lease ran out, another request took the key over and released it;
        # then the key is free and stays so, as in memory.
        with self._database.transaction() as connection:
            connection.execute(BIND_REPLY, (reply.order_id, reply.body, customer_id, key))

    def release(self, customer_id: str, key: str) -> None:
        with self._database.transaction() as connection:
            connection.execute(_RELEASE, (customer_id, key))
