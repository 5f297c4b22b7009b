"""An order left unpaid past ORDER_PAYMENT_TIMEOUT_S is cancelled, its stock comes back, and the customer is told."""

from __future__ import annotations

import httpx
import pytest
from test_seed_story import RunningSystem, eventually, new_customer, place, statuses, stock

pytestmark = pytest.mark.kafka


def test_an_unpaid_order_expires_and_gives_its_stock_back(kafka_bootstrap_servers, tmp_path):
    system = RunningSystem(kafka_bootstrap_servers, tmp_path / "data", tmp_path / "services.log",
                           ORDER_PAYMENT_TIMEOUT_S="1", ORDER_EXPIRY_INTERVAL_S="0.2")
    try:
        for service in ("product", "order", "message"):
            system.start(service)
        timer = {"name": "Timer", "price": "3.00", "stocks": 4}
        httpx.put(f"{system.url('product')}/products/T1", json=timer, headers=system.admin())
        customer = new_customer()

        order_id = place(system, [{"product_id": "T1", "quantity": 3}], customer).json()["order_id"]

        mine = system.bearer(customer)
        eventually(lambda: httpx.get(f"{system.url('order')}/orders/{order_id}", headers=mine).json().get("reason"),
                   "payment_timeout")
        eventually(lambda: stock(system, "T1"), 4)
        eventually(lambda: statuses(system, order_id, customer), ["unpaid", "cancelled"])
    finally:
        system.close()
