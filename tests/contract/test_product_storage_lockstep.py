"""The Product Service's use cases over memory and a real database in lockstep: after every step both hold the
same. The real database is SQLite, or PostgreSQL in the `postgres` case (marked: it needs the machine's server).

Hypothesis chooses the steps: products put and repriced, restocks, reservations and releases for a few orders
(so they race for stock and overtake each other), the same message delivered again, and deliveries that die
before their commit. Each step runs against both units of work; both must answer alike (the same outcome or
the same error), and the invariants compare everything either one stores, exactly (reprs, so "2.5" cannot
pass for "2.50"), and check conservation of stock on the real database's side.
"""

from __future__ import annotations

import tempfile
from collections import Counter as Tally
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from adapters.memory.products import InMemoryProductUnitOfWork
from adapters.postgres.database import PostgresDatabase
from adapters.postgres.products import PRODUCT_SCHEMA as POSTGRES_PRODUCT_SCHEMA
from adapters.postgres.products import PostgresProductUnitOfWork
from adapters.sqlite.database import Database
from adapters.sqlite.products import PRODUCT_SCHEMA, SqliteProductUnitOfWork
from adapters.wire.codec import decode
from entrypoints.in_process import Counter
from ordering_core import (
    Envelope,
    Event,
    Line,
    OrderingError,
    ProductUnitOfWork,
    StockReleaseRequested,
    StockReservationRequested,
    apply_stock_release,
    apply_stock_reservation,
    put_product,
    restock,
)
from strategies import lines, order_ids, prices, product_ids

PRODUCTS = ("p-1", "p-2", "p-3", "p-4")  # every id `product_ids` draws
ORDERS = tuple(f"o-{n}" for n in range(1, 6))  # every id `order_ids` draws
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class ProcessDied(Exception):
    """The process stopped between applying a message and committing it."""


class DiesBeforeCommit:
    """A unit of work whose `commit()` never happens: the process dies first."""

    def __init__(self, uow: ProductUnitOfWork) -> None:
        self._uow = uow

    def __getattr__(self, part: str) -> Any:
        return getattr(self._uow, part)  # products, ledger, events, inbox

    def __enter__(self) -> Self:
        self._uow.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._uow.__exit__(kind, error, traceback)

    def commit(self) -> None:
        raise ProcessDied


