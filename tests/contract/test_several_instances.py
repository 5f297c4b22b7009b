"""Several instances of the Order Service on one PostgreSQL database, each with its own pool (as separate
processes have). They start at once on a new database, each creating the schema if missing, and all start.
They race on the rules that span orders, which stay correct: the hoarding limit and the expiry of unpaid
orders are decided inside a unit of work under the service's writer lock (adapters.postgres.database), an
Idempotency-Key's claim under a lock of its key, whichever instance runs it.

Each race starts its contenders together (a barrier) and runs them on threads: the database sees the
instances' transactions at once, as it would from several processes.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

import pytest

from adapters.memory.catalog import InMemoryProductCatalog
from adapters.memory.products import InMemoryProductUnitOfWork
from adapters.postgres.database import PostgresDatabase
from adapters.postgres.idempotency import PostgresIdempotencyStore
from adapters.postgres.orders import ORDER_SCHEMA, PostgresOrderUnitOfWork
from adapters.postgres.outbox import PostgresOutbox
from ordering_core import (
    HoldLimit,
    HoldLimitReached,
    Line,
    Order,
    OrderStatus,
    Product,
    Remembered,
    expire_unpaid_orders,
    place_order,
)

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TIMEOUT = timedelta(minutes=30)
LIMIT = HoldLimit(max_orders=3, max_units=50, payment_timeout=TIMEOUT)
PEN = Product("pen", "Pen", Decimal("2.50"), 1_000)
R = TypeVar("R")


class Instance:
    """One Order Service process's storage: its own pool on the shared database."""

    def __init__(self, url: str, namespace: str, name: str) -> None:
        self.database = PostgresDatabase(url, ORDER_SCHEMA, namespace=namespace)
        self.uow = PostgresOrderUnitOfWork(self.database)
        self.keys = PostgresIdempotencyStore(self.database)
        self._ids = iter(range(1_000_000))
        self.name = name

    def new_id(self) -> str:
        return f"{self.name}-{next(self._ids)}"

    def place(self, customer_id: str, quantity: int = 1, now: datetime = T0) -> Order:
        return asyncio.run(
            place_order(
                [Line("pen", quantity)],
                customer_id=customer_id,
                catalog=InMemoryProductCatalog(InMemoryProductUnitOfWork([PEN])),
                uow=self.uow,
                new_id=self.new_id,
                now=now,
                correlation_id=self.new_id(),
                hold_limit=LIMIT,
            )
        )


@pytest.fixture
def instances(postgres_url: str, postgres_namespace: str) -> Iterator[tuple[Instance, Instance]]:
    first = Instance(postgres_url, postgres_namespace, "first")
    second = Instance(postgres_url, postgres_namespace, "second")
    yield first, second
    first.database.close_all()
    second.database.close_all()


def race(contenders: list[Callable[[], R]]) -> list[R | Exception]:
    """Run every contender at once, each on a thread of its own; what each returned or raised."""
    start = threading.Barrier(len(contenders))
    results: list[R | Exception] = [RuntimeError("did not finish")] * len(contenders)

    def run(index: int, contender: Callable[[], R]) -> None:
        start.wait()
        try:
            results[index] = contender()
        except Exception as error:  # noqa: BLE001 - the race's outcome, asserted by the test
            results[index] = error

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


class TestSeveralOrderServiceInstances:
    def test_instances_started_at_once_on_a_new_database_all_start_on_one_schema(
        self, postgres_url, postgres_namespace
    ):
        def start() -> PostgresDatabase:
            return PostgresDatabase(postgres_url, ORDER_SCHEMA, namespace=postgres_namespace)

        started = race([start] * 8)

        databases = [each for each in started if isinstance(each, PostgresDatabase)]
        for database in databases:
            database.close_all()
        assert started == databases  # none failed creating the schema or its tables

    def test_one_customer_s_orders_placed_on_both_at_once_never_pass_the_hoarding_limit(self, instances):
        first, second = instances
        placements = [lambda i=i: (first if i % 2 else second).place("alice") for i in range(8)]

        results = race(placements)

        placed = [r for r in results if isinstance(r, Order)]
        refused = [r for r in results if isinstance(r, HoldLimitReached)]
        assert (len(placed), len(refused)) == (LIMIT.max_orders, 8 - LIMIT.max_orders)
        assert second.uow.orders.holdings_of("alice").orders == LIMIT.max_orders

    def test_both_sweeping_expired_orders_at_once_cancel_each_order_once(self, instances):
        first, second = instances
        placed = [first.place(f"customer-{n}") for n in range(6)]
        later = T0 + TIMEOUT + timedelta(seconds=1)

        def sweep(instance: Instance) -> list[Order]:
            return expire_unpaid_orders(
                uow=instance.uow, now=later, timeout=TIMEOUT, new_id=instance.new_id, correlation_id="sweep"
            )

        swept = race([lambda: sweep(first), lambda: sweep(second)])

        cancelled = [order.order_id for result in swept for order in result]
        assert sorted(cancelled) == sorted(order.order_id for order in placed)
        assert {first.uow.orders.get(o.order_id).status for o in placed} == {OrderStatus.CANCELLED}
        cancel_events = [row for row in PostgresOutbox(first.database).pending(100) if row.topic == "cancel-order"]
        assert len(cancel_events) == len(placed)

    def test_one_idempotency_key_claimed_on_both_at_once_is_held_by_one(self, instances):
        first, second = instances

        def claim(instance: Instance) -> Remembered | None:
            return instance.keys.claim("alice", "k-1", "fp", T0)

        claims = race([lambda: claim(first), lambda: claim(second)])

        # The winner holds the key (None: claimed, go on); the other is told a request with it is in flight.
        assert sorted(claims, key=lambda claim: claim is not None) == [None, Remembered("fp", None)]
