"""How long after an order is accepted its stock is taken in Product Service and its customer message recorded
in Message Service, read from the services' own timestamps, not by polling.

    .venv/bin/python bench/propagation.py [DATA_DIR]     # default: var/data, the folder `make run` uses

bench/run_bench.py calls `propagation` for the orders of each load run. For every order the three SQLite files
say, to the millisecond, on this machine's one clock:
- accepted: when the order's transaction wrote its outbox rows (`outbox.created_at` in order.db). The 201 is
  sent after that commit, so figures measured from here are, if anything, a little long;
- stock taken: when Product Service applied the order's `update-stock` event (`inbox.recorded_at` in
  product.db, written in the same transaction as the new stock, so visible from that commit on);
- message recorded: when Message Service applied the order's first `order-status` event, "unpaid"
  (`inbox.recorded_at` in message.db, the same transaction as the customer's message).
An order whose event has not arrived yet counts as missing, never as fast.
"""

from __future__ import annotations

import math
import sqlite3
import statistics
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

QUERY = """
SELECT
    o.topic,
    (julianday(COALESCE(p.recorded_at, m.recorded_at)) - julianday(o.created_at)) * 86400000.0
FROM accepted_events AS o
LEFT JOIN product.inbox AS p ON o.topic = 'update-stock' AND p.message_id = o.message_id
LEFT JOIN message.inbox AS m ON o.topic = 'order-status' AND m.message_id = o.message_id
WHERE o.created_at BETWEEN :since AND :until
  AND (o.topic = 'update-stock' OR (o.topic = 'order-status' AND o.status = 'unpaid'))
"""


def propagation(data_dir: Path, since: str = "0000", until: str = "9999") -> dict[str, Any]:
    """Per destination, the delays (ms) of the orders accepted between `since` and `until` (ISO texts, UTC)."""
    order_db = data_dir / "order.db"
    with sqlite3.connect(f"file:{order_db}?mode=ro", uri=True, timeout=10) as connection:
        for name in ("product", "message"):
            connection.execute("ATTACH DATABASE ? AS " + name, (f"file:{data_dir / (name + '.db')}?mode=ro",))
        # The outbox keeps each event's encoded value; its id and status are read out once, into a view.
        connection.execute(
            """CREATE TEMP VIEW accepted_events AS SELECT topic, created_at,
                   json_extract(CAST(value AS TEXT), '$.message_id') AS message_id,
                   json_extract(CAST(value AS TEXT), '$.data.status') AS status
               FROM main.outbox"""
        )
        rows = connection.execute(QUERY, {"since": since, "until": until}).fetchall()
    return figures_of(rows)


def figures_of(rows: list[tuple[str, float | None]]) -> dict[str, Any]:
    """Per destination, the summary of (topic, delay ms or None while missing) rows, as QUERY selects them (and
    postgres_state.QUERY on PostgreSQL)."""
    delays: dict[str, list[float]] = {"update-stock": [], "order-status": []}
    missing = {"update-stock": 0, "order-status": 0}
    for topic, delay in rows:
        if delay is None:
            missing[topic] += 1
        else:
            delays[topic].append(float(delay))
    return {
        "stock taken": summary(delays["update-stock"], missing["update-stock"]),
        "message recorded": summary(delays["order-status"], missing["order-status"]),
    }


def summary(delays: list[float], missing: int) -> dict[str, Any]:
    if not delays:
        return {"orders": 0, "missing": missing}
    ordered = sorted(delays)
    return {
        "orders": len(ordered),
        "missing": missing,
        "p50_ms": round(statistics.median(ordered), 1),
        "p90_ms": round(percentile(ordered, 0.90), 1),
        "p99_ms": round(percentile(ordered, 0.99), 1),
        "max_ms": round(ordered[-1], 1),
    }


def percentile(ordered: list[float], q: float) -> float:
    """The nearest-rank percentile of sorted figures."""
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def describe(figures: dict[str, Any]) -> str:
    lines = []
    for name, s in figures.items():
        if not s["orders"]:
            lines.append(f"{name:>16}: no orders")
            continue
        lines.append(f"{name:>16}: p50 {s['p50_ms']:7.1f} ms  p90 {s['p90_ms']:7.1f} ms  p99 {s['p99_ms']:7.1f} ms  "
                     f"max {s['max_ms']:7.1f} ms  over {s['orders']:,} orders" +
                     (f"  ({s['missing']} not arrived)" if s["missing"] else ""))
    return "\n".join(lines)


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parent / "var" / "data"
    print(describe(propagation(folder)))
