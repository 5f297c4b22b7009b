"""What every `IdempotencyStore` promises (adapters/http/idempotency.py), run against each implementation.

A durable store joins by adding a param to `store` that builds it (empty, with a lease of one minute); the
PostgreSQL one is marked `postgres`. Every key belongs to a customer: most tests use one, ALICE;
`TestKeysOfCustomers` is about two.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.http.idempotency import once
from adapters.memory.idempotency import InMemoryIdempotencyStore
from adapters.memory.orders import InMemoryOrderUnitOfWork
from adapters.postgres.database import PostgresDatabase
from adapters.postgres.idempotency import PostgresIdempotencyStore
from adapters.postgres.orders import ORDER_SCHEMA as POSTGRES_ORDER_SCHEMA
from adapters.postgres.orders import PostgresOrderUnitOfWork
from adapters.sqlite.database import Database
from adapters.sqlite.idempotency import SqliteIdempotencyStore
from adapters.sqlite.orders import ORDER_SCHEMA, SqliteOrderUnitOfWork
from ordering_core.ports import IdempotencyStore, OrderUnitOfWork, Remembered, Reply, run_here

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=1)
TTL = timedelta(hours=24)  # the stores' default: IDEMPOTENCY_KEY_TTL_S
REPLY = Reply("o-1", b'{"order_id":"o-1"}')
ALICE = "alice"
BOB = "bob"


BACKENDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def postgres_orders_database(request: pytest.FixtureRequest) -> PostgresDatabase:
    """The Order Service's schema in the test's own PostgreSQL namespace (see conftest.py)."""
    url, namespace = request.getfixturevalue("postgres_url"), request.getfixturevalue("postgres_namespace")
    return PostgresDatabase(url, POSTGRES_ORDER_SCHEMA, namespace=namespace)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[IdempotencyStore]:
    if request.param == "memory":
        yield InMemoryIdempotencyStore(lease=LEASE)
    elif request.param == "sqlite":
        with Database(tmp_path / "order.db", ORDER_SCHEMA) as database:
            yield SqliteIdempotencyStore(database, lease=LEASE)
    else:
        with postgres_orders_database(request) as database:
            yield PostgresIdempotencyStore(database, lease=LEASE)


class TestIdempotencyStore:
    def test_a_free_key_is_held_by_whoever_claims_it_first(self, store: IdempotencyStore) -> None:
        first = store.claim(ALICE, "k", "fp-1", T0)
        second = store.claim(ALICE, "k", "fp-1", T0)

        assert first is None
        assert second == Remembered("fp-1", None)

    def test_a_fulfilled_key_gives_its_reply_and_its_own_fingerprint(self, store: IdempotencyStore) -> None:
        store.claim(ALICE, "k", "fp-1", T0)
        store.fulfil(ALICE, "k", REPLY)

        remembered = store.claim(ALICE, "k", "fp-2", T0 + TTL - timedelta(microseconds=1))

        assert remembered == Remembered("fp-1", REPLY)

    def test_an_answered_key_is_free_again_once_its_ttl_has_run_out(self, store: IdempotencyStore) -> None:
        store.claim(ALICE, "k", "fp-1", T0)
        store.fulfil(ALICE, "k", REPLY)

        taken_over = store.claim(ALICE, "k", "fp-2", T0 + TTL)
        again = store.claim(ALICE, "k", "fp-2", T0 + TTL)

        assert taken_over is None
        assert again == Remembered("fp-2", None)  # held by the new claim, without the old reply

    def test_a_released_key_is_free_again(self, store: IdempotencyStore) -> None:
        store.claim(ALICE, "k", "fp-1", T0)
        store.release(ALICE, "k")

        assert store.claim(ALICE, "k", "fp-2", T0) is None
        assert store.claim(ALICE, "k", "fp-2", T0) == Remembered("fp-2", None)

    def test_a_fulfilled_key_is_never_released(self, store: IdempotencyStore) -> None:
        store.claim(ALICE, "k", "fp-1", T0)
        store.fulfil(ALICE, "k", REPLY)

        store.release(ALICE, "k")

        assert store.claim(ALICE, "k", "fp-1", T0) == Remembered("fp-1", REPLY)

    def test_a_key_held_longer_than_the_lease_without_a_reply_is_taken_over(
        self, store: IdempotencyStore
    ) -> None:
        store.claim(ALICE, "k", "fp-1", T0)

        within = store.claim(ALICE, "k", "fp-2", T0 + LEASE - timedelta(seconds=1))
        after = store.claim(ALICE, "k", "fp-2", T0 + LEASE)

        assert (within, after) == (Remembered("fp-1", None), None)

    def test_keys_are_independent(self, store: IdempotencyStore) -> None:
        store.claim(ALICE, "a", "fp-1", T0)
        store.fulfil(ALICE, "a", REPLY)

        assert store.claim(ALICE, "b", "fp-1", T0) is None


class TestKeysOfCustomers:
    def test_the_same_key_of_two_customers_is_two_keys_each_held_by_its_own(
        self, store: IdempotencyStore
    ) -> None:
        alices = store.claim(ALICE, "k", "fp-1", T0)
        bobs = store.claim(BOB, "k", "fp-2", T0)

        assert (alices, bobs) == (None, None)

    def test_a_customer_never_gets_the_reply_another_customer_bound_to_the_same_key(
        self, store: IdempotencyStore
    ) -> None:
        store.claim(ALICE, "k", "fp-1", T0)
        store.fulfil(ALICE, "k", REPLY)

        bobs = store.claim(BOB, "k", "fp-1", T0)
        alices = store.claim(ALICE, "k", "fp-1", T0)

        assert (bobs, alices) == (None, Remembered("fp-1", REPLY))

    def test_fulfilling_and_releasing_touch_only_the_callers_own_key(self, store: IdempotencyStore) -> None:
        store.claim(ALICE, "k", "fp-1", T0)
        store.claim(BOB, "k", "fp-2", T0)

        store.fulfil(BOB, "k", REPLY)
        store.release(ALICE, "k")

        assert store.claim(ALICE, "k", "fp-3", T0) is None
        assert store.claim(BOB, "k", "fp-2", T0) == Remembered("fp-2", REPLY)

    def test_once_acts_again_for_another_customer_with_the_same_key(self, store: IdempotencyStore) -> None:
        placed: list[str] = []

        def placing_for(customer_id: str) -> Callable[[], Awaitable[Reply]]:
            async def place() -> Reply:
                # The act binds its reply with its work (the order's unit of work does, in the services).
                placed.append(customer_id)
                reply = Reply(f"o-{customer_id}", customer_id.encode())
                store.fulfil(customer_id, "k", reply)
                return reply

            return place

        async def alice_bob_alice() -> list[tuple[Reply, bool]]:
            return [
                await once(store, run_here, customer_id, "k", "fp-1", T0, placing_for(customer_id))
                for customer_id in (ALICE, BOB, ALICE)
            ]

        answers = asyncio.run(alice_bob_alice())

        assert placed == [ALICE, BOB]
        assert answers == [
            (Reply("o-alice", b"alice"), False),
            (Reply("o-bob", b"bob"), False),
            (Reply("o-alice", b"alice"), True),
        ]


class TestInMemoryStore:
    def test_forgets_the_oldest_keys_beyond_its_capacity(self) -> None:
        store = InMemoryIdempotencyStore(capacity=2)
        for key in ("a", "b", "c"):
            store.claim(ALICE, key, "fp", T0)
            store.fulfil(ALICE, key, REPLY)

        assert list(store.entries) == [(ALICE, "b"), (ALICE, "c")]
        assert store.claim(ALICE, "a", "fp", T0) is None

    def test_a_key_forgotten_while_its_request_ran_stays_forgotten(self) -> None:
        store = InMemoryIdempotencyStore(capacity=1)
        store.claim(ALICE, "a", "fp", T0)
        store.claim(ALICE, "b", "fp", T0)  # "a" is forgotten, its request still running

        store.fulfil(ALICE, "a", REPLY)

        assert list(store.entries) == [(ALICE, "b")]


@pytest.fixture(params=BACKENDS)
def keys_and_orders(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[IdempotencyStore, OrderUnitOfWork]]:
    """A key store and the order unit of work whose `replies` bind into it, as each service wires them."""
    if request.param == "memory":
        orders = InMemoryOrderUnitOfWork(keys=InMemoryIdempotencyStore(lease=LEASE))
        yield orders.keys, orders
    elif request.param == "sqlite":
        with Database(tmp_path / "order.db", ORDER_SCHEMA) as database:
            yield SqliteIdempotencyStore(database, lease=LEASE), SqliteOrderUnitOfWork(database)
    else:
        with postgres_orders_database(request) as database:
            yield PostgresIdempotencyStore(database, lease=LEASE), PostgresOrderUnitOfWork(database)


class TestRepliesBoundInTheOrdersUnitOfWork:
    def test_a_reply_bound_and_committed_answers_the_key(
        self, keys_and_orders: tuple[IdempotencyStore, OrderUnitOfWork]
    ) -> None:
        keys, orders = keys_and_orders
        keys.claim(ALICE, "k", "fp-1", T0)

        with orders:
            orders.replies.bind(ALICE, "k", REPLY)
            orders.commit()

        assert keys.claim(ALICE, "k", "fp-1", T0 + LEASE) == Remembered("fp-1", REPLY)

    def test_a_reply_bound_in_a_block_that_does_not_commit_leaves_the_key_held(
        self, keys_and_orders: tuple[IdempotencyStore, OrderUnitOfWork]
    ) -> None:
        keys, orders = keys_and_orders
        keys.claim(ALICE, "k", "fp-1", T0)

        with orders:
            orders.replies.bind(ALICE, "k", REPLY)

        assert keys.claim(ALICE, "k", "fp-2", T0) == Remembered("fp-1", None)
