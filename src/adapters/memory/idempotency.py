"""Idempotency-Keys in a dict: the in-memory `IdempotencyStore` (`ordering_core.ports`)."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta

from attrs import define

from ordering_core.ports import Remembered, Reply


@define
class _Entry:
    fingerprint: str
    claimed_at: datetime
    reply: Reply | None = None


class InMemoryIdempotencyStore:
    """Keys in a dict: for tests and for one process (a restart forgets them; the SQLite store does not).

    Holds at most `capacity` keys (of all customers together), forgetting the oldest first, so memory stays
    bounded. `entries` is keyed by (customer id, key). An answered key older than `ttl` is free again, as in
    the SQLite store.
    """

    def __init__(
        self, *, lease: timedelta = timedelta(minutes=1), capacity: int = 100_000, ttl: timedelta = timedelta(hours=24)
    ) -> None:
        self._lease = lease
        self._ttl = ttl
        self._capacity = capacity
        self.entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()

    def claim(self, customer_id: str, key: str, fingerprint: str, now: datetime) -> Remembered | None:
        # Atomic as long as one thread uses the store (an event loop, with `run_here` as its Offload).
        theirs = (customer_id, key)
        entry = self.entries.get(theirs)
        if entry is not None and now - entry.claimed_at < (self._lease if entry.reply is None else self._ttl):
            return Remembered(entry.fingerprint, entry.reply)
        self.entries[theirs] = _Entry(fingerprint, now)
        self.entries.move_to_end(theirs)
        while len(self.entries) > self._capacity:
            self.entries.popitem(last=False)
        return None

    def fulfil(self, customer_id: str, key: str, reply: Reply) -> None:
        entry = self.entries.get((customer_id, key))
        if entry is not None:  # None only if forgotten for capacity while its request ran
            entry.reply = reply

    def release(self, customer_id: str, key: str) -> None:
        entry = self.entries.get((customer_id, key))
        if entry is not None and entry.reply is None:
            del self.entries[customer_id, key]


class InMemoryReplies:
    """The `replies` part of the in-memory order unit of work: bindings made in the block reach `store` only
    when the block commits, as the SQLite ones reach the file with the order's transaction."""

    def __init__(self, store: InMemoryIdempotencyStore, pending: list[tuple[str, str, Reply]] | None = None) -> None:
        self.store = store
        self._pending = list(pending or ())

    def bind(self, customer_id: str, key: str, reply: Reply) -> None:
        self._pending.append((customer_id, key, reply))

    def copy(self) -> InMemoryReplies:
        return InMemoryReplies(self.store)

    def adopt(self, other: InMemoryReplies) -> None:
        for customer_id, key, reply in other._pending:
            self.store.fulfil(customer_id, key, reply)
        other._pending.clear()
