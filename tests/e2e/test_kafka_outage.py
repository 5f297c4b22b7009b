"""Kafka goes down: orders are still taken, /readyz says what waits, and it all goes out when Kafka is back.

This test runs its own broker (it stops it): the `own_broker` fixture.
"""

from __future__ import annotations

import httpx
import pytest
from test_seed_story import RunningSystem, eventually, place, stock

pytestmark = pytest.mark.kafka


def test_orders_taken_while_kafka_is_down_reach_the_stock_when_it_is_back(own_broker, tmp_path):
    broker = own_broker
    system = RunningSystem(broker.bootstrap_servers, tmp_path / "data", tmp_path / "services.log")
    try:
        for service in ("product", "order"):
            system.start(service)
        kite = {"name": "Kite", "price": "9.99", "stocks": 5}
        httpx.put(f"{system.url('product')}/products/K1", json=kite, headers=system.admin())

        broker.stop()
        placed = [place(system, [{"product_id": "K1", "quantity": 1}]) for _ in range(2)]
        # The relay has tried and failed: the probe counts what waits (create-order, update-stock, order-status).
        eventually(lambda: outbox_reason(system).startswith("6 events wait to be published"), True)  # 3 per order
        readiness = httpx.get(f"{system.url('order')}/readyz")
        broker.start()

        assert [answer.status_code for answer in placed] == [201, 201]
        assert readiness.status_code == 503
        assert readiness.json()["checks"]["kafka"].startswith("unreachable")
        eventually(lambda: stock(system, "K1"), 3)
        eventually(lambda: httpx.get(f"{system.url('order')}/readyz").status_code, 200)
    finally:
        system.close()


def outbox_reason(system: RunningSystem) -> str:
    return httpx.get(f"{system.url('order')}/readyz").json()["checks"]["outbox"]
