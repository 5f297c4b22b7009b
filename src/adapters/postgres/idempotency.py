"""Idempotency-Keys in the Order Service's PostgreSQL database: the `IdempotencyStore` that outlives a restart.

One row per customer's key in `idempotency_keys` (made by ORDER_SCHEMA), in the three states and with the lease
and TTL of `adapters.sqlite.idempotency`, whose docstring says what they mean. `claimed_at` is a TIMESTAMPTZ:
the lease is measured on instants (microseconds, exact), whatever offset `now` was given in.

A claim reads the key and then writes it, and two claims of one key racing (threads or instances) must not
both find it free. SQLite runs them one after the other under its write lock; here each claim's transaction
first takes an advisory lock on the key itself (a key never claimed has no row a row lock could cover), and
reads the row FOR UPDATE, so an order's unit of work binding a reply to that row waits for the claim, or the
claim for it, as in SQLite's serial order. A lock on the key, not the service's writer lock: a claim need
not wait for every order being placed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from adapters.postgres.database import PostgresDatabase, lock_key
from adapters.postgres.orders import BIND_REPLY
from ordering_core.ports import Remembered, Reply

_LOCK_KEY = "SELECT pg_advisory_xact_lock(%s)"
_SELECT = (
    "SELECT fingerprint, claimed_at, order_id, body FROM idempotency_keys "
    "WHERE customer_id = %s AND key = %s FOR UPDATE"
)
# A new key, a lapsed claim or an expired answer taken over: the row becomes the new claimant's, as if fresh.
_CLAIM = (
    "INSERT INTO idempotency_keys (customer_id, key, fingerprint, claimed_at) VALUES (%s, %s, %s, %s) "
    "ON CONFLICT (customer_id, key) DO UPDATE SET fingerprint = excluded.fingerprint, "
    "claimed_at = excluded.claimed_at, order_id = NULL, body = NULL"
)
# `order_id IS NULL`: a key with a reply is never released, whoever asks.
_RELEASE = "DELETE FROM idempotency_keys WHERE customer_id = %s AND key = %s AND order_id IS NULL"


class PostgresIdempotencyStore:
    """Keys in the `idempotency_keys` table of `database` (the Order Service's)."""

    def __init__(
        self,
        database: PostgresDatabase,
        *,
        lease: timedelta = timedelta(minutes=1),
        ttl: timedelta = timedelta(hours=24),
    ) -> None:
        database.require("idempotency_keys")
        self._database = database
        self._lease = lease
        self._ttl = ttl

    def claim(self, customer_id: str, key: str, fingerprint: str, now: datetime) -> Remembered | None:
        with self._database.transaction() as connection:
            connection.execute(_LOCK_KEY, (self._lock_key(customer_id, key),))
            row = connection.execute(_SELECT, (customer_id, key)).fetchone()
            if row is not None:
                held_fingerprint, claimed_at, order_id, body = row
                if order_id is not None:
                    if now - claimed_at < self._ttl:
                        return Remembered(held_fingerprint, Reply(order_id, body))
                elif now - claimed_at < self._lease:
                    return Remembered(held_fingerprint, None)
            connection.execute(_CLAIM, (customer_id, key, fingerprint, now))
            return None

    def fulfil(self, customer_id: str, key: str, reply: Reply) -> None:
        # No row only if the caller's lease ran out, another request took the key over and released it;
        # then the key is free and stays so, as in memory.
        with self._database.connection() as connection:
            connection.execute(BIND_REPLY, (reply.order_id, reply.body, customer_id, key))

    def release(self, customer_id: str, key: str) -> None:
        # Under the key's lock, so a release never lands between another claim's read and its write.
        with self._database.transaction() as connection:
            connection.execute(_LOCK_KEY, (self._lock_key(customer_id, key),))
            connection.execute(_RELEASE, (customer_id, key))

    def _lock_key(self, customer_id: str, key: str) -> int:
        # A collision of two keys' hashes only makes their claims wait for each other.
        return lock_key(self._database.namespace or "", "idempotency_keys", customer_id, key)
