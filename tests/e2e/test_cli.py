"""The installed `ordering` command against the real system: real Kafka, three uvicorn processes, SQLite.

Each step runs the console script `pip install` put next to this Python, as a person would, and waits
for what travels over Kafka (stock, the customer's messages) by asking `ordering` again until it shows.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_seed_story import RunningSystem, eventually, running_system

import localkafka

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


def ordering(system: RunningSystem, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run the installed `ordering`, pointed at this system's services."""
    where = [f"--{service}-url={system.url(service)}" for service in ("order", "product", "message")]
    return run(*where, *argv)


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ORDERING), *argv], check=False, capture_output=True, text=True, timeout=30)


def ordering_json(system: RunningSystem, *argv: str) -> Any:
    ran = ordering(system, "--json", *argv)
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)


def told(system: RunningSystem, order_id: str) -> list[str]:
    return [m["status"] for m in ordering_json(system, "show", order_id)["messages"]]


def stock(system: RunningSystem, product_id: str) -> int:
    return next(p["stocks"] for p in ordering_json(system, "products") if p["product_id"] == product_id)


class TestTheCommandLine:
    def test_an_order_placed_and_paid_from_the_command_line_takes_stock_and_tells_the_customer(self, system):
        before = stock(system, "C1")

        placed = ordering(system, "order", "C1:3")
        order_id = placed.stdout.split()[1].rstrip(":")  # "Order <id>: unpaid, placed ..."
        eventually(lambda: told(system, order_id), ["unpaid"])
        shown = ordering(system, "show", order_id)
        paid = ordering(system, "pay", order_id)

        assert placed.returncode == 0, placed.stderr
        assert placed.stdout.startswith(f"Order {order_id}: unpaid, placed ")
        assert "Total: 2.40" in placed.stdout
        assert shown.returncode == 0
        assert f"unpaid  Your order {order_id} is unpaid: please pay to complete it." in shown.stdout
        assert (paid.returncode, paid.stdout) == (0, f"Order {order_id}: paid\n")
        eventually(lambda: told(system, order_id), ["unpaid", "paid"])
        eventually(lambda: stock(system, "C1"), before - 3)
        table = ordering(system, "products").stdout.splitlines()
        assert table[1].split() == ["C1", "Crayon", "0.80", str(before - 3)]

    def test_an_order_for_more_than_the_stock_is_refused_item_by_item(self, system):
        refused = ordering(system, "order", "C2:5", "NOPE:1")

        assert refused.returncode == 1
        assert refused.stdout == ""
        assert refused.stderr.splitlines() == [
            "ordering: error: Some items cannot be served: 2 items cannot be served; nothing was ordered",
            "  PRODUCT  WANTED  IN STOCK  WHY",
            "  C2            5         2  not enough in stock",
            "  NOPE          1         0  no such product",
        ]

    def test_tail_shows_the_newest_order_first(self, system):
        order_id = ordering_json(system, "order", "C1:1")["order_id"]

        newest = ordering_json(system, "tail", "--limit", "1")["orders"]
        table = ordering(system, "tail").stdout.splitlines()

        assert [o["order_id"] for o in newest] == [order_id]
        assert table[1].startswith(f"{order_id}  unpaid")

    def test_a_service_that_is_not_there_is_named_with_exit_3(self, system):
        nobody = f"http://127.0.0.1:{localkafka.free_port()}"

        ran = run("--order-url", nobody, "tail")

        assert ran.returncode == 3
        assert ran.stderr == (
            f"ordering: error: cannot reach the Order Service at {nobody} (connection refused); "
            "is `make run` running?\n"
        )
