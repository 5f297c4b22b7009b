"""What only the SQLite idempotency store promises: its keys outlive the process, and threads share it safely.

The behaviour it shares with the in-memory store is in test_idempotency_store_contract.py.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.sqlite.database import Database
from adapters.sqlite.idempotency import SqliteIdempotencyStore
from adapters.sqlite.orders import ORDER_SCHEMA
from adapters.sqlite.products import PRODUCT_SCHEMA
from ordering_core.ports import Remembered, Reply

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=1)
REPLY = Reply("o-1", b'{"order_id":"o-1"}')
ALICE = "alice"


class TestSqliteIdempotencyStore:
    def test_a_fulfilled_key_survives_reopening_the_file(self, tmp_path: Path) -> None:
        with Database(tmp_path / "order.db", ORDER_SCHEMA) as before:
            store = SqliteIdempotencyStore(before, lease=LEASE)
            store.claim(ALICE, "k", "fp-1", T0)
            store.fulfil(ALICE, "k", REPLY)

        with Database(tmp_path / "order.db", ORDER_SCHEMA) as after:
            store = SqliteIdempotencyStore(after, lease=LEASE)
            remembered = store.claim(ALICE, "k", "fp-1", T0 + timedelta(hours=23))

        assert remembered == Remembered("fp-1", REPLY)

    def test_a_key_held_when_the_process_died_is_free_once_its_lease_runs_out(self, tmp_path: Path) -> None:
        with Database(tmp_path / "order.db", ORDER_SCHEMA) as before:
            SqliteIdempotencyStore(before, lease=LEASE).claim(ALICE, "k", "fp-1", T0)  # then the process dies

        with Database(tmp_path / "order.db", ORDER_SCHEMA) as after:
            store = SqliteIdempotencyStore(after, lease=LEASE)
            within = store.claim(ALICE, "k", "fp-1", T0 + LEASE - timedelta(microseconds=1))
            after_lease = store.claim(ALICE, "k", "fp-1", T0 + LEASE)

        assert (within, after_lease) == (Remembered("fp-1", None), None)

    def test_of_two_threads_claiming_a_key_at_once_exactly_one_holds_it(self, tmp_path: Path) -> None:
        # Many keys, claimed in the same order by both threads: a claim that did not read and write in one
        # transaction loses a race on a few of a thousand keys at each run.
        keys = [f"k-{n}" for n in range(1000)]
        start = threading.Barrier(2)

        with Database(tmp_path / "order.db", ORDER_SCHEMA) as database:
            store = SqliteIdempotencyStore(database, lease=LEASE)

            def claim_all(fingerprint: str) -> list[Remembered | None]:
                start.wait()
                try:
                    return [store.claim(ALICE, key, fingerprint, T0) for key in keys]
                finally:
                    database.close()  # each thread closes its own connection, as the services' threads do

            with ThreadPoolExecutor(max_workers=2) as pool:
                a, b = pool.map(claim_all, ["fp-a", "fp-b"])

        # Whoever loses a key sees the winner's claim, not its own.
        outcomes = [(None, Remembered("fp-a", None)), (Remembered("fp-b", None), None)]
        assert [key for key, *got in zip(keys, a, b, strict=True) if tuple(got) not in outcomes] == []

    def test_refuses_a_database_without_the_table(self, tmp_path: Path) -> None:
        with (
            Database(tmp_path / "product.db", PRODUCT_SCHEMA) as products,
            pytest.raises(ValueError, match="no idempotency_keys table"),
        ):
            SqliteIdempotencyStore(products)
