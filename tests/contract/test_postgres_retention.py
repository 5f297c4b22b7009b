"""Retention on PostgreSQL (adapters/postgres/retention.py): the rules of the SQLite job (test_retention.py),
sent outbox rows, inbox ids and Idempotency-Keys kept for their windows and then deleted oldest first, a batch
per transaction under the service's writer lock."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from attrs import evolve
from psycopg import sql
from psycopg.errors import LockNotAvailable

from adapters.postgres.database import PostgresDatabase
from adapters.postgres.idempotency import PostgresIdempotencyStore
from adapters.postgres.messages import MESSAGE_SCHEMA
from adapters.postgres.orders import ORDER_SCHEMA, PostgresOrderUnitOfWork
from adapters.postgres.outbox import PostgresOutbox
from adapters.postgres.retention import PostgresPruner
from adapters.retention import Pruned, Retention
from ordering_core import Envelope, Order, OrderCreated, OrderLine, OrderStatus, OrderStatusChanged
from ordering_core.ports import Remembered, Reply

pytestmark = pytest.mark.postgres

CUSTOMER = "customer-a"
KEPT = Retention(
    sent_outbox_rows=timedelta(minutes=5), inbox_ids=timedelta(days=7), idempotency_keys=timedelta(hours=24)
)


def utc_now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def order_db(postgres_url: str, postgres_namespace: str) -> Iterator[PostgresDatabase]:
    with PostgresDatabase(postgres_url, ORDER_SCHEMA, namespace=postgres_namespace) as database:
        yield database


def place(uow: PostgresOrderUnitOfWork, order_id: str, now: datetime, *, consumed: str | None = None) -> None:
    """The order path's writes: the order, its events in the outbox, and (as a consumer would) an inbox id."""
    order = Order(
        order_id, (OrderLine("p-1", 2, Decimal("2.50")),), OrderStatus.UNPAID, now, customer_id=CUSTOMER
    )
    created = Envelope(f"{order_id}-created", now, order_id, "corr-1")
    status = Envelope(f"{order_id}-status", now, order_id, "corr-1")
    with uow:
        uow.orders.add(order)
        uow.events.publish(
            [
                OrderCreated(created, order.lines, order.total, customer_id=CUSTOMER),
                OrderStatusChanged(status, OrderStatus.UNPAID, customer_id=CUSTOMER),
            ]
        )
        if consumed is not None:
            uow.inbox.record(consumed)
        uow.commit()


def rows(database: PostgresDatabase, statement: str) -> list[tuple[object, ...]]:
    with database.connection() as connection:
        return connection.execute(statement).fetchall()


class TestSentOutboxRows:
    def test_go_once_kept_for_their_window_and_unsent_rows_stay(self, order_db):
        uow = PostgresOrderUnitOfWork(order_db)
        outbox = PostgresOutbox(order_db)
        place(uow, "o-1", utc_now())
        place(uow, "o-2", utc_now())
        outbox.mark_sent([row.id for row in outbox.pending(2)])  # o-1's two rows
        pruner = PostgresPruner(order_db, KEPT)

        within = pruner.prune(utc_now() + KEPT.sent_outbox_rows - timedelta(seconds=1))
        after = pruner.prune(utc_now() + KEPT.sent_outbox_rows + timedelta(seconds=1))

        assert (within.sent_outbox_rows, after.sent_outbox_rows) == (0, 2)
        assert rows(order_db, "SELECT id FROM outbox ORDER BY id") == [(3,), (4,)]
        assert [row.id for row in outbox.pending(10)] == [3, 4]

    def test_ids_are_not_reused_after_every_row_went(self, order_db):
        uow = PostgresOrderUnitOfWork(order_db)
        outbox = PostgresOutbox(order_db)
        place(uow, "o-1", utc_now())
        outbox.mark_sent([row.id for row in outbox.pending(10)])
        PostgresPruner(order_db, evolve(KEPT, sent_outbox_rows=timedelta(0))).prune(utc_now() + timedelta(seconds=1))

        place(uow, "o-2", utc_now())

        assert rows(order_db, "SELECT count(*) FROM outbox") == [(2,)]
        assert [row.id for row in outbox.pending(10)] == [3, 4]


