"""The event loop never waits for the database: while another thread holds a long write transaction, a request
that must write waits on the writer thread, and every other request is answered meanwhile.

The apps are wired as their composition roots wire them (SQLite units of work, views and Idempotency-Keys on
one file, `adapters.sqlite.writer.Writer` as the Offload); only the Product Service is in memory. The other
thread's write stands for the expiry sweep, the outbox relay or a consumer.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Self

import httpx
import pytest
from http_services import Clock, Ids

import identities
from adapters.memory.catalog import InMemoryProductCatalog
from adapters.memory.products import InMemoryProductUnitOfWork
from adapters.sqlite.database import Database
from adapters.sqlite.idempotency import SqliteIdempotencyStore
from adapters.sqlite.orders import ORDER_SCHEMA, SqliteOrderUnitOfWork
from adapters.sqlite.products import PRODUCT_SCHEMA, SqliteProductUnitOfWork
from adapters.sqlite.views import SqliteOrderViews, SqliteProductViews
from adapters.sqlite.writer import Writer
from entrypoints import order_app, product_app
from ordering_core import Product
from ordering_core.ports import Remembered

# Long enough never to run out while a slow machine answers the other requests: the held write is ended by
# the test, not by this.
BUSY_TIMEOUT_S = 60.0
HOLD_AT_MOST_S = 60.0


class LongWrite:
    """Another thread's write transaction on `database`, held until `end()`."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._begun = threading.Event()
        self._end = threading.Event()
        self._thread = threading.Thread(target=self._hold, name="long-write")

    def _hold(self) -> None:
        with self._database.transaction():
            self._begun.set()
            self._end.wait(HOLD_AT_MOST_S)
        self._database.close()

    async def begin(self) -> None:
        self._thread.start()
        assert await asyncio.to_thread(self._begun.wait, HOLD_AT_MOST_S), "the long write never began"

    @property
    def held(self) -> bool:
        return self._thread.is_alive() and not self._end.is_set()

    def end(self) -> None:
        self._end.set()
        self._thread.join(HOLD_AT_MOST_S)


class TellsWhenEntered:
    """Mixed into a unit of work: `entering` is set when a block starts to open (and so to wait for the lock)."""

    def __init__(self, database: Database) -> None:
        super().__init__(database)  # type: ignore[call-arg]  # the unit of work it is mixed into takes it
        self.entering = threading.Event()

    def __enter__(self) -> Self:
        self.entering.set()
        return super().__enter__()  # type: ignore[misc,no-any-return]


class Entering(TellsWhenEntered, SqliteOrderUnitOfWork):
    """The Order Service's unit of work, telling when a block starts to open."""


class EnteringProducts(TellsWhenEntered, SqliteProductUnitOfWork):
    """The Product Service's, the same."""


class Claiming(SqliteIdempotencyStore):
    """The Idempotency-Keys, telling when a claim starts (and so waits for the lock)."""

    def __init__(self, database: Database) -> None:
        super().__init__(database)
        self.claiming = threading.Event()

    def claim(self, customer_id: str, key: str, fingerprint: str, now: datetime) -> Remembered | None:
        self.claiming.set()
        return super().claim(customer_id, key, fingerprint, now)


async def reached(step: threading.Event) -> None:
    """Wait, off the loop, until a request's write has begun waiting for the lock."""
    assert await asyncio.to_thread(step.wait, HOLD_AT_MOST_S), "the request never reached its write"


@pytest.fixture
def order_db(tmp_path: Path) -> Iterator[Database]:
    with Database(tmp_path / "order.db", ORDER_SCHEMA, busy_timeout_s=BUSY_TIMEOUT_S) as database:
        yield database


