"""A database that does not answer (down, failing over, a lock wait timed out) is a 503 the client may retry,
not a 500: `/problems/database-unavailable` with Retry-After, logged as one warning line, no traceback.

The HTTP room knows no driver: which errors mean "did not answer" comes from the composition root
(`entrypoints.storage`, a `DatabaseErrors`), so most tests here register a stand-in class. The last ones use
the real engines: SQLite's error classes, and an Order Service on PostgreSQL whose connections are cut.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from http_contract import TestClient
from http_services import Clock, Ids
from psycopg import sql
from starlette.applications import Starlette

import identities
import localpg
from adapters.http.problems import DatabaseErrors
from adapters.memory.catalog import InMemoryProductCatalog
from adapters.memory.messages import InMemoryMessageUnitOfWork
from adapters.memory.orders import InMemoryOrderUnitOfWork
from adapters.memory.products import InMemoryProductUnitOfWork
from adapters.memory.views import InMemoryMessageViews, InMemoryOrderViews, InMemoryProductViews
from adapters.retention import Retention
from entrypoints import message_app, order_app, product_app
from entrypoints.storage import SQLITE_UNAVAILABLE, OrderStorage, Where, order_storage
from ordering_core import Product
from ordering_core.ports import run_here

PROBLEM = "/problems/database-unavailable"
PEN = Product("pen", "Pen", Decimal("2.50"), 10)


class Unanswered(Exception):
    """Stands for an engine's "the database did not answer" (psycopg.OperationalError, say)."""


STAND_IN = DatabaseErrors((Unanswered,))


def unanswered(*_: Any, **__: Any) -> Any:
    raise Unanswered("connection to server lost:\n\tthe server closed the connection unexpectedly")


def client(app: Starlette, headers: dict[str, str]) -> TestClient:
    # Not the ContractClient: openapi.yaml declares the 503, as the 500, once for every operation (its
    # description), not in each operation's responses.
    return TestClient(app, raise_server_exceptions=False, headers=headers)


def order_service(
    *, unavailable: DatabaseErrors | None = STAND_IN, views: Callable[[InMemoryOrderUnitOfWork], Any] | None = None
) -> tuple[TestClient, InMemoryOrderUnitOfWork]:
    orders = FailingOrderUnitOfWork(keys=None)
    app = order_app.create_app(
        uow=lambda: orders,
        offload=run_here,
        views=(views or InMemoryOrderViews)(orders),
        catalog=InMemoryProductCatalog(InMemoryProductUnitOfWork([PEN])),
        idempotency=orders.keys,
        verifier=identities.verifier(),
        new_id=Ids("order"),
        clock=Clock(),
        readiness={},
        unavailable=unavailable,
    )
    return client(app, identities.bearer()), orders


class FailingOrderUnitOfWork(InMemoryOrderUnitOfWork):
    """Its `commit()` raises `Unanswered` while `failing`: the database went away in the middle of the work."""

    failing = False

    def commit(self) -> None:
        if self.failing:
            unanswered()
        super().commit()


class UnansweredOrderViews(InMemoryOrderViews):
    order = unanswered


class UnansweredProductViews(InMemoryProductViews):
    products = unanswered


class UnansweredMessageViews(InMemoryMessageViews):
    messages_for = unanswered


def assert_database_unavailable(answer: httpx.Response) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["retry-after"] == "2"
    problem = answer.json()
    assert problem["type"] == PROBLEM
    assert problem["status"] == 503
    assert problem["title"] == "The service's database did not answer"
    assert "retry shortly" in problem["detail"]
    assert "server closed" not in answer.text  # the driver's words are for the log


def database_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith("database unavailable")]


