"""Idempotency-Key for POST /orders/order: a retried request gets the first answer, not a second order.

A key is the customer's own: every store keeps keys per (customer id, key), so two customers who happen to
choose the same key make two requests, and neither is ever given the other's order.

A customer's key goes through three states in an `IdempotencyStore`:

    free --claim--> held (the first request is running) --fulfil--> answered (for good)
                       \\--release (that request failed; a retry may use the key)--> free

`claim` is the one atomic step: of two requests racing with one key, exactly one holds it; the other sees
it held and is told to retry (409 in flight). A repeat of an answered key with the same body gets the stored
answer byte for byte; with another body, 409. The key is bound after the order is committed, in a second
step, so a crash between the two leaves the key held with no answer: it is refused as in flight until the
store's lease runs out, and then a retry places the order again. Writing the key in the order's own
transaction would close that window; the ports have no place for it today.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from attrs import define, frozen

from adapters.http.problems import IDEMPOTENCY_KEY_IN_FLIGHT, IDEMPOTENCY_KEY_REUSED, RETRY_AFTER_S, ApiError


@frozen
class Reply:
    """The answer to the request that placed the order: kept to be given again, byte for byte."""

    order_id: str
    body: bytes


@frozen
class Remembered:
    """What a key already holds: the fingerprint of its request's body, and its reply once there is one."""

    fingerprint: str
    reply: Reply | None  # None while the first request with the key is still running


class IdempotencyStore(Protocol):
    """Keys per customer: every method takes the customer's id first, and another customer's key of the same
    name is another key."""

    def claim(self, customer_id: str, key: str, fingerprint: str, now: datetime) -> Remembered | None:
        """Atomically hold the customer's free key for the caller and return None, or return what it holds.

        A key is free if it was never claimed, was released, or has been held without a reply for longer
        than the store's lease (its request died). The caller must then `fulfil` or `release` it.
        """

    def fulfil(self, customer_id: str, key: str, reply: Reply) -> None:
        """Bind the customer's key the caller holds to its reply, for good (later claims return it)."""

    def release(self, customer_id: str, key: str) -> None:
        """Free the customer's key the caller holds; a key with a reply is never released."""


def fingerprint(document: Any) -> str:
    """The same for the same JSON, whatever its spacing or key order."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def once(
    store: IdempotencyStore,
    customer_id: str,
    key: str,
    request_fingerprint: str,
    now: datetime,
    act: Callable[[], Awaitable[Reply]],
) -> tuple[Reply, bool]:
    """Run `act` at most once per key of the customer's: its reply and False, or the reply stored before and
    True. `customer_id` is the verified caller's, never a value from the request."""
    remembered = store.claim(customer_id, key, request_fingerprint, now)
    if remembered is not None:
        if remembered.fingerprint != request_fingerprint:
            raise ApiError(
                IDEMPOTENCY_KEY_REUSED,
                "this Idempotency-Key was used with a different body; use a new key for a new order",
            )
        if remembered.reply is None:
            raise ApiError(
                IDEMPOTENCY_KEY_IN_FLIGHT,
                "a request with this Idempotency-Key is still being served; retry shortly",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        return remembered.reply, True
    try:
        reply = await act()
    except BaseException:  # a refusal, a 503, a bug or a cancelled request: none of them bound the key
        store.release(customer_id, key)
        raise
    store.fulfil(customer_id, key, reply)
    return reply, False


@define
class _Entry:
    fingerprint: str
    claimed_at: datetime
    reply: Reply | None = None


class InMemoryIdempotencyStore:
    """Keys in a dict: for tests and for one process (a restart forgets them; the SQLite store does not).

    Holds at most `capacity` keys (of all customers together), forgetting the oldest first, so memory stays
    bounded. `entries` is keyed by (customer id, key).
    """

    def __init__(self, *, lease: timedelta = timedelta(minutes=1), capacity: int = 100_000) -> None:
        self._lease = lease
        self._capacity = capacity
        self.entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()

    def claim(self, customer_id: str, key: str, fingerprint: str, now: datetime) -> Remembered | None:
        # No await in here: on one event loop, a claim is atomic.
        theirs = (customer_id, key)
        entry = self.entries.get(theirs)
        if entry is not None and (entry.reply is not None or now - entry.claimed_at < self._lease):
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
