"""What every `IdempotencyStore` promises (adapters/http/idempotency.py), run against each implementation.

A durable store joins by adding a param to `store` that builds it (empty, with a lease of one minute).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.http.idempotency import IdempotencyStore, InMemoryIdempotencyStore, Remembered, Reply
from adapters.sqlite.database import Database
from adapters.sqlite.idempotency import SqliteIdempotencyStore
from adapters.sqlite.orders import ORDER_SCHEMA

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=1)
REPLY = Reply("o-1", b'{"order_id":"o-1"}')


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[IdempotencyStore]:
    if request.param == "memory":
        yield InMemoryIdempotencyStore(lease=LEASE)
    else:
        with Database(tmp_path / "order.db", ORDER_SCHEMA) as database:
            yield SqliteIdempotencyStore(database, lease=LEASE)


class TestIdempotencyStore:
    def test_a_free_key_is_held_by_whoever_claims_it_first(self, store: IdempotencyStore) -> None:
        first = store.claim("k", "fp-1", T0)
        second = store.claim("k", "fp-1", T0)

        assert first is None
        assert second == Remembered("fp-1", None)

    def test_a_fulfilled_key_gives_its_reply_and_its_own_fingerprint(self, store: IdempotencyStore) -> None:
        store.claim("k", "fp-1", T0)
        store.fulfil("k", REPLY)

        remembered = store.claim("k", "fp-2", T0 + timedelta(days=1))

        assert remembered == Remembered("fp-1", REPLY)

    def test_a_released_key_is_free_again(self, store: IdempotencyStore) -> None:
        store.claim("k", "fp-1", T0)
        store.release("k")

        assert store.claim("k", "fp-2", T0) is None
        assert store.claim("k", "fp-2", T0) == Remembered("fp-2", None)

    def test_a_fulfilled_key_is_never_released(self, store: IdempotencyStore) -> None:
        store.claim("k", "fp-1", T0)
        store.fulfil("k", REPLY)

        store.release("k")

        assert store.claim("k", "fp-1", T0) == Remembered("fp-1", REPLY)

    def test_a_key_held_longer_than_the_lease_without_a_reply_is_taken_over(
        self, store: IdempotencyStore
    ) -> None:
        store.claim("k", "fp-1", T0)

        within = store.claim("k", "fp-2", T0 + LEASE - timedelta(seconds=1))
        after = store.claim("k", "fp-2", T0 + LEASE)

        assert (within, after) == (Remembered("fp-1", None), None)

    def test_keys_are_independent(self, store: IdempotencyStore) -> None:
        store.claim("a", "fp-1", T0)
        store.fulfil("a", REPLY)

        assert store.claim("b", "fp-1", T0) is None


class TestInMemoryStore:
    def test_forgets_the_oldest_keys_beyond_its_capacity(self) -> None:
        store = InMemoryIdempotencyStore(capacity=2)
        for key in ("a", "b", "c"):
            store.claim(key, "fp", T0)
            store.fulfil(key, REPLY)

        assert list(store.entries) == ["b", "c"]
        assert store.claim("a", "fp", T0) is None

    def test_a_key_forgotten_while_its_request_ran_stays_forgotten(self) -> None:
        store = InMemoryIdempotencyStore(capacity=1)
        store.claim("a", "fp", T0)
        store.claim("b", "fp", T0)  # "a" is forgotten, its request still running

        store.fulfil("a", REPLY)

        assert list(store.entries) == ["b"]