class ProductServiceInLockstep(RuleBasedStateMachine):
    deliveries = Bundle("deliveries")

    real_name = "sqlite"

    def __init__(self) -> None:
        super().__init__()
        self.memory = InMemoryProductUnitOfWork()
        self.real = self.open_real()
        # One id source per backend, counting alike: equal calls make equal events.
        self.new_ids = {"memory": Counter("m"), self.real_name: Counter("m")}
        self.messages = Counter("delivery")
        self.restocked: Tally[str] = Tally()

    def open_real(self) -> ProductUnitOfWork:
        self._folder = tempfile.TemporaryDirectory()
        self.database = Database(Path(self._folder.name) / "product.db", PRODUCT_SCHEMA)
        return SqliteProductUnitOfWork(self.database)

    def teardown(self) -> None:
        self.database.close_all()
        self._folder.cleanup()

    def real_published(self) -> list[Event]:
        rows = self.database.connection().execute("SELECT topic, value FROM outbox ORDER BY id")
        return [decode(topic, value) for topic, value in rows]

    def in_both(
        self, use_case: Callable[[ProductUnitOfWork, Callable[[], str]], object]
    ) -> tuple[object, ...]:
        """Run `use_case` on each backend; both must return the same thing or raise the same error."""
        answers: list[tuple[object, ...]] = []
        for name, uow in (("memory", self.memory), (self.real_name, self.real)):
            try:
                answers.append(("returned", use_case(uow, self.new_ids[name])))
            except (OrderingError, ProcessDied) as error:
                answers.append(("raised", repr(error)))
        assert answers[0] == answers[1], f"memory: {answers[0]}\n{self.real_name}: {answers[1]}"
        return answers[0]

    # One initialize rule: the shop opens with three of the four products in stock, so reservations often fit
    # and often race; the fourth is unknown until a `put_product` step adds it.
    @initialize(stock=st.lists(st.integers(min_value=0, max_value=6), min_size=3, max_size=3))
    def open_the_shop(self, stock: list[int]) -> None:
        for product_id, level in zip(PRODUCTS[:3], stock, strict=True):
            self.put_product(product_id, f"Pen {product_id}", Decimal("2.50"))
            if level:
                self.restock(product_id, level)

    # -- what the admins do -------------------------------------------------------------------------------

    @rule(product_id=product_ids, name=st.sampled_from(["Pen", "Ink"]), price=prices)
    def put_product(self, product_id: str, name: str, price: Decimal) -> None:
        self.in_both(lambda uow, _: put_product(product_id, name, price, uow=uow))

    @rule(product_id=product_ids, quantity=st.integers(min_value=1, max_value=5))
    def restock(self, product_id: str, quantity: int) -> None:
        answer = self.in_both(lambda uow, _: restock(product_id, quantity, uow=uow))
        if answer[0] == "returned":  # an unknown product is refused by both
            self.restocked[product_id] += quantity

    # -- what arrives from the Order Service --------------------------------------------------------------

    # A new message is applied and committed, or its delivery dies before the commit (then Kafka delivers it
    # again later: it stays in `deliveries`).
    @rule(
        target=deliveries,
        order_id=order_ids,
        wanted=lines(st.integers(min_value=1, max_value=3), max_size=3),
        dies_before_commit=st.booleans(),
    )
    def reservation_arrives(
        self, order_id: str, wanted: list[Line], dies_before_commit: bool
    ) -> StockReservationRequested:
        event = StockReservationRequested(self.envelope(order_id), tuple(wanted))
        self.deliver(event, dies_before_commit)
        return event

    @rule(target=deliveries, order_id=order_ids, dies_before_commit=st.booleans())
    def release_arrives(self, order_id: str, dies_before_commit: bool) -> StockReleaseRequested:
        event = StockReleaseRequested(self.envelope(order_id))
        self.deliver(event, dies_before_commit)
        return event

    @rule(event=deliveries, dies_before_commit=st.booleans())
    def the_same_message_arrives_again(
        self, event: StockReservationRequested | StockReleaseRequested, dies_before_commit: bool
    ) -> None:
        self.deliver(event, dies_before_commit)

    def envelope(self, order_id: str) -> Envelope:
        return Envelope(self.messages(), NOW, order_id, "corr-1")

    def deliver(
        self, event: StockReservationRequested | StockReleaseRequested, dies_before_commit: bool
    ) -> None:
        def apply(uow: ProductUnitOfWork, new_id: Callable[[], str]) -> object:
            target = DiesBeforeCommit(uow) if dies_before_commit else uow
            if isinstance(event, StockReservationRequested):
                return apply_stock_reservation(event, uow=target, new_id=new_id, now=NOW)
            return apply_stock_release(event, uow=target)

        self.in_both(apply)

    # -- invariants ---------------------------------------------------------------------------------------

    @invariant()
    def both_store_exactly_the_same(self) -> None:
        assert self.stored(self.real) == self.stored(self.memory)
        assert self.real_published() == self.memory.events.published

    @invariant()
    def stock_is_conserved(self) -> None:
        # Products start with no stock, so: restocked = stock + what reserved entries hold.
        held: Tally[str] = Tally()
        for order_id in ORDERS:
            entry = self.real.ledger.entry_for(order_id)
            for line in entry.held if entry else ():
                held[line.product_id] += line.quantity
        for product in self.real.products.get_many(PRODUCTS).values():
            assert self.restocked[product.product_id] == product.stock + held[product.product_id]

    def stored(self, uow: ProductUnitOfWork) -> str:
        """Everything the unit of work stores, as one exact text (outside a block: the committed state)."""
        products = uow.products.get_many(PRODUCTS)
        ledger = {order_id: uow.ledger.entry_for(order_id) for order_id in ORDERS}
        inbox = [
            f"delivery-{n}" for n in range(1, self.messages.count + 1) if uow.inbox.seen(f"delivery-{n}")
        ]
        return repr((products, ledger, inbox))


TestProductServiceInLockstep = ProductServiceInLockstep.TestCase


class ProductServiceInLockstepOnPostgres(ProductServiceInLockstep):
    """The same machine against PostgreSQL: one schema for the whole test (a schema and its pool cost tens of
    milliseconds, against one for each of Hypothesis's examples), emptied when each example starts."""

    real_name = "postgres"
    shared: PostgresDatabase  # set by the `postgres_product_database` fixture

    def open_real(self) -> ProductUnitOfWork:
        with self.shared.connection() as connection:
            connection.execute("TRUNCATE products, ledger, outbox, inbox RESTART IDENTITY")
        return PostgresProductUnitOfWork(self.shared)

    def teardown(self) -> None:
        """The fixture closes the shared database after the last example."""

    def real_published(self) -> list[Event]:
        with self.shared.connection() as connection:
            rows = connection.execute("SELECT topic, value FROM outbox ORDER BY id").fetchall()
        return [decode(topic, value) for topic, value in rows]


@pytest.fixture
def postgres_product_database(postgres_url: str, postgres_namespace: str) -> Iterator[None]:
    database = PostgresDatabase(postgres_url, POSTGRES_PRODUCT_SCHEMA, namespace=postgres_namespace)
    ProductServiceInLockstepOnPostgres.shared = database
    yield
    database.close_all()


@pytest.mark.postgres
@pytest.mark.usefixtures("postgres_product_database")
class TestProductServiceInLockstepOnPostgres(ProductServiceInLockstepOnPostgres.TestCase):
    # A quarter of the profile's examples: every step's invariants read everything back, a round trip per
    # read, and 100 examples took 42 s (6.6 s in SQLite) on this project's 2-core machine. The soak profile
    # still runs 500.
    settings = settings(max_examples=max(settings.default.max_examples // 4, 1))