@asynccontextmanager
async def order_service(order_db: Database) -> AsyncIterator[tuple[httpx.AsyncClient, Entering, Claiming]]:
    shelf = InMemoryProductUnitOfWork()
    shelf.products.add(Product("pen", "Pen", Decimal("2.50"), 100))
    uow = Entering(order_db)
    keys = Claiming(order_db)
    writer = Writer(order_db)
    app = order_app.create_app(
        uow=lambda: uow,
        offload=writer,
        views=SqliteOrderViews(order_db),
        catalog=InMemoryProductCatalog(shelf),
        idempotency=keys,
        verifier=identities.verifier(),
        new_id=Ids("order"),
        clock=Clock(),
        readiness={},
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://order") as client:
        yield client, uow, keys
    await asyncio.to_thread(writer.close)


async def place(client: httpx.AsyncClient) -> str:
    answer = await client.post(
        "/orders/order", json={"items": [{"product_id": "pen", "quantity": 1}]}, headers=identities.bearer()
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["order_id"])


class TestWhileAnotherThreadHoldsALongWrite:
    def test_a_payment_waits_on_the_writer_thread_while_reads_and_probes_are_answered(
        self, order_db: Database
    ) -> None:
        async def scenario() -> tuple[bool, httpx.Response, httpx.Response, httpx.Response]:
            async with order_service(order_db) as (client, uow, _keys):
                order_id = await place(client)
                uow.entering.clear()
                write = LongWrite(order_db)
                await write.begin()

                paying = asyncio.create_task(
                    client.post("/orders/paid", json={"order_id": order_id}, headers=identities.payments())
                )
                await reached(uow.entering)
                read = await client.get(f"/orders/{order_id}", headers=identities.bearer())
                probe = await client.get("/healthz")
                answered_while_held = write.held and not paying.done()
                write.end()
                return answered_while_held, read, probe, await paying

        answered_while_held, read, probe, paid = asyncio.run(scenario())

        assert answered_while_held
        assert (read.status_code, read.json()["status"]) == (200, "unpaid")
        assert probe.status_code == 200
        assert (paid.status_code, paid.json()["status"]) == (200, "paid")

    def test_an_order_with_an_idempotency_key_waits_and_another_customer_is_still_served(
        self, order_db: Database
    ) -> None:
        async def scenario() -> tuple[bool, str, httpx.Response, httpx.Response]:
            async with order_service(order_db) as (client, _uow, keys):
                earlier = await place(client)
                write = LongWrite(order_db)
                await write.begin()

                keyed = asyncio.create_task(
                    client.post(
                        "/orders/order",
                        json={"items": [{"product_id": "pen", "quantity": 2}]},
                        headers={**identities.bearer(identities.CUSTOMER_B), "Idempotency-Key": "k-1"},
                    )
                )
                await reached(keys.claiming)
                page = await client.get("/orders", headers=identities.bearer())
                answered_while_held = write.held and not keyed.done()
                write.end()
                return answered_while_held, earlier, page, await keyed

        answered_while_held, earlier, page, placed = asyncio.run(scenario())

        assert answered_while_held
        assert [order["order_id"] for order in page.json()["orders"]] == [earlier]
        assert placed.status_code == 201


class TestProductServiceWhileTheStockConsumerWrites:
    def test_a_restock_waits_while_the_catalog_and_availability_are_answered(self, tmp_path: Path) -> None:
        async def scenario(database: Database, uow: EnteringProducts) -> list[object]:
            writer = Writer(database)
            app = product_app.create_app(
                uow=lambda: uow,
                offload=writer,
                views=SqliteProductViews(database),
                verifier=identities.verifier(),
                new_id=Ids("product"),
                readiness={},
            )
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://p") as client:
                write = LongWrite(database)
                await write.begin()

                restocking = asyncio.create_task(
                    client.post("/products/pen/restock", json={"quantity": 4}, headers=identities.admin())
                )
                await reached(uow.entering)
                catalog = await client.get("/products")
                availability = await client.post(
                    "/products/availability", json={"items": [{"product_id": "pen", "quantity": 1}]}
                )
                answered_while_held = write.held and not restocking.done()
                write.end()
                restocked = await restocking
            await asyncio.to_thread(writer.close)
            return [answered_while_held, catalog, availability, restocked]

        with Database(tmp_path / "product.db", PRODUCT_SCHEMA, busy_timeout_s=BUSY_TIMEOUT_S) as database:
            uow = EnteringProducts(database)
            with uow:
                uow.products.add(Product("pen", "Pen", Decimal("2.50"), 1))
                uow.commit()
            uow.entering.clear()
            answered_while_held, catalog, availability, restocked = asyncio.run(scenario(database, uow))

        assert answered_while_held is True
        assert isinstance(catalog, httpx.Response) and [product["stocks"] for product in catalog.json()] == [1]
        assert isinstance(availability, httpx.Response) and availability.status_code == 200
        assert isinstance(restocked, httpx.Response)
        assert (restocked.status_code, restocked.json()["stocks"]) == (200, 5)


class TestWriter:
    def test_a_block_runs_at_once_on_the_callers_thread_when_no_other_thread_writes(
        self, order_db: Database
    ) -> None:
        async def scenario() -> str:
            writer = Writer(order_db)
            ran_on = await writer(lambda: threading.current_thread().name)
            await asyncio.to_thread(writer.close)
            return ran_on

        assert asyncio.run(scenario()) == "MainThread"

    def test_a_block_is_handed_to_the_writer_thread_while_another_thread_writes_and_sees_the_callers_context(
        self, order_db: Database
    ) -> None:
        request = contextvars.ContextVar("request", default="none")

        async def scenario() -> tuple[str, str]:
            writer = Writer(order_db)
            write = LongWrite(order_db)
            await write.begin()
            request.set("r-1")
            seen = await writer(lambda: (threading.current_thread().name, request.get()))
            write.end()
            await asyncio.to_thread(writer.close)
            return seen

        assert asyncio.run(scenario()) == ("order-writer_0", "r-1")

    def test_after_a_block_ran_at_once_another_thread_may_write_even_if_the_block_failed(
        self, order_db: Database
    ) -> None:
        def commits_twice_then_fails() -> None:
            for n in range(2):
                with order_db.transaction() as connection:
                    connection.execute("INSERT INTO inbox (message_id) VALUES (?)", (f"m-{n}",))
            raise LookupError("after two commits")

        def another_thread_writes() -> None:
            with order_db.transaction() as connection:
                connection.execute("INSERT INTO inbox (message_id) VALUES ('m-other')")
            order_db.close()

        async def scenario() -> None:
            writer = Writer(order_db)
            with pytest.raises(LookupError):
                await writer(commits_twice_then_fails)
            await asyncio.to_thread(another_thread_writes)
            await asyncio.to_thread(writer.close)

        asyncio.run(scenario())
        rows = order_db.connection().execute("SELECT message_id FROM inbox ORDER BY message_id").fetchall()

        assert rows == [("m-0",), ("m-1",), ("m-other",)]

    def test_an_exception_of_the_block_reaches_the_caller(self, order_db: Database) -> None:
        def fails() -> None:
            raise LookupError("no such order")

        async def scenario() -> None:
            writer = Writer(order_db)
            try:
                await writer(fails)
            finally:
                await asyncio.to_thread(writer.close)

        with pytest.raises(LookupError, match="no such order"):
            asyncio.run(scenario())

    def test_close_finishes_the_blocks_handed_over_and_later_ones_are_refused(self, order_db: Database) -> None:
        done: list[int] = []

        async def scenario() -> None:
            writer = Writer(order_db)
            write = LongWrite(order_db)
            await write.begin()
            handed = [asyncio.ensure_future(writer(lambda n=n: done.append(n))) for n in range(3)]
            await asyncio.sleep(0)  # one turn of the loop: each call hands its block over at its first step
            write.end()
            await asyncio.to_thread(writer.close)
            await asyncio.gather(*handed)
            write = LongWrite(order_db)
            await write.begin()
            try:
                await writer(lambda: None)
            finally:
                write.end()

        with pytest.raises(RuntimeError, match="after shutdown"):
            asyncio.run(scenario())

        assert done == [0, 1, 2]