class TestAnOrderServiceWhoseDatabaseDoesNotAnswer:
    def test_a_read_answers_503_database_unavailable_with_retry_after(self) -> None:
        order, _ = order_service(views=UnansweredOrderViews)

        answer = order.get("/orders/o-1")

        assert_database_unavailable(answer)

    def test_logs_one_warning_line_with_the_error_and_no_traceback(self, caplog: pytest.LogCaptureFixture) -> None:
        order, _ = order_service(views=UnansweredOrderViews)

        with caplog.at_level(logging.INFO):
            order.get("/orders/o-1")

        [line] = database_warnings(caplog)
        assert line.levelno == logging.WARNING
        assert line.getMessage() == (
            "database unavailable: Unanswered: connection to server lost: the server closed the connection unexpectedly"
        )
        assert (line.method, line.path, line.status) == ("GET", "/orders/o-1", 503)  # type: ignore[attr-defined]
        assert line.exc_info is None
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

    def test_a_unit_of_work_that_fails_changes_nothing_and_frees_its_idempotency_key(self) -> None:
        order, orders = order_service()
        orders.failing = True
        request = {"json": {"items": [{"product_id": "pen", "quantity": 1}]}, "headers": {"Idempotency-Key": "k-1"}}

        answer = order.post("/orders/order", **request)

        assert_database_unavailable(answer)
        assert orders.orders.orders == {}
        assert orders.events.published == []

        orders.failing = False
        retried = order.post("/orders/order", **request)

        assert retried.status_code == 201, retried.text
        assert "Idempotent-Replayed" not in retried.headers

    def test_an_error_the_engine_does_not_name_is_still_a_500(self) -> None:
        order, _ = order_service(views=UnansweredOrderViews, unavailable=DatabaseErrors((sqlite3.OperationalError,)))

        answer = order.get("/orders/o-1")

        assert answer.status_code == 500
        assert answer.json()["type"] == "/problems/internal-error"

    def test_an_app_given_no_database_errors_answers_them_500(self) -> None:
        order, _ = order_service(views=UnansweredOrderViews, unavailable=None)

        answer = order.get("/orders/o-1")

        assert answer.status_code == 500


class TestEveryService:
    def test_the_product_service_answers_503(self) -> None:
        shelf = InMemoryProductUnitOfWork([PEN])
        app = product_app.create_app(
            uow=lambda: shelf,
            offload=run_here,
            views=UnansweredProductViews(shelf),
            verifier=identities.verifier(),
            new_id=Ids("product"),
            readiness={},
            unavailable=STAND_IN,
        )

        assert_database_unavailable(client(app, {}).get("/products"))

    def test_the_message_service_answers_503(self) -> None:
        messages = InMemoryMessageUnitOfWork()
        app = message_app.create_app(
            views=UnansweredMessageViews(messages),
            verifier=identities.verifier(),
            new_id=Ids("message"),
            readiness={},
            unavailable=STAND_IN,
        )

        assert_database_unavailable(client(app, identities.bearer()).get("/messages", params={"order_id": "o-1"}))


# -- the real engines ------------------------------------------------------------------------------------


def sqlite_busy(tmp_path: Path) -> sqlite3.OperationalError:
    """What SQLite raises when another connection holds the write lock past the busy timeout."""
    path = tmp_path / "busy.db"
    holder = sqlite3.connect(path, isolation_level=None, timeout=0)
    waiter = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError) as busy:
            waiter.execute("BEGIN IMMEDIATE")
        holder.execute("ROLLBACK")
    finally:
        holder.close()
        waiter.close()
    return busy.value


class TestSqlite:
    def test_a_locked_database_is_an_outage(self, tmp_path: Path) -> None:
        assert SQLITE_UNAVAILABLE.when(sqlite_busy(tmp_path))
        # adapters.sqlite.database's own writer lock, when it times out, raises this one.
        assert SQLITE_UNAVAILABLE.when(sqlite3.OperationalError("database is locked (another thread is writing)"))

    def test_a_missing_table_is_a_bug_not_an_outage(self) -> None:
        with sqlite3.connect(":memory:") as connection, pytest.raises(sqlite3.OperationalError) as missing:
            connection.execute("SELECT * FROM no_such_table")

        assert not SQLITE_UNAVAILABLE.when(missing.value)

    def test_the_order_service_answers_503_to_a_locked_database_and_500_to_a_missing_table(
        self, tmp_path: Path
    ) -> None:
        busy = sqlite_busy(tmp_path)

        def raising(error: Exception) -> Callable[[InMemoryOrderUnitOfWork], Any]:
            class Views(InMemoryOrderViews):
                def order(self, order_id: str) -> Any:
                    raise error

            return Views

        locked, _ = order_service(views=raising(busy), unavailable=SQLITE_UNAVAILABLE)
        broken, _ = order_service(
            views=raising(sqlite3.OperationalError("no such table: orders")), unavailable=SQLITE_UNAVAILABLE
        )

        assert locked.get("/orders/o-1").status_code == 503
        assert broken.get("/orders/o-1").status_code == 500


