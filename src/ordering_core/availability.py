"""Can these lines be served? The advisory check made when an order is placed.

Advisory because two orders can both pass it for the last unit; the stock ledger (`stock.py`) is the truth.
The same per-line judgement, `shortage_of`, is used by both so they never disagree on what "fits" means.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

import attrs
from attrs import frozen

from ordering_core.orders import OrderLine
from ordering_core.products import Product
from ordering_core.values import (
    Line,
    merge_lines,
    require_id,
    require_member,
    require_quantity,
    require_stock,
    require_tuple,
    rule,
)


class Shortage(StrEnum):
    UNKNOWN_PRODUCT = "unknown_product"
    INSUFFICIENT_STOCK = "insufficient_stock"


@frozen
class UnavailableLine:
    """A line that cannot be served, why, and how many there are (0 for an unknown product)."""

    product_id: str = attrs.field(validator=rule(require_id))
    quantity: int = attrs.field(validator=rule(require_quantity))
    reason: Shortage = attrs.field(validator=rule(require_member(Shortage)))
    available: int = attrs.field(validator=rule(require_stock))


@frozen
class Availability:
    """The answer for each merged line, in request order: an `OrderLine` (priced) or an `UnavailableLine`."""

    lines: tuple[OrderLine | UnavailableLine, ...] = attrs.field(validator=rule(require_tuple))

    @property
    def is_ok(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> tuple[UnavailableLine, ...]:
        return tuple(line for line in self.lines if isinstance(line, UnavailableLine))

    @property
    def order_lines(self) -> tuple[OrderLine, ...]:
        """The priced lines that can be served (all of them when `is_ok`)."""
        return tuple(line for line in self.lines if isinstance(line, OrderLine))


def shortage_of(line: Line, in_stock: int | None) -> UnavailableLine | None:
    """Why `line` cannot be taken from `in_stock` units (None: the product is unknown), or None if it can."""
    if in_stock is None:
        return UnavailableLine(line.product_id, line.quantity, Shortage.UNKNOWN_PRODUCT, 0)
    if in_stock < line.quantity:
        return UnavailableLine(line.product_id, line.quantity, Shortage.INSUFFICIENT_STOCK, in_stock)
    return None


def availability_of(lines: Iterable[Line], products: Mapping[str, Product]) -> Availability:
    """Judge the lines (merged first) against the known products."""
    answers: list[OrderLine | UnavailableLine] = []
    for line in merge_lines(lines):
        product = products.get(line.product_id)
        shortage = shortage_of(line, None if product is None else product.stock)
        if shortage is not None:
            answers.append(shortage)
        elif product is not None:  # always, when there is no shortage: an unknown product is one
            answers.append(OrderLine(line.product_id, line.quantity, product.price))
    return Availability(tuple(answers))
