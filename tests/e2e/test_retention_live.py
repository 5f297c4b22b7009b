"""The retention job runs in every service: with windows of a second, the sent outbox rows and the inbox ids
of a real order's flow go, and what the customer sees stays (docs/operations.md, "Retention")."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from test_seed_story import RunningSystem, eventually, new_customer, place, statuses

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

        eventually(lambda: statuses(system, order_id, customer), ["unpaid"])
        eventually(lambda: count(data / "order.db", "outbox"), 0)
        eventually(lambda: (count(data / "product.db", "inbox"), count(data / "message.db", "inbox")), (0, 0))
        assert statuses(system, order_id, customer) == ["unpaid"]
        assert httpx.get(f"{system.url('product')}/products/R1").json()["stocks"] == 3
    finally:
        system.close()
