"""An order left unpaid past ORDER_PAYMENT_TIMEOUT_S is cancelled, its stock comes back, and the customer is told."""

from __future__ import annotations

import httpx
import pytest

from test_seed_story import RunningSystem, eventually, statuses, stock

pytestmark = pytest.mark.kafka


def test_an_unpaid_order_expires_and_gives_its_stock_back(kafka_bootstrap_servers, tmp_path):
    system = RunningSystem(kafka_bootstrap_servers, tmp_path / "data", tmp_path / "services.log",
                           ORDER_PAYMENT_TIMEOUT_S="1", ORDER_EXPIRY_INTERVAL_S="0.2")
    try:
        for service in ("product", "order", "message"):
            system.start(service)
        httpx.put(f"{system.url('product')}/products/T1", json={"name": "Timer", "price": "3.00", "stocks": 4})

        order_id = httpx.post(f"{system.url('order')}/orders/order",
                              json={"items": [{"product_id": "T1", "quantity": 3}]}).json()["order_id"]

        eventually(lambda: httpx.get(f"{system.url('order')}/orders/{order_id}").json().get("reason"),
                   "payment_timeout")
        eventually(lambda: stock(system, "T1"), 4)
        eventually(lambda: statuses(system, order_id), ["unpaid", "cancelled"])
    finally:
        system.close()
