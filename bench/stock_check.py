"""After the load, once propagation is idle: is stock conserved, and was anything oversold?

For every product, initial stock = stock now + units in orders that are not cancelled; oversold units are
units held beyond the initial stock, or a stock below zero. Idle means no outbox row is unsent and the
ledger balances, or the stock has stopped moving (then the gap is reported as it is); the wait is bounded.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from catalogue import INITIAL_STOCK, PRODUCTS

IDLE_TIMEOUT_S = 90.0


def unsent_outbox_rows(data_dir: Path) -> int:
    total = 0
    for db in sorted(data_dir.glob("*.db")):
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as connection:
                tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                if "outbox" in tables:
                    total += connection.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0]
        except sqlite3.Error:
            continue
    return total


def read_state(order_port: int, product_port: int,
               admin: dict[str, str]) -> tuple[dict[str, int], list[dict[str, Any]]]:
    with httpx.Client(timeout=30.0, headers=admin) as client:
        stocks = {p["product_id"]: p["stocks"] for p in client.get(f"http://127.0.0.1:{product_port}/products").json()}
        orders: list[dict[str, Any]] = []
        after = None
        for _ in range(100_000):  # bounded: 100 a page
            params: dict[str, Any] = {"limit": 100}
            if after:
                params["after"] = after
            page = client.get(f"http://127.0.0.1:{order_port}/orders", params=params).json()
            orders.extend(page["orders"])
            after = page["next"]
            if not after:
                break
    return stocks, orders


def conservation(stocks: dict[str, int], orders: list[dict[str, Any]]) -> dict[str, Any]:
    held = dict.fromkeys(PRODUCTS, 0)
    statuses: dict[str, int] = {}
    for order in orders:
        statuses[order["status"]] = statuses.get(order["status"], 0) + 1
        if order["status"] != "cancelled":
            for item in order["items"]:
                held[item["product_id"]] = held.get(item["product_id"], 0) + item["quantity"]
    gaps = {p: INITIAL_STOCK - stocks.get(p, 0) - held[p] for p in PRODUCTS
            if INITIAL_STOCK - stocks.get(p, 0) - held[p]}
    oversold = sum(max(0, held[p] - INITIAL_STOCK) + max(0, -stocks.get(p, 0)) for p in PRODUCTS)
    return {"exact": not gaps, "gaps_by_product": gaps, "oversold_units": oversold, "orders": len(orders),
            "orders_by_status": statuses, "units_held": sum(held.values())}


def wait_idle_and_check(order_port: int, product_port: int, unsent: Callable[[], int],
                        admin: dict[str, str]) -> dict[str, Any]:
    """Until no outbox row is unsent and stock conservation holds (or the stock stops moving), bounded.
    `unsent` counts the unsent outbox rows: `unsent_outbox_rows` of the SQLite files, or of PostgreSQL
    (postgres_state.py). The ports are any instance's: every instance of a service reads the same state."""
    started = time.monotonic()
    last_stocks: dict[str, int] | None = None
    stable_since = time.monotonic()
    check: dict[str, Any] = {}
    while time.monotonic() - started < IDLE_TIMEOUT_S:
        if unsent() == 0:
            stocks, orders = read_state(order_port, product_port, admin)
            check = conservation(stocks, orders)
            if check["exact"]:
                break
            if stocks != last_stocks:
                last_stocks, stable_since = stocks, time.monotonic()
            elif time.monotonic() - stable_since > 10:
                break  # nothing moved for 10 s: report the gap as it is
        time.sleep(0.5)
    else:
        stocks, orders = read_state(order_port, product_port, admin)
        check = conservation(stocks, orders)
        check["timed_out"] = True
    check["unsent_outbox_rows"] = unsent()
    check["idle_after_s"] = round(time.monotonic() - started, 1)
    return check
