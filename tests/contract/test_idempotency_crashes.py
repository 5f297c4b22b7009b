"""A crash at any step of placing an order with an Idempotency-Key, then a retry with the same key: exactly one
order, and the retry's answer names it.

The process is the Order Service's storage as the services wire it (the key store and the order's unit of
work on one database: a SQLite file, or a PostgreSQL schema, the `postgres` cases, marked) and the steps
`adapters.http.idempotency.once` takes. A crash at a step raises `ProcessDied` there; from then on the dead
process does nothing more (no release, no rollback of its own), and its connections are closed as the
operating system closes a killed process's files and sockets, which loses whatever it had not committed:
SQLite rolls back a transaction whose connection closes, and so does the PostgreSQL server. Nothing commits on
the way down: the unit of work the crash leaves open is never exited, and every context manager the crash
could pass through (psycopg's connections, transactions and pool, the units of work) rolls back on any
BaseException, as the process's death would. The retry is a new process on the same database, after the
claim's lease has run out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Protocol

import pytest

from adapters.http.idempotency import once
from adapters.memory.catalog import InMemoryProductCatalog
from adapters.memory.products import InMemoryProductUnitOfWork
from adapters.postgres.database import Connection, PostgresDatabase
from adapters.postgres.idempotency import PostgresIdempotencyStore
from adapters.postgres.orders import ORDER_SCHEMA as POSTGRES_ORDER_SCHEMA
from adapters.postgres.orders import PostgresOrderUnitOfWork
from adapters.sqlite.database import Database
from adapters.sqlite.idempotency import SqliteIdempotencyStore
from adapters.sqlite.orders import ORDER_SCHEMA, SqliteOrderUnitOfWork
from ordering_core import KeyedPlacement, Line, Order, Product, Remembered, Reply, place_order, run_here
from ordering_core.ports import (
    EventPublisher,
    IdempotencyStore,
    Inbox,
    OrderRepository,
    OrderUnitOfWork,
    Replies,
)

CUSTOMER = "customer-a"
KEY = "retry-me"
FINGERPRINT = "fp-1"
LEASE = timedelta(minutes=1)
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

# The steps of a placement that nothing kills, each a crash test's parameter: a step added to the wrappers
# below fails test_a_placement_takes_the_steps_the_crashes_are_injected_at until it is added here.
STEPS = [
    "before the claim",
    "after the claim",
    "before the order's transaction",
    "before its commit",
    "after its commit",
]


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


class MortalKeys:
    """The process's key store, with its fate met around the steps `once` takes."""

    def __init__(self, keys: IdempotencyStore, fate: Fate) -> None:
        self._keys = keys
        self._fate = fate

    def claim(self, customer_id: str, key: str, fingerprint: str, now: datetime) -> Remembered | None:
        self._fate.step("before the claim")
        remembered = self._keys.claim(customer_id, key, fingerprint, now)
        self._fate.step("after the claim")
        return remembered

    def fulfil(self, customer_id: str, key: str, reply: Reply) -> None:
        self._keys.fulfil(customer_id, key, reply)

    def release(self, customer_id: str, key: str) -> None:
        self._fate.step("release")
        self._keys.release(customer_id, key)


class MortalOrders:
    """The process's order unit of work, with its fate met around its transaction and commit."""

    def __init__(self, uow: OrderUnitOfWork, fate: Fate) -> None:
        self._uow = uow
        self._fate = fate

    @property
    def orders(self) -> OrderRepository:
        return self._uow.orders

    @property
    def events(self) -> EventPublisher:
        return self._uow.events

    @property
    def inbox(self) -> Inbox:
        return self._uow.inbox

    @property
    def replies(self) -> Replies:
        return self._uow.replies

    def __enter__(self) -> MortalOrders:
        self._fate.step("before the order's transaction")
        self._uow.__enter__()
        return self

    def commit(self) -> None:
        self._fate.step("before its commit")
        self._uow.commit()
        self._fate.step("after its commit")

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if not self._fate.dead:  # a dead process rolls nothing back: closing its connections does
            self._uow.__exit__(kind, error, traceback)


class Process(Protocol):
    """One process of the Order Service: its key store and its order unit of work, on the test's database."""

    @property
    def keys(self) -> IdempotencyStore: ...

    @property
    def uow(self) -> OrderUnitOfWork: ...

    def order_ids_of(self, customer_id: str) -> list[str]:
        """The ids of the customer's orders, as committed."""

    def kill(self) -> None:
        """Close every connection the process has, as the operating system does when it is killed."""


