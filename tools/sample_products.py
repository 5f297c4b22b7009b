"""The products `make run` (tools/run.py) loads once the services are ready: data/sample-products.json."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from run_console import RunError, say

REPO = Path(__file__).resolve().parent.parent
SAMPLE_PRODUCTS = REPO / "data" / "sample-products.json"


def load_sample_products(product_url: str, admin_token: str) -> None:
    """Creates the sample products that do not exist yet (creating one is an admin's act)."""
    products = json.loads(SAMPLE_PRODUCTS.read_text())
    created = 0
    admin = {"Authorization": f"Bearer {admin_token}"}
    with httpx.Client(base_url=product_url, timeout=5.0, headers=admin) as client:
        # One read of the list, not a GET per product: each unknown product would log a refused request (404)
        # right under the banner, for a person to wonder about.
        listed = client.get("/products")
        if listed.status_code != 200:
            raise RunError(f"could not list the products: {listed.status_code} {listed.text[:200]}")
        existing = {known["product_id"] for known in listed.json()}
        for product in products:
            if product["product_id"] in existing:
                continue
            body = {key: product[key] for key in ("name", "price", "stocks")}
            answer = client.put(f"/products/{product['product_id']}", json=body)
            if answer.status_code != 201:
                raise RunError(
                    f"could not create sample product {product['product_id']}: {answer.text[:200]}"
                )
            created += 1
    say(f"run: {len(products)} sample products ({created} created) from {SAMPLE_PRODUCTS.relative_to(REPO)}")
