"""What the services answer: domain values as the JSON openapi.yaml describes.

Money leaves as a string with exactly two decimal places ("12.50"): prices have at most cents, so the
formatting is exact, and a client never parses a price as a binary float.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ordering_core.availability import Availability, UnavailableLine
from ordering_core.messages import CustomerMessage
from ordering_core.orders import Order
from ordering_core.products import Product


def money(amount: Decimal) -> str:
    return f"{amount:.2f}"


def product_json(product: Product) -> dict[str, Any]:
    return {
        "product_id": product.product_id,
        "name": product.name,
        "price": money(product.price),
        "stocks": product.stock,
    }


def availability_json(availability: Availability) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    for line in availability.lines:
        if isinstance(line, UnavailableLine):
            items.append(
                {
                    "product_id": line.product_id,
                    "quantity": line.quantity,
                    "available": False,
                    "reason": str(line.reason),
                    "in_stock": line.available,
                }
            )
        else:
            items.append(
                {
                    "product_id": line.product_id,
                    "quantity": line.quantity,
                    "available": True,
                    "unit_price": money(line.unit_price),
                }
            )
    return {"available": availability.is_ok, "items": items}


def status_json(order: Order) -> dict[str, Any]:
    """The answer to pay and cancel: where the order stands now."""
    answer: dict[str, Any] = {"order_id": order.order_id, "status": str(order.status)}
    if order.cancel_reason is not None:
        answer["reason"] = str(order.cancel_reason)
    return answer


def order_json(order: Order) -> dict[str, Any]:
    return {
        **status_json(order),
        "items": [
            {"product_id": line.product_id, "quantity": line.quantity, "unit_price": money(line.unit_price)}
            for line in order.lines
        ],
        "total": money(order.total),
        "placed_at": order.placed_at.isoformat(),
    }


def message_json(message: CustomerMessage) -> dict[str, Any]:
    return {
        "order_id": message.order_id,
        "status": str(message.status),
        "reason": None if message.reason is None else str(message.reason),
        "text": message.text,
        "occurred_at": message.occurred_at.isoformat(),
    }
