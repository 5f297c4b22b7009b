"""The seed's story, end to end: real Kafka, the three services as uvicorn processes, their state in SQLite
files on disk, and again in PostgreSQL (DATABASE_URL; a database of the module's own on the session's server).

Every wait is on a condition (a stock level, a message) with a deadline, never a sleep. The services are
restarted mid-story; nothing is lost and nothing is applied twice. Callers sign in with tokens of the local
key the services make in their data folder (`RunningSystem.bearer`), each test as a customer of its own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

import localkafka
import run
from adapters.identity.local import LocalIssuer, LocalKeyFile
from entrypoints.settings import LOCAL_KEY_FILE_NAME
from ordering_core.customers import Role

pytestmark = pytest.mark.kafka

WAIT_S = 30.0
PRODUCTS = {
    "E1": {"name": "Pen", "price": "2.50", "stocks": 20},
    "E2": {"name": "Ink", "price": "1.20", "stocks": 3},
}


class RunningSystem:
    def __init__(self, bootstrap: str, data_dir: Path, log_file: Path, **settings: str) -> None:
        self.ports = {name: localkafka.free_port() for name in run.SERVICES}
        self.env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "DATA_DIR": str(data_dir),
            "PRODUCT_SERVICE_URL": f"http://127.0.0.1:{self.ports['product']}",
            "PYTHONUNBUFFERED": "1",
            **settings,
        }
        self.log = log_file.open("a")
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        # The key file the services make (or find) at start; the first of them or this wins, the same file.
        self.issuer = LocalIssuer(LocalKeyFile(data_dir / LOCAL_KEY_FILE_NAME))

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def bearer(self, customer_id: str, *roles: Role) -> dict[str, str]:
        """The Authorization header of a caller signed in as `customer_id` with `roles`."""
        return {"Authorization": f"Bearer {self.issuer.token(customer_id, roles=roles)}"}

    def admin(self) -> dict[str, str]:
        return self.bearer("e2e-admin", Role.ADMIN)

    def payments(self) -> dict[str, str]:
        return self.bearer("e2e-payment-provider", Role.PAYMENTS)

    def start(self, service: str) -> None:
        self.processes[service] = run.start_service(service, self.ports[service], self.env, self.log)
        run.wait_until_ready(service, self.ports[service], self.processes[service])

    def stop(self, service: str) -> None:
        process = self.processes.pop(service)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0, f"{service} did not shut down cleanly"
        eventually(lambda: process.stdout.closed, True)  # its log copied to the end, its pipe closed

    def close(self) -> None:
        for service in list(self.processes):
            self.stop(service)
        self.log.close()


@contextmanager
def running_system(
    bootstrap: str,
    home: Path,
    products: Mapping[str, Mapping[str, Any]],
    services: Sequence[str] = run.SERVICES,
    **settings: str,
) -> Iterator[RunningSystem]:
    """`services` started in `home` (data and services.log) on `bootstrap` with `settings` in their
    environment, with `products` created; all stopped at the end. What each test module's `system` fixture
    is made of."""
    running = RunningSystem(bootstrap, home / "data", home / "services.log", **settings)
    try:
        for service in services:
            running.start(service)
        for product_id, body in products.items():
            url = f"{running.url('product')}/products/{product_id}"
            assert httpx.put(url, json=body, headers=running.admin()).status_code == 201
        yield running
    finally:
        running.close()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def system(
    request: pytest.FixtureRequest, kafka_bootstrap_servers: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSystem]:
    settings = {}
    if request.param == "postgres":
        server = request.getfixturevalue("postgres_server")
        settings["DATABASE_URL"] = server.create_database(f"e2e_{uuid.uuid4().hex[:12]}")
    home = tmp_path_factory.mktemp(f"e2e-{request.param}")
    with running_system(kafka_bootstrap_servers, home, PRODUCTS, **settings) as running:
        yield running


def eventually(read: Callable[[], Any], expected: Any) -> None:
    """Wait until read() == expected; fail with the last value seen."""
    deadline = time.monotonic() + WAIT_S
    seen = read()
    while seen != expected:
        assert time.monotonic() < deadline, f"after {WAIT_S:.0f} s: {seen!r} != {expected!r}"
        time.sleep(0.05)
        seen = read()


def stock(system: RunningSystem, product_id: str) -> int:
    return httpx.get(f"{system.url('product')}/products/{product_id}").json()["stocks"]


def new_customer() -> str:
    return f"e2e-customer-{uuid.uuid4().hex[:12]}"


def statuses(system: RunningSystem, order_id: str, customer: str | None = None) -> list[str]:
    """What the order's customer was told (read as an admin unless a customer is named)."""
    headers = system.admin() if customer is None else system.bearer(customer)
    messages = httpx.get(f"{system.url('message')}/messages", params={"order_id": order_id}, headers=headers)
    return [m["status"] for m in messages.json()]


def place(
    system: RunningSystem, items: list[dict[str, Any]], customer: str | None = None, **kwargs: Any
) -> httpx.Response:
    """Place an order as `customer` (a new customer of its own when None)."""
    headers = {**system.bearer(customer or new_customer()), **kwargs.pop("headers", {})}
    return httpx.post(f"{system.url('order')}/orders/order", json={"items": items}, headers=headers, **kwargs)


