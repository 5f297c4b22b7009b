"""What the run looks at, during and after the load: readiness, metrics, stock on the shelf, the final state.

All of it through the services' own HTTP APIs (as an admin where a token is needed), except the outbox rows
not yet sent, which only the databases know (read-only, as bench/stock_check.py reads them).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text to `name{labels}` -> value (labels as the service wrote them); comments skipped."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match and not line.startswith("#"):
            name, labels, value = match.groups()
            try:
                values[name + (labels or "")] = float(value)
            except ValueError:
                continue
    return values


def total(values: dict[str, float], name: str) -> float:
    """The sum of every series of metric `name` (0 when it has none)."""
    return sum(v for k, v in values.items() if k == name or k.startswith(name + "{"))


async def ready(http: httpx.AsyncClient, url: str) -> bool:
    try:
        return (await http.get(f"{url}/readyz", timeout=3.0)).status_code == 200
    except httpx.HTTPError:
        return False


async def metrics(http: httpx.AsyncClient, url: str) -> dict[str, float] | None:
    """The service's metrics, or None when it does not answer."""
    try:
        answer = await http.get(f"{url}/metrics", timeout=5.0)
    except httpx.HTTPError:
        return None
    return parse_metrics(answer.text) if answer.status_code == 200 else None


async def wait_until(condition: Any, timeout_s: float, every_s: float = 0.25) -> bool:
    """Await `condition()` until it is true or `timeout_s` passed; whether it came true."""
    deadline = time.monotonic() + timeout_s
    while True:
        if await condition():
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(every_s)


class StockWatcher:
    """Reads the shelf every `every_s` while the load runs: the lowest stock seen per product, and every
    observation of a negative one (which a correct ledger never shows)."""

    def __init__(self, product_url: str, products: list[str], every_s: float = 0.25) -> None:
        self._url = product_url
        self._products = set(products)
        self._every_s = every_s
        self.lowest: dict[str, int] = {}
        self.negative: list[tuple[str, int]] = []
        self.observations = 0

    async def watch(self, http: httpx.AsyncClient, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                listed = (await http.get(f"{self._url}/products", timeout=3.0)).json()
            except (httpx.HTTPError, ValueError):
                listed = []  # the Product Service is down or slow: nothing to see this time
            for product in listed if isinstance(listed, list) else []:
                self._see(product.get("product_id"), product.get("stocks"))
            try:
                await asyncio.wait_for(stop.wait(), self._every_s)
            except TimeoutError:
                continue

    def _see(self, product_id: Any, stock: Any) -> None:
        if product_id not in self._products or not isinstance(stock, int):
            return
        self.observations += 1
        self.lowest[product_id] = min(stock, self.lowest.get(product_id, stock))
        if stock < 0:
            self.negative.append((product_id, stock))


async def all_orders(http: httpx.AsyncClient, order_url: str, admin: dict[str, str]) -> list[dict[str, Any]]:
    """Every order the Order Service has, a page of 100 at a time (bounded: a million orders)."""
    orders: list[dict[str, Any]] = []
    after: str | None = None
    for _ in range(10_000):
        params: dict[str, Any] = {"limit": 100, **({"after": after} if after else {})}
        page = (await http.get(f"{order_url}/orders", params=params, headers=admin, timeout=30.0)).json()
        orders.extend(page["orders"])
        after = page["next"]
        if not after:
            break
    return orders


async def stocks(http: httpx.AsyncClient, product_url: str) -> dict[str, int]:
    listed = (await http.get(f"{product_url}/products", timeout=30.0)).json()
    return {product["product_id"]: product["stocks"] for product in listed}


async def messages(
    http: httpx.AsyncClient, message_url: str, admin: dict[str, str], order_ids: list[str], concurrency: int = 16
) -> dict[str, list[dict[str, Any]]]:
    """What each order's customer was told, oldest first, asked `concurrency` orders at a time."""
    told: dict[str, list[dict[str, Any]]] = {}
    limit = asyncio.Semaphore(concurrency)

    async def ask(order_id: str) -> None:
        async with limit:
            answer = await http.get(
                f"{message_url}/messages", params={"order_id": order_id}, headers=admin, timeout=30.0
            )
            told[order_id] = answer.json()

    await asyncio.gather(*(ask(order_id) for order_id in order_ids))
    return told


def unsent_outbox_rows(data_dir: Path) -> int:
    """Outbox rows not yet sent, in every service database of DATA_DIR (read-only; a busy file counts later)."""
    unsent = 0
    for database in sorted(data_dir.glob("*.db")):
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)) as connection:
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "outbox" in tables:
                unsent += connection.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0]
    return unsent
