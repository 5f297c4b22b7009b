"""The products the bench orders: B00..B19, each with INITIAL_STOCK units, created by PUT as an admin."""

from __future__ import annotations

import httpx

from errors import BenchError

PRODUCTS = [f"B{i:02d}" for i in range(20)]
INITIAL_STOCK = 100_000  # the API takes at most 10,000 units a call: created with 10,000, restocked 9 times
UNITS_PER_CALL = 10_000


def load_products(product_port: int, admin: dict[str, str]) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{product_port}", timeout=10.0, headers=admin) as client:
        for product_id in PRODUCTS:
            answer = client.put(f"/products/{product_id}",
                                json={"name": f"bench {product_id}", "price": "1.00", "stocks": UNITS_PER_CALL})
            if answer.status_code != 201:
                raise BenchError(f"PUT /products/{product_id}: {answer.status_code} {answer.text[:200]}")
            for _ in range(INITIAL_STOCK // UNITS_PER_CALL - 1):
                answer = client.post(f"/products/{product_id}/restock", json={"quantity": UNITS_PER_CALL})
                if answer.status_code != 200:
                    raise BenchError(f"POST /products/{product_id}/restock: {answer.status_code} {answer.text[:200]}")
            stocks = client.get(f"/products/{product_id}").json()["stocks"]
            if stocks != INITIAL_STOCK:
                raise BenchError(f"{product_id} has {stocks} units after loading, not {INITIAL_STOCK}")