def pay(system: RunningSystem, order_id: str) -> httpx.Response:
    """The payment provider's word that the order was paid."""
    return httpx.post(f"{system.url('order')}/orders/paid", json={"order_id": order_id}, headers=system.payments())


def log_lines(system: RunningSystem) -> list[dict[str, Any]]:
    """Every complete line the services logged so far, parsed (each is one JSON object, naming its service)."""
    text = Path(system.log.name).read_text()
    complete = text[: text.rfind("\n") + 1]
    return [json.loads(line) for line in complete.splitlines()]


class TestTheSeedStory:
    def test_lists_the_products(self, system):
        listed = httpx.get(f"{system.url('product')}/products").json()

        assert {p["product_id"]: p["name"] for p in listed}.items() >= {"E1": "Pen", "E2": "Ink"}.items()

    def test_ordering_too_much_is_refused_and_changes_nothing(self, system):
        before = stock(system, "E2")

        answer = place(system, [{"product_id": "E2", "quantity": 4}])

        assert answer.status_code == 409
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert stock(system, "E2") == before

    def test_an_order_takes_stock_and_the_customer_hears_unpaid_then_paid(self, system):
        before = stock(system, "E1")
        customer = new_customer()

        placed = place(system, [{"product_id": "E1", "quantity": 2}], customer)
        order_id = placed.json()["order_id"]
        eventually(lambda: stock(system, "E1"), before - 2)
        eventually(lambda: statuses(system, order_id, customer), ["unpaid"])
        paid = pay(system, order_id)

        assert placed.status_code == 201
        assert placed.headers["location"] == f"/orders/{order_id}"
        assert paid.status_code == 200
        eventually(lambda: statuses(system, order_id, customer), ["unpaid", "paid"])

    def test_one_order_is_followed_through_the_three_services_logs_by_the_caller_s_trace_id(self, system):
        trace_id = uuid.uuid4().hex
        placed = place(
            system,
            [{"product_id": "E1", "quantity": 1}],
            headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"},
        )
        order_id = placed.json()["order_id"]

        def services_that_logged_it() -> set[str]:
            return {line["service"] for line in log_lines(system) if line.get("order_id") == order_id}

        eventually(services_that_logged_it, {"order-service", "product-service", "message-service"})
        about_the_order = [line for line in log_lines(system) if line.get("order_id") == order_id]
        assert placed.headers["x-correlation-id"] == trace_id
        assert {line["trace_id"] for line in about_the_order} == {trace_id}
        messages = {line["message"] for line in about_the_order}
        assert {"order placed", "stock reserved", "customer message recorded"} <= messages

    def test_every_line_of_the_services_log_stream_is_one_json_object_naming_its_service(self, system):
        lines = log_lines(system)  # each parsed as JSON: one line that is not would fail here

        assert {line["service"] for line in lines} == {"order-service", "product-service", "message-service"}

    def test_cancelling_puts_the_stock_back(self, system):
        before = stock(system, "E1")
        customer = new_customer()
        order_id = place(system, [{"product_id": "E1", "quantity": 3}], customer).json()["order_id"]
        eventually(lambda: stock(system, "E1"), before - 3)

        cancelled = httpx.post(
            f"{system.url('order')}/orders/cancel", json={"order_id": order_id}, headers=system.bearer(customer)
        )

        assert cancelled.status_code == 200
        eventually(lambda: stock(system, "E1"), before)
        eventually(lambda: statuses(system, order_id), ["unpaid", "cancelled"])


class TestRestarts:
    @pytest.mark.parametrize("service", ["product", "order", "message"])
    def test_a_restarted_service_loses_nothing_and_repeats_nothing(self, system, service):
        before = stock(system, "E1")
        first = place(system, [{"product_id": "E1", "quantity": 1}]).json()["order_id"]
        eventually(lambda: stock(system, "E1"), before - 1)
        eventually(lambda: statuses(system, first), ["unpaid"])

        system.stop(service)
        system.start(service)
        second = place(system, [{"product_id": "E1", "quantity": 1}]).json()["order_id"]

        eventually(lambda: stock(system, "E1"), before - 2)
        eventually(lambda: statuses(system, second), ["unpaid"])
        assert statuses(system, first) == ["unpaid"]
        assert httpx.get(f"{system.url('order')}/orders/{first}", headers=system.admin()).json()["status"] == "unpaid"

    def test_messages_sent_while_the_message_service_is_down_arrive_when_it_is_back(self, system):
        system.stop("message")
        order_id = place(system, [{"product_id": "E1", "quantity": 1}]).json()["order_id"]
        pay(system, order_id)

        system.start("message")

        eventually(lambda: statuses(system, order_id), ["unpaid", "paid"])

    def test_an_idempotency_key_outlives_a_restart_of_the_order_service(self, system):
        items = [{"product_id": "E1", "quantity": 1}]
        customer = new_customer()
        first = place(system, items, customer, headers={"Idempotency-Key": "e2e-restart-key"})

        system.stop("order")
        system.start("order")
        again = place(system, items, customer, headers={"Idempotency-Key": "e2e-restart-key"})

        assert first.status_code == again.status_code == 201
        assert again.json()["order_id"] == first.json()["order_id"]
