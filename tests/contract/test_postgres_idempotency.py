"""What only the PostgreSQL idempotency store promises: its keys outlive the process, and racing claims of one
key, from threads or instances, leave exactly one holder (the store's docstring says how).

The behaviour it shares with the other stores is in test_idempotency_store_contract.py.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone

import pytest

from adapters.postgres.database import PostgresDatabase
from adapters.postgres.idempotency import PostgresIdempotencyStore
from adapters.postgres.orders import ORDER_SCHEMA
from adapters.postgres.products import PRODUCT_SCHEMA
from ordering_core.ports import Remembered, Reply

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=1)
REPLY = Reply("o-1", b'{"order_id":"o-1"}')
ALICE = "alice"
INDIA = timezone(timedelta(hours=5, minutes=30))


class TestPostgresIdempotencyStore:
    def test_a_fulfilled_key_survives_reopening_the_database(self, postgres_url, postgres_namespace):
        with PostgresDatabase(postgres_url, ORDER_SCHEMA, namespace=postgres_namespace) as before:
            store = PostgresIdempotencyStore(before, lease=LEASE)
            store.claim(ALICE, "k", "fp-1", T0)
            store.fulfil(ALICE, "k", REPLY)

        with PostgresDatabase(postgres_url, ORDER_SCHEMA, namespace=postgres_namespace) as after:
            store = PostgresIdempotencyStore(after, lease=LEASE)
            remembered = store.claim(ALICE, "k", "fp-1", T0 + timedelta(hours=23))

        assert remembered == Remembered("fp-1", REPLY)

    def test_the_lease_is_measured_on_instants_whatever_the_offset_of_now(
        self, postgres_url, postgres_namespace
    ):
        with PostgresDatabase(postgres_url, ORDER_SCHEMA, namespace=postgres_namespace) as database:
            store = PostgresIdempotencyStore(database, lease=LEASE)
            store.claim(ALICE, "k", "fp-1", T0.astimezone(INDIA))

            within = store.claim(ALICE, "k", "fp-2", T0 + LEASE - timedelta(microseconds=1))
            after_lease = store.claim(ALICE, "k", "fp-2", T0 + LEASE)

        assert (within, after_lease) == (Remembered("fp-1", None), None)

    def test_of_two_threads_claiming_a_key_at_once_exactly_one_holds_it(
        self, postgres_url, postgres_namespace
    ):
        # Many keys, claimed in the same order by both threads: a claim that did not read and write under one
        # lock loses a race on a few of them at each run.
        keys = [f"k-{n}" for n in range(300)]
        start = threading.Barrier(2)

        with PostgresDatabase(postgres_url, ORDER_SCHEMA, namespace=postgres_namespace) as database:
            store = PostgresIdempotencyStore(database, lease=LEASE)

            def claim_all(fingerprint: str) -> list[Remembered | None]:
                start.wait()
                return [store.claim(ALICE, key, fingerprint, T0) for key in keys]

            with ThreadPoolExecutor(max_workers=2) as pool:
                a, b = pool.map(claim_all, ["fp-a", "fp-b"])

        # Whoever loses a key sees the winner's claim, not its own.
        outcomes = [(None, Remembered("fp-a", None)), (Remembered("fp-b", None), None)]
        assert [key for key, *got in zip(keys, a, b, strict=True) if tuple(got) not in outcomes] == []

    def test_refuses_a_database_without_the_table(self, postgres_url, postgres_namespace):
        with (
            PostgresDatabase(postgres_url, PRODUCT_SCHEMA, namespace=postgres_namespace) as products,
            pytest.raises(ValueError, match="no idempotency_keys table"),
        ):
            PostgresIdempotencyStore(products)
