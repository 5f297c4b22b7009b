"""A crash at any step of placing an order with an Idempotency-Key, then a retry with the same key: exactly one
order, and the retry's answer names it.

The process is the Order Service's storage as the services wire it (SQLite: the key store and the order's
unit of work on one file) and the steps `adapters.http.idempotency.once` takes. A crash at a step raises
`ProcessDied` there; from then on the dead process does nothing more (no release, no rollback of its own), and
its connections are closed as the operating system closes a killed process's files, which loses whatever it
had not committed. The retry is a new process on the same file, after the claim's lease has run out.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import TracebackType

import pytest

from adapters.http.idempotency import once
from adapters.memory.catalog import InMemoryProductCatalog
from adapters.memory.products import InMemoryProductUnitOfWork
from adapters.sqlite.database import Database
from adapters.sqlite.idempotency import SqliteIdempotencyStore
from adapters.sqlite.orders import ORDER_SCHEMA, SqliteOrderUnitOfWork
from ordering_core import KeyedPlacement, Line, Order, Product, Remembered, Reply, place_order, run_here

CUSTOMER = "customer-a"
KEY = "retry-me"
FINGERPRINT = "fp-1"
LEASE = timedelta(minutes=1)
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class ProcessDied(BaseException):
    """The process was killed at this step (a BaseException: nothing in the code under test catches it)."""


class Fate:
    """Kills the process at step number `at` (None: never); every step after that fails too."""

    def __init__(self, at: int | None) -> None:
        self.at = at
        self.steps: list[str] = []
        self.dead = False

    def step(self, name: str) -> None:
        if self.dead or len(self.steps) == self.at:
            self.dead = True
            raise ProcessDied(name)
        self.steps.append(name)


class MortalKeys(SqliteIdempotencyStore):
    def __init__(self, database: Database, fate: Fate) -> None:
        super().__init__(database, lease=LEASE)
        self._fate = fate

    def claim(self, customer_id: str, key: str, fingerprint: str, now: datetime) -> Remembered | None:
        self._fate.step("before the claim")
        remembered = super().claim(customer_id, key, fingerprint, now)
        self._fate.step("after the claim")
        return remembered

    def release(self, customer_id: str, key: str) -> None:
        self._fate.step("release")
        super().release(customer_id, key)


class MortalOrders(SqliteOrderUnitOfWork):
    def __init__(self, database: Database, fate: Fate) -> None:
        super().__init__(database)
        self._fate = fate

    def __enter__(self) -> MortalOrders:
        self._fate.step("before the order's transaction")
        return super().__enter__()

    def commit(self) -> None:
        self._fate.step("before its commit")
        super().commit()
        self._fate.step("after its commit")

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if not self._fate.dead:  # a dead process rolls nothing back: closing its connections does
            super().__exit__(kind, error, traceback)


def order_body(order: Order) -> bytes:
    return order.order_id.encode()


def place_with_the_key(database: Database, fate: Fate, now: datetime, new_id: Callable[[], str]) -> Reply:
    """What POST /orders/order does with an Idempotency-Key, on this process's storage."""
    keys = MortalKeys(database, fate)
    uow = MortalOrders(database, fate)
    shelf = InMemoryProductUnitOfWork([Product("pen", "Pen", Decimal("2.50"), 100)])

    async def place() -> Reply:
        order = await place_order(
            [Line("pen", 1)],
            customer_id=CUSTOMER,
            catalog=InMemoryProductCatalog(shelf),
            uow=uow,
            new_id=new_id,
            now=now,
            correlation_id="c-1",
            keyed=KeyedPlacement(KEY, order_body),
        )
        return Reply(order.order_id, order_body(order))

    reply, _replayed = asyncio.run(once(keys, run_here, CUSTOMER, KEY, FINGERPRINT, now, place))
    return reply


def ids(prefix: str) -> Callable[[], str]:
    count = iter(range(1, 1_000))
    return lambda: f"{prefix}-{next(count)}"


def steps_of_a_placement() -> list[str]:
    """The steps of a placement that nothing kills (the parameters of the crash tests)."""
    fate = Fate(at=None)
    with (
        tempfile.TemporaryDirectory(prefix="crash-steps-") as folder,
        Database(Path(folder) / "order.db", ORDER_SCHEMA) as database,
    ):
        place_with_the_key(database, fate, T0, ids("dry"))
    return fate.steps


STEPS = steps_of_a_placement()


def test_a_placement_takes_the_steps_the_crashes_are_injected_at() -> None:
    assert STEPS == [
        "before the claim",
        "after the claim",
        "before the order's transaction",
        "before its commit",
        "after its commit",
    ]


@pytest.mark.parametrize("crash_at", range(len(STEPS)), ids=STEPS)
def test_a_crash_at_any_step_then_a_retry_with_the_same_key_leaves_exactly_one_order(
    tmp_path: Path, crash_at: int
) -> None:
    path = tmp_path / "order.db"
    first_process = Database(path, ORDER_SCHEMA)
    with pytest.raises(ProcessDied):
        place_with_the_key(first_process, Fate(at=crash_at), T0, ids("first"))
    first_process.close_all()  # killed: its files close, and what it had not committed is gone

    with Database(path, ORDER_SCHEMA) as second_process:
        retried = place_with_the_key(second_process, Fate(at=None), T0 + LEASE, ids("retry"))
        orders = [
            order_id
            for (order_id,) in second_process.connection().execute(
                "SELECT order_id FROM orders WHERE customer_id = ?", (CUSTOMER,)
            )
        ]

    assert orders == [retried.order_id]
    assert retried.body == retried.order_id.encode()


def test_a_crash_after_the_order_committed_gives_the_retry_the_first_order(tmp_path: Path) -> None:
    path = tmp_path / "order.db"
    first_process = Database(path, ORDER_SCHEMA)
    with pytest.raises(ProcessDied):
        place_with_the_key(first_process, Fate(at=STEPS.index("after its commit")), T0, ids("first"))
    first_process.close_all()

    with Database(path, ORDER_SCHEMA) as second_process:
        retried = place_with_the_key(second_process, Fate(at=None), T0 + LEASE, ids("retry"))

    assert retried.order_id.startswith("first-")
