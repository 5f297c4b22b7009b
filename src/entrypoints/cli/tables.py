"""What a person reads: the API's JSON laid out as aligned tables and short sentences.

Every value is shown as the API gave it; money stays the decimal string it arrived as (never a float, so
"2.50" never becomes 2.5). Only timestamps are trimmed, to the second, for width.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from entrypoints.cli.api import Problem

Json = Mapping[str, Any]

_SHORTAGES = {"insufficient_stock": "not enough in stock", "unknown_product": "no such product"}


def table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], *, right: Sequence[int] = ()
) -> list[str]:
    """Columns padded to their widest cell, two spaces apart; the columns in `right` aligned right."""
    cells = [list(map(str, headers)), *([str(cell) for cell in row] for row in rows)]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]
    return [
        "  ".join(
            cell.rjust(width) if column in right else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in cells
    ]


def products(listed: Sequence[Json]) -> list[str]:
    if not listed:
        return ["No products yet."]
    rows = [(p["product_id"], p["name"], p["price"], p["stocks"]) for p in listed]
    return table(("PRODUCT", "NAME", "PRICE", "STOCK"), rows, right=(2, 3))


def status(order: Json) -> str:
    """`unpaid`, `paid`, or `cancelled (customer)`: a status with its reason, when it has one."""
    reason = order.get("reason")
    return f"{order['status']} ({reason})" if reason else str(order["status"])


def order(placed: Json) -> list[str]:
    rows = [(line["product_id"], line["quantity"], line["unit_price"]) for line in placed["items"]]
    return [
        f"Order {placed['order_id']}: {status(placed)}, placed {when(placed['placed_at'])}",
        *indented(table(("PRODUCT", "QUANTITY", "UNIT PRICE"), rows, right=(1, 2))),
        f"Total: {placed['total']}",
    ]


def messages(told: Sequence[Json]) -> list[str]:
    if not told:
        return ["Messages to the customer: none yet (they follow a status change within moments)."]
    rows = [(when(m["occurred_at"]), status(m), m["text"]) for m in told]
    return ["Messages to the customer, oldest first:", *indented(table(("WHEN", "STATUS", "MESSAGE"), rows))]


def orders(page: Sequence[Json]) -> list[str]:
    if not page:
        return ["No orders yet."]
    rows = [(o["order_id"], status(o), o["total"], when(o["placed_at"])) for o in page]
    return table(("ORDER", "STATUS", "TOTAL", "PLACED"), rows, right=(2,))


def dead_letters(listed: Sequence[Json]) -> list[str]:
    if not listed:
        return ["No dead letters: every record the services read was applied."]
    rows = [_dead_letter_row(d) for d in listed]
    return table(("REF", "TOPIC", "REASON", "WHEN", "ORDER", "REPLAYED"), rows)


def _dead_letter_row(d: Json) -> tuple[str, ...]:
    when_set_aside = _when_or_dash(d["dead_lettered_at"])
    return (d["ref"], d["topic"], _short(d["reason"]), when_set_aside, _or_dash(d["order_id"]), _replayed(d))


def dead_letter(found: Json) -> list[str]:
    headers = [(h["name"], h.get("text", f"base64:{h.get('base64', '')}")) for h in found["headers"]]
    where = f"partition {_or_dash(found['partition'])}, offset {_or_dash(found['offset'])}"
    what = [_or_dash(found[name]) for name in ("event", "order_id", "message_id")]
    return [
        f"Dead letter {found['ref']}: read from {found['topic']} ({where})",
        f"Reason: {found['reason']}",
        f"Set aside: {_when_or_dash(found['dead_lettered_at'])}",
        f"Event: {what[0]}, order {what[1]}, message {what[2]}",
        f"Replayed: {_replayed(found)}",
        f"Key: {'(none)' if found['key'] is None else _shown_bytes(found['key'])}",
        "Headers:",
        *indented(table(("NAME", "VALUE"), headers) if headers else ["(none)"]),
        "Value:",
        *indented(_shown_bytes(found["value"]).splitlines()),
    ]


def replayed(sent: Sequence[Json]) -> list[str]:
    if not sent:
        return ["Nothing to replay: every dead letter there was replayed already."]
    rows = [(d["ref"], d["topic"], _or_dash(d["order_id"])) for d in sent]
    return [
        f"Sent back to their topics ({len(sent)}); a record already applied changes nothing:",
        *indented(table(("REF", "TO TOPIC", "ORDER"), rows)),
    ]


def _replayed(dead: Json) -> str:
    replay = dead["replayed"]
    return "no" if replay is None else f"{when(replay['replayed_at'])} by {replay['by']}"


def _shown_bytes(shown: Json) -> str:
    if "json" in shown:
        return json.dumps(shown["json"], indent=2, ensure_ascii=False)
    if "text" in shown:
        return str(shown["text"])
    return f"base64:{shown['base64']}"


def _short(reason: str, width: int = 60) -> str:
    return reason if len(reason) <= width else reason[: width - 1] + "…"


def _when_or_dash(timestamp: str | None) -> str:
    return "-" if timestamp is None else when(timestamp)


def _or_dash(value: object) -> str:
    return "-" if value is None else str(value)


def change(seen_at: datetime, now: Json, before: Json | None) -> str:
    """One line of `tail --follow`: an order appeared, or its status changed."""
    clock = seen_at.strftime("%H:%M:%S")
    if before is None:
        return f"{clock}  {now['order_id']}  placed, {status(now)}, total {now['total']}"
    return f"{clock}  {now['order_id']}  {status(before)} -> {status(now)}"


def refusal(problem: Problem) -> list[str]:
    """What follows the one-line error: each wrong field it does not already name with its rule, or each
    item that cannot be served."""
    lines = [
        f"{field}: {message}"
        for field, message in problem.field_errors
        if f"{field} {message}" not in problem.sentence
    ]
    if problem.unavailable_items:
        rows = [
            (i["product_id"], i["quantity"], i["in_stock"], _SHORTAGES.get(i["reason"], i["reason"]))
            for i in problem.unavailable_items
        ]
        lines += table(("PRODUCT", "WANTED", "IN STOCK", "WHY"), rows, right=(1, 2))
    return indented(lines)


def when(timestamp: str) -> str:
    """An RFC 3339 timestamp to the second: `2026-03-01 12:00:00+00:00`."""
    try:
        return datetime.fromisoformat(timestamp).replace(microsecond=0).isoformat(sep=" ")
    except ValueError:  # not ours to judge: show what came
        return timestamp


def indented(lines: Sequence[str]) -> list[str]:
    return [f"  {line}" for line in lines]