@pytest.fixture
def postgres_order_storage(
    postgres_server: localpg.PostgresServer, tmp_path: Path
) -> Iterator[tuple[OrderStorage, str]]:
    name = f"db_unavailable_{uuid.uuid4().hex[:12]}"
    url = postgres_server.create_database(name)
    kept = timedelta(hours=1)
    storage = order_storage(Where(database_url=url, data_dir=tmp_path, retention=Retention(kept, kept, kept)))
    try:
        yield storage, name
    finally:
        for close in storage.common.closers:
            close()
        with psycopg.connect(postgres_server.url, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def cut_connections(server_url: str, database: str) -> None:
    """What a failover does to a service: every connection it had to `database` is ended by the server. Returns
    once the server has no backend left for it, so the service's next statement finds its connection gone."""
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        )
        deadline = time.monotonic() + 10
        while connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (database,)
        ).fetchone() != (0,):
            assert time.monotonic() < deadline, f"the server still serves {database} 10 s after ending it"
            time.sleep(0.05)


def postgres_order_app(storage: OrderStorage) -> Starlette:
    """The Order Service's app over its PostgreSQL storage, as entrypoints.order_service wires it, less Kafka."""
    return order_app.create_app(
        uow=lambda: storage.uow,
        offload=storage.offload,
        views=storage.views,
        catalog=InMemoryProductCatalog(InMemoryProductUnitOfWork([PEN])),
        idempotency=storage.idempotency,
        verifier=identities.verifier(),
        new_id=Ids(f"order-{uuid.uuid4().hex[:8]}"),
        clock=Clock(),
        readiness={"database": storage.common.check},
        unavailable=storage.common.unavailable,
    )


def once_answered(order: TestClient, path: str) -> httpx.Response:
    """GET `path` until it answers 200: the pool drops each broken connection as it comes back and opens a new
    one, so the service recovers by itself, after at most one 503 per connection it had."""
    answers = [order.get(path) for _ in range(12)]
    assert answers[-1].status_code == 200, [a.status_code for a in answers]
    return answers[-1]


@pytest.mark.postgres
class TestPostgres:
    def test_an_order_service_whose_connections_were_cut_answers_503_then_recovers(
        self,
        postgres_server: localpg.PostgresServer,
        postgres_order_storage: tuple[OrderStorage, str],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        storage, database = postgres_order_storage
        app = postgres_order_app(storage)
        order = client(app, identities.bearer())
        placed = order.post("/orders/order", json={"items": [{"product_id": "pen", "quantity": 1}]})
        assert placed.status_code == 201, placed.text
        order_id = placed.json()["order_id"]

        cut_connections(postgres_server.url, database)
        with caplog.at_level(logging.WARNING):
            answer = order.get(f"/orders/{order_id}")

        assert answer.status_code == 503, answer.text
        assert answer.json()["type"] == PROBLEM
        assert answer.headers["retry-after"] == "2"
        [line] = database_warnings(caplog)
        assert line.exc_info is None
        once_answered(order, f"/orders/{order_id}")  # no restart needed

    def test_a_payment_whose_connection_was_cut_answers_503_and_pays_nothing(
        self, postgres_server: localpg.PostgresServer, postgres_order_storage: tuple[OrderStorage, str]
    ) -> None:
        storage, database = postgres_order_storage
        app = postgres_order_app(storage)
        order, payments = client(app, identities.bearer()), client(app, identities.payments())
        placed = order.post("/orders/order", json={"items": [{"product_id": "pen", "quantity": 1}]})
        order_id = placed.json()["order_id"]

        cut_connections(postgres_server.url, database)
        answer = payments.post("/orders/paid", json={"order_id": order_id, "payment_id": "pay-1"})

        assert answer.status_code == 503, answer.text
        assert answer.json()["type"] == PROBLEM
        assert once_answered(order, f"/orders/{order_id}").json()["status"] == "unpaid"
