"""How long after `POST /orders/order` returns the stock is lower in `GET /products` and the customer's message
exists, over N orders one after another, against a running system (`make run` in another terminal).

    .venv/bin/python bench/propagation.py [N]        # default 100; ORDER_PORT etc. as for make run

Each order takes one unit of the product with the most stock; the time is measured from the 201 to the first
read that shows it (reads in a tight loop: the figure includes one read's latency, ~1 ms).
"""

from __future__ import annotations

import os
import statistics
import sys
import time

import httpx

TIMEOUT_S = 10.0


def main(orders: int) -> None:
    order = f"http://127.0.0.1:{os.environ.get('ORDER_PORT', '8001')}"
    product = f"http://127.0.0.1:{os.environ.get('PRODUCT_PORT', '8002')}"
    message = f"http://127.0.0.1:{os.environ.get('MESSAGE_PORT', '8003')}"
    with httpx.Client(timeout=5.0) as client:
        target = max(client.get(f"{product}/products").json(), key=lambda p: p["stocks"])
        if target["stocks"] < orders:
            sys.exit(f"bench: the most stocked product has {target['stocks']} units; restock it or ask fewer orders")
        to_stock, to_message = [], []
        stock_url, messages = f"{product}/products/{target['product_id']}", f"{message}/messages"
        for _ in range(orders):
            before = client.get(f"{product}/products/{target['product_id']}").json()["stocks"]
            placed = client.post(f"{order}/orders/order", json={"items": [{"product_id": target["product_id"],
                                                                          "quantity": 1}]})
            accepted = time.monotonic()
            if placed.status_code != 201:
                sys.exit(f"bench: order refused: {placed.status_code} {placed.text[:200]}")
            order_id = placed.json()["order_id"]
            to_stock.append(wait(lambda n=before - 1: client.get(stock_url).json()["stocks"] == n, accepted))
            to_message.append(wait(lambda o=order_id: bool(client.get(messages, params={"order_id": o}).json()),
                                   accepted))
    for name, figures in (("stock visible", to_stock), ("message recorded", to_message)):
        print(f"{name:>16}: median {statistics.median(figures):6.1f} ms  p90 "
              f"{statistics.quantiles(figures, n=10)[-1]:6.1f} ms  worst {max(figures):6.1f} ms  (n={len(figures)})")


def wait(done, since: float) -> float:
    while not done():
        if time.monotonic() - since > TIMEOUT_S:
            sys.exit(f"bench: not propagated within {TIMEOUT_S:.0f} s")
    return (time.monotonic() - since) * 1000


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