class SqliteProcess:
    def __init__(self, path: Path) -> None:
        self.database = Database(path, ORDER_SCHEMA)
        self.keys = SqliteIdempotencyStore(self.database, lease=LEASE)
        self.uow = SqliteOrderUnitOfWork(self.database)

    def order_ids_of(self, customer_id: str) -> list[str]:
        selected = self.database.connection().execute(
            "SELECT order_id FROM orders WHERE customer_id = ?", (customer_id,)
        )
        return [order_id for (order_id,) in selected]

    def kill(self) -> None:
        self.database.close_all()  # every connection, held by a unit of work or not: uncommitted work is gone


class PostgresProcess:
    """Its pool's connections are the process's sockets: every one it takes out is kept, so a kill can close
    those a dead unit of work never handed back (the server then rolls back their open transactions and frees
    the writer lock), as well as those idle in the pool."""

    def __init__(self, url: str, namespace: str) -> None:
        self.database = PostgresDatabase(url, POSTGRES_ORDER_SCHEMA, namespace=namespace)
        self.keys = PostgresIdempotencyStore(self.database, lease=LEASE)
        self.uow = PostgresOrderUnitOfWork(self.database)
        self._taken: list[Connection] = []
        self._take = self.database.pool.getconn
        self.database.pool.getconn = self._take_and_keep  # type: ignore[method-assign]

    def order_ids_of(self, customer_id: str) -> list[str]:
        with self.database.connection() as connection:
            selected = connection.execute(
                "SELECT order_id FROM orders WHERE customer_id = %s", (customer_id,)
            )
            return [order_id for (order_id,) in selected]

    def kill(self) -> None:
        self.database.close_all()  # closes the idle connections; those taken out are left to their user
        for connection in self._taken:
            connection.close()  # no COMMIT, no ROLLBACK: the socket goes, and the server rolls back

    def _take_and_keep(self, timeout: float | None = None) -> Connection:
        connection = self._take(timeout)
        self._taken.append(connection)
        return connection


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def start(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Process]]:
    """Starts a process on the test's database (a SQLite file, or a PostgreSQL schema of its own); the test's
    processes are all killed at its end, whatever they were doing."""
    new: Callable[[], Process]
    if request.param == "sqlite":
        path = tmp_path / "order.db"

        def new() -> Process:
            return SqliteProcess(path)

    else:
        url, namespace = (
            request.getfixturevalue("postgres_url"),
            request.getfixturevalue("postgres_namespace"),
        )

        def new() -> Process:
            return PostgresProcess(url, namespace)

    started: list[Process] = []

    def start() -> Process:
        started.append(new())
        return started[-1]

    yield start
    for process in started:
        process.kill()


def order_body(order: Order) -> bytes:
    return order.order_id.encode()


def place_with_the_key(process: Process, fate: Fate, now: datetime, new_id: Callable[[], str]) -> Reply:
    """What POST /orders/order does with an Idempotency-Key, on this process's storage."""
    keys = MortalKeys(process.keys, fate)
    uow = MortalOrders(process.uow, fate)
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


def test_a_placement_takes_the_steps_the_crashes_are_injected_at(start: Callable[[], Process]) -> None:
    fate = Fate(at=None)

    place_with_the_key(start(), fate, T0, ids("dry"))

    assert fate.steps == STEPS


@pytest.mark.parametrize("crash_at", range(len(STEPS)), ids=STEPS)
def test_a_crash_at_any_step_then_a_retry_with_the_same_key_leaves_exactly_one_order(
    start: Callable[[], Process], crash_at: int
) -> None:
    first_process = start()
    with pytest.raises(ProcessDied):
        place_with_the_key(first_process, Fate(at=crash_at), T0, ids("first"))
    first_process.kill()

    second_process = start()
    retried = place_with_the_key(second_process, Fate(at=None), T0 + LEASE, ids("retry"))
    orders = second_process.order_ids_of(CUSTOMER)

    assert orders == [retried.order_id]
    assert retried.body == retried.order_id.encode()


@pytest.mark.parametrize(
    "crash_at", range(STEPS.index("after its commit")), ids=STEPS[: STEPS.index("after its commit")]
)
def test_a_crash_before_the_order_committed_loses_it_and_the_retry_places_its_own(
    start: Callable[[], Process], crash_at: int
) -> None:
    first_process = start()
    with pytest.raises(ProcessDied):
        place_with_the_key(first_process, Fate(at=crash_at), T0, ids("first"))
    first_process.kill()

    retried = place_with_the_key(start(), Fate(at=None), T0 + LEASE, ids("retry"))

    assert retried.order_id.startswith("retry-")


def test_a_crash_after_the_order_committed_gives_the_retry_the_first_order(
    start: Callable[[], Process],
) -> None:
    first_process = start()
    with pytest.raises(ProcessDied):
        place_with_the_key(first_process, Fate(at=STEPS.index("after its commit")), T0, ids("first"))
    first_process.kill()

    retried = place_with_the_key(start(), Fate(at=None), T0 + LEASE, ids("retry"))

    assert retried.order_id.startswith("first-")