class TestInboxIds:
    def test_are_kept_for_their_window_then_go_oldest_first(self, order_db):
        uow = PostgresOrderUnitOfWork(order_db)
        with order_db.connection() as connection:  # recorded eight and six days ago
            for message_id, days in [("m-old", 8), ("m-young", 6)]:
                connection.execute(
                    "INSERT INTO inbox (message_id, recorded_at) VALUES (%s, %s)",
                    (message_id, utc_now() - timedelta(days=days)),
                )
        place(uow, "o-1", utc_now(), consumed="m-now")

        pruned = PostgresPruner(order_db, KEPT).prune(utc_now())

        assert pruned.inbox_ids == 1
        assert rows(order_db, "SELECT message_id FROM inbox ORDER BY recorded_at") == [("m-young",), ("m-now",)]

    def test_are_pruned_in_batches_of_the_oldest(self, order_db):
        uow = PostgresOrderUnitOfWork(order_db)
        for n in range(7):
            place(uow, f"o-{n}", utc_now(), consumed=f"m-{n}")

        pruned = PostgresPruner(order_db, KEPT, batch=3).prune(utc_now() + KEPT.inbox_ids + timedelta(seconds=1))

        assert pruned.inbox_ids == 7
        assert rows(order_db, "SELECT count(*) FROM inbox") == [(0,)]

    def test_a_database_without_an_outbox_or_keys_prunes_its_inbox_alone(self, postgres_url, postgres_namespace):
        namespace = f"{postgres_namespace}_message"
        with PostgresDatabase(postgres_url, MESSAGE_SCHEMA, namespace=namespace) as message_db:
            with message_db.connection() as connection:
                connection.execute(
                    "INSERT INTO inbox (message_id, recorded_at) VALUES (%s, %s)",
                    ("m-old", utc_now() - timedelta(days=8)),
                )

            pruned = PostgresPruner(message_db, KEPT).prune(utc_now())

        assert pruned == Pruned(inbox_ids=1)


class TestIdempotencyKeys:
    def test_an_answered_key_past_its_ttl_is_deleted_and_a_younger_one_kept(self, order_db):
        store = PostgresIdempotencyStore(order_db, ttl=KEPT.idempotency_keys)
        start = utc_now()
        store.claim(CUSTOMER, "k-old", "fp", start - timedelta(hours=25))
        store.fulfil(CUSTOMER, "k-old", Reply("o-1", b"{}"))
        store.claim(CUSTOMER, "k-young", "fp", start - timedelta(hours=23))
        store.fulfil(CUSTOMER, "k-young", Reply("o-2", b"{}"))

        pruned = PostgresPruner(order_db, KEPT).prune(start)

        assert pruned.idempotency_keys == 1
        assert rows(order_db, "SELECT key FROM idempotency_keys") == [("k-young",)]
        assert store.claim(CUSTOMER, "k-young", "fp", start) == Remembered("fp", Reply("o-2", b"{}"))
        assert store.claim(CUSTOMER, "k-old", "fp", start) is None


    def test_a_key_taken_over_while_its_batch_waits_for_it_stays(self, order_db, postgres_url, postgres_namespace):
        store = PostgresIdempotencyStore(order_db, ttl=KEPT.idempotency_keys)
        start = utc_now()
        store.claim(CUSTOMER, "k-lapsed", "fp", start - timedelta(hours=25))
        # Among a table's worth of young keys, so that the delete reads its batch by ctid (a TID scan), as on
        # a real table, and finds the key's new version through it.
        with order_db.connection() as connection:
            connection.execute(
                "INSERT INTO idempotency_keys (customer_id, key, fingerprint, claimed_at) "
                "SELECT %s, 'k-' || n, 'fp', %s FROM generate_series(1, 5000) AS n",
                (CUSTOMER, start),
            )
            connection.execute("ANALYZE idempotency_keys")
        pruner = PostgresPruner(order_db, KEPT)

        with psycopg.connect(postgres_url) as claim, ThreadPoolExecutor(1) as job:
            # A claim taking the lapsed key over, its transaction still open: the batch finds the old row and
            # waits for the claim's row lock.
            claim.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(postgres_namespace)))
            claim.execute(
                "UPDATE idempotency_keys SET fingerprint = 'fp-2', claimed_at = %s WHERE key = 'k-lapsed'", (start,)
            )
            pruned = job.submit(pruner.prune, start)
            wait_for_a_lock_wait(claim)
            claim.commit()

            assert pruned.result().idempotency_keys == 0
        assert rows(order_db, "SELECT fingerprint FROM idempotency_keys WHERE key = 'k-lapsed'") == [("fp-2",)]


def wait_for_a_lock_wait(connection: psycopg.Connection, patience_s: float = 5.0) -> None:
    """Return once some session waits for a lock; fail after `patience_s`."""
    deadline = time.monotonic() + patience_s
    while not connection.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0]:
        if time.monotonic() >= deadline:
            pytest.fail(f"no session waited for a lock within {patience_s:.0f} s", pytrace=False)


class TestTheWriterLock:
    def test_a_batch_waits_for_the_unit_of_work_holding_it(self, postgres_url, postgres_namespace):
        # A lock_timeout this short turns "waits" into an error the test can see, without a second thread.
        with PostgresDatabase(
            postgres_url, ORDER_SCHEMA, namespace=postgres_namespace, lock_timeout_s=0.05
        ) as database:
            uow = PostgresOrderUnitOfWork(database)
            pruner = PostgresPruner(database, KEPT)

            with uow, pytest.raises(LockNotAvailable):
                pruner.prune(utc_now())
            after = pruner.prune(utc_now())

        assert after == Pruned()


class TestTheArguments:
    def test_a_batch_must_take_at_least_one_row(self, order_db):
        with pytest.raises(ValueError, match="batch"):
            PostgresPruner(order_db, KEPT, batch=0)

    def test_now_must_carry_its_offset(self, order_db):
        with pytest.raises(ValueError, match="naive"):
            PostgresPruner(order_db, KEPT).prune(datetime(2026, 3, 1, 12, 0))
