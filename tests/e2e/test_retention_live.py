"""The retention job runs in every service: with windows of a second, the sent outbox rows and the inbox ids
of a real order's flow go, and what the customer sees stays; and a replay of every topic from its start,
after the inbox ids went, changes nothing (docs/operations.md, "Retention")."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_metrics import lag, metric
from test_seed_story import RunningSystem, eventually, new_customer, pay, place, statuses

from adapters.kafka.broker import KafkaBroker
from adapters.messaging.topics import PARTITIONS
from entrypoints.consumers import CONSUMED_BY

pytestmark = pytest.mark.kafka


def count(path: Path, table: str) -> int:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
        return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_every_service_prunes_what_it_kept_long_enough(kafka_bootstrap_servers, tmp_path):
    data = tmp_path / "data"
    system = RunningSystem(kafka_bootstrap_servers, data, tmp_path / "services.log",
                           OUTBOX_SENT_RETENTION_S="0", INBOX_RETENTION_S="1", PRUNE_INTERVAL_S="0.2")
    try:
        for service in ("product", "order", "message"):
            system.start(service)
        pen = {"name": "Pen", "price": "2.50", "stocks": 5}
        httpx.put(f"{system.url('product')}/products/R1", json=pen, headers=system.admin())
        customer = new_customer()

        order_id = place(system, [{"product_id": "R1", "quantity": 2}], customer).json()["order_id"]

        # Both consumers applied the order's records first (each inbox id in the same transaction): an inbox
        # found empty after that was pruned, not yet written.
        eventually(lambda: statuses(system, order_id, customer), ["unpaid"])
        eventually(lambda: httpx.get(f"{system.url('product')}/products/R1").json()["stocks"], 3)
        eventually(lambda: count(data / "order.db", "outbox"), 0)
        eventually(lambda: (count(data / "product.db", "inbox"), count(data / "message.db", "inbox")), (0, 0))
        assert statuses(system, order_id, customer) == ["unpaid"]
        assert httpx.get(f"{system.url('product')}/products/R1").json()["stocks"] == 3
    finally:
        system.close()


def test_a_replay_of_every_topic_from_its_start_after_the_inbox_ids_went_changes_nothing(own_broker, tmp_path):
    data = tmp_path / "data"
    pruning = {"OUTBOX_SENT_RETENTION_S": "0", "INBOX_RETENTION_S": "1", "PRUNE_INTERVAL_S": "0.2"}
    system = RunningSystem(own_broker.bootstrap_servers, data, tmp_path / "services.log", **pruning)
    try:
        for service in ("product", "order", "message"):
            system.start(service)
        for product_id, stocks in (("P1", 10), ("P2", 4)):
            body = {"name": f"Item {product_id}", "price": "1.00", "stocks": stocks}
            httpx.put(f"{system.url('product')}/products/{product_id}", json=body, headers=system.admin())
        paid, cancelled, unpaid = (new_customer() for _ in range(3))
        paid_id = place(system, [{"product_id": "P1", "quantity": 2}], paid).json()["order_id"]
        cancelled_id = place(system, [{"product_id": "P2", "quantity": 3}], cancelled).json()["order_id"]
        unpaid_id = place(system, [{"product_id": "P1", "quantity": 1}, {"product_id": "P2", "quantity": 1}],
                          unpaid).json()["order_id"]
        eventually(lambda: statuses(system, cancelled_id), ["unpaid"])  # reserved before it is cancelled
        pay(system, paid_id)
        httpx.post(f"{system.url('order')}/orders/cancel", json={"order_id": cancelled_id},
                   headers=system.bearer(cancelled))
        eventually(lambda: [statuses(system, o) for o in (paid_id, cancelled_id, unpaid_id)],
                   [["unpaid", "paid"], ["unpaid", "cancelled"], ["unpaid"]])
        eventually(lambda: [count(data / f"{s}.db", "inbox") for s in ("order", "product", "message")], [0, 0, 0])
        before = state_of(system)
        assert before["stocks"] == {"P1": 7, "P2": 3}  # the story happened, and the replay has it all to repeat

        for service in ("product", "order", "message"):
            system.stop(service)
        replayed = rewind_every_group(own_broker.bootstrap_servers)
        for service in ("product", "order", "message"):
            system.start(service)
        for service, topics in replayed.items():
            eventually(lambda service=service, topics=topics: caught_up_from_the_start(system, service, topics),
                       True)

        # Every record read again from the start: 3 reservations and 1 release of stock, 5 statuses (3 unpaid,
        # 1 paid, 1 cancelled)...
        applied = {s: metric(system, s, "ordering_records_applied_total", group=f"{s}-service")
                   for s in ("product", "message")}
        assert applied == {"product": 4.0, "message": 5.0}
        # ...and applying them again changed nothing a person sees.
        assert state_of(system) == before
    finally:
        system.close()


def rewind_every_group(bootstrap: str) -> dict[str, list[str]]:
    """Set each service's group back to the start of every topic it consumes; what was rewound, by service."""
    broker = KafkaBroker(bootstrap)
    try:
        rewound = {service: [event.TYPE for event in events] for service, events in CONSUMED_BY.items()}
        for service, topics in rewound.items():
            broker.rewind(f"{service}-service", topics)
        return rewound
    finally:
        broker.close()


def caught_up_from_the_start(system: RunningSystem, service: str, topics: list[str]) -> bool:
    """The service's consumer knows the lag of every partition of its topics, and each is 0: it read them to
    their end (after the rewind the lag of a partition with records starts above 0)."""
    lags = lag(system, service)
    partitions = {(topic, str(partition)) for topic in topics for partition in range(PARTITIONS)}
    return partitions <= lags.keys() and not any(lags.values())


def state_of(system: RunningSystem) -> dict[str, Any]:
    """What a person sees: stock, the orders and their statuses, every customer message."""
    admin = system.admin()
    products = httpx.get(f"{system.url('product')}/products").json()
    orders = httpx.get(f"{system.url('order')}/orders", params={"limit": 100}, headers=admin).json()["orders"]
    messages = httpx.get(f"{system.url('message')}/messages", headers=admin).json()
    return {"stocks": {p["product_id"]: p["stocks"] for p in products}, "orders": orders, "messages": messages}
