"""The installed `ordering` command against the real system: real Kafka, three uvicorn processes, SQLite.

Each step runs the console script `pip install` put next to this Python, as a person would, and waits
for what travels over Kafka (stock, the customer's messages) by asking `ordering` again until it shows.
Its tokens come from `ordering token`, run with the services' own settings (their DATA_DIR): it signs with
the key file the services made at start, and they accept what it signs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_seed_story import RunningSystem, eventually, running_system

import localkafka
from entrypoints.cli.tokens import NEEDS_A_TOKEN, PAYMENT_NEEDS_ROLE

pytestmark = pytest.mark.kafka

ORDERING = Path(sys.executable).parent / "ordering"
PRODUCTS = {
    "C1": {"name": "Crayon", "price": "0.80", "stocks": 10},
    "C2": {"name": "Chalk", "price": "1.50", "stocks": 2},
}


@pytest.fixture(scope="module")
def system(kafka_bootstrap_servers: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    with running_system(kafka_bootstrap_servers, tmp_path_factory.mktemp("e2e-cli"), PRODUCTS) as running:
        yield running


def run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ORDERING), *argv], check=False, capture_output=True, text=True, timeout=30, env=env
    )


def token(system: RunningSystem, *who: str) -> str:
    """`ordering token *who | tail -1`, with the services' settings: a token they accept."""
    ran = run("token", *who, env=system.env)
    assert ran.returncode == 0, ran.stderr
    return ran.stdout.splitlines()[-1]


@pytest.fixture
def customer(system: RunningSystem) -> str:
    """A new customer for each test: `tail` shows only their orders, and no test meets the limit of unpaid
    orders another left behind."""
    return token(system, "--customer", f"e2e-cli-{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
def payments(system: RunningSystem) -> str:
    return token(system, "--payments")


def ordering(system: RunningSystem, token: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run the installed `ordering` with ORDERING_TOKEN=token, pointed at this system's services."""
    where = [f"--{service}-url={system.url(service)}" for service in ("order", "product", "message")]
    return run(*where, *argv, env={**system.env, "ORDERING_TOKEN": token})


def ordering_json(system: RunningSystem, token: str, *argv: str) -> Any:
    ran = ordering(system, token, "--json", *argv)
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)


def told(system: RunningSystem, customer: str, order_id: str) -> list[str]:
    return [m["status"] for m in ordering_json(system, customer, "show", order_id)["messages"]]


def stock(system: RunningSystem, product_id: str) -> int:
    listed = ordering_json(system, "", "products")  # public: no token
    return next(p["stocks"] for p in listed if p["product_id"] == product_id)


class TestTheCommandLine:
    def test_an_order_placed_and_paid_from_the_command_line_takes_stock_and_tells_the_customer(
        self, system, customer, payments
    ):
        before = stock(system, "C1")

        placed = ordering(system, customer, "order", "C1:3")
        assert placed.returncode == 0, placed.stderr
        order_id = placed.stdout.split()[1].rstrip(":")  # "Order <id>: unpaid, placed ..."
        eventually(lambda: told(system, customer, order_id), ["unpaid"])
        shown = ordering(system, customer, "show", order_id)
        paid = ordering(system, customer, "--token", payments, "pay", order_id)

        assert placed.stdout.startswith(f"Order {order_id}: unpaid, placed ")
        assert "Total: 2.40" in placed.stdout
        assert shown.returncode == 0
        assert f"unpaid  Your order {order_id} is unpaid: please pay to complete it." in shown.stdout
        assert (paid.returncode, paid.stdout) == (0, f"Order {order_id}: paid\n")
        eventually(lambda: told(system, customer, order_id), ["unpaid", "paid"])
        eventually(lambda: stock(system, "C1"), before - 3)
        table = ordering(system, customer, "products").stdout.splitlines()
        assert table[1].split() == ["C1", "Crayon", "0.80", str(before - 3)]

    def test_an_order_for_more_than_the_stock_is_refused_item_by_item(self, system, customer):
        refused = ordering(system, customer, "order", "C2:5", "NOPE:1")

        assert refused.returncode == 1
        assert refused.stdout == ""
        assert refused.stderr.splitlines() == [
            "ordering: error: 2 items cannot be served; nothing was ordered",
            "  PRODUCT  WANTED  IN STOCK  WHY",
            "  C2            5         2  not enough in stock",
            "  NOPE          1         0  no such product",
        ]

    def test_the_global_options_may_follow_the_command(self, system):
        listed = run("products", "--json", f"--product-url={system.url('product')}", "--token", "", env=system.env)

        assert listed.returncode == 0, listed.stderr
        assert {p["product_id"] for p in json.loads(listed.stdout)} >= {"C1", "C2"}

    def test_tail_shows_the_newest_order_first(self, system, customer):
        order_id = ordering_json(system, customer, "order", "C1:1")["order_id"]

        newest = ordering_json(system, customer, "tail", "--limit", "1")["orders"]
        table = ordering(system, customer, "tail").stdout.splitlines()

        assert [o["order_id"] for o in newest] == [order_id]
        assert table[1].startswith(f"{order_id}  unpaid")

    def test_a_customer_sees_only_their_own_orders(self, system, customer):
        order_id = ordering_json(system, customer, "order", "C1:1")["order_id"]
        someone_else = token(system, "--customer", f"e2e-cli-{uuid.uuid4().hex[:8]}")

        theirs = ordering(system, someone_else, "tail")
        shown = ordering(system, someone_else, "show", order_id)

        assert theirs.stdout == "No orders yet.\n"
        assert (shown.returncode, shown.stderr) == (
            1,
            f"ordering: error: no order has id {order_id!r}\n",
        )

    def test_without_a_token_an_order_is_refused_with_how_to_get_one(self, system):
        refused = ordering(system, "", "order", "C1:1")

        assert refused.returncode == 1
        assert refused.stderr.splitlines()[-1] == f"  {NEEDS_A_TOKEN}"

    def test_a_customer_recording_their_own_payment_is_refused_with_the_role_it_needs(self, system, customer):
        order_id = ordering_json(system, customer, "order", "C1:1")["order_id"]

        refused = ordering(system, customer, "pay", order_id)

        assert refused.returncode == 1
        assert refused.stderr.splitlines()[-1] == f"  {PAYMENT_NEEDS_ROLE}"
        assert ordering_json(system, customer, "show", order_id)["order"]["status"] == "unpaid"

    def test_an_admin_token_from_ordering_token_sees_every_customer_s_orders(self, system, customer):
        order_id = ordering_json(system, customer, "order", "C1:1")["order_id"]

        everyone = ordering_json(system, token(system, "--admin"), "tail", "--limit", "100")["orders"]

        assert order_id in [o["order_id"] for o in everyone]

    def test_a_service_that_is_not_there_is_named_with_exit_3(self, system):
        nobody = f"http://127.0.0.1:{localkafka.free_port()}"

        ran = run("--order-url", nobody, "tail")

        assert ran.returncode == 3
        assert ran.stderr == (
            f"ordering: error: cannot reach the Order Service at {nobody} (connection refused); "
            "is `make run` running?\n"
        )
