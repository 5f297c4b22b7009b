"""The one error tree of the ordering domain.

Every use case raises only these; each service maps them to problem+json responses in one place.

    OrderingError
    ├── InvalidValue ............ an input breaks a rule (names the field and the rule)
    ├── UnknownOrder ............ no order has this id
    ├── UnknownProduct .......... no product has this id
    ├── OrderUnavailable ........ place_order refused: lists every line that cannot be served
    ├── CatalogUnavailable ...... the Product Service could not be asked (down, too slow, answered nonsense)
    ├── StockNotEditable ........ describing an existing product with another stock (stock changes by restock)
    ├── NotPermitted ............ the caller sees the order but may not do this to it (a customer paying)
    ├── HoldLimitReached ........ the customer's unpaid orders already hold as much stock as one may hold
    └── InvalidTransition ....... the order's status does not allow this action
        └── AlreadyPaid ......... paid before, with a different payment id
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Protocol

# A rejected value is echoed back in the message; cap it so a hostile 1 MB string stays out of the logs.
_MAX_SHOWN = 80


class OrderingError(Exception):
    """Base class of every error the domain raises on purpose."""


class InvalidValue(OrderingError):
    """A value breaks a rule: `"quantity must be an integer from 1 to 10000, got 0"`."""

    def __init__(self, field: str, rule: str, value: object) -> None:
        self.field = field
        self.rule = rule
        self.value = value
        super().__init__(f"{field} {rule}, got {_shown(value)}")


class UnknownOrder(OrderingError):
    def __init__(self, order_id: str) -> None:
        self.order_id = order_id
        super().__init__(f"no order has id {order_id!r}")


class UnknownProduct(OrderingError):
    def __init__(self, product_id: str) -> None:
        self.product_id = product_id
        super().__init__(f"no product has id {product_id!r}")


class UnservedLine(Protocol):
    """What `OrderUnavailable` tells of a line (`ordering_core.availability.UnavailableLine` has it). A
    protocol, not an import: availability's values are checked by rules that raise the errors above, and the
    error tree imports nothing of the domain."""

    @property
    def product_id(self) -> str: ...
    @property
    def quantity(self) -> int: ...
    @property
    def reason(self) -> str: ...
    @property
    def available(self) -> int: ...


class OrderUnavailable(OrderingError):
    """The order cannot be placed; `failures` holds every line that cannot be served, not just the first."""

    def __init__(self, failures: Sequence[UnservedLine]) -> None:
        self.failures = tuple(failures)
        reasons = "; ".join(
            f"{line.product_id!r} {line.reason} (asked {line.quantity}, available {line.available})"
            for line in self.failures
        )
        super().__init__(f"the order cannot be placed: {reasons}")


class CatalogUnavailable(OrderingError):
    """The `ProductCatalog` gave no answer: nothing was decided, so the caller may try again later.

    Raised by catalog adapters (the core never does I/O); `place_order` asks the catalog before it stores
    anything, so when this is raised no order exists and nothing was published.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"the product catalog could not be asked: {reason}")


class StockNotEditable(OrderingError):
    """A product's stock is given when it is created; afterwards only restocking and orders change it."""

    def __init__(self, product_id: str, stock: int, asked: int) -> None:
        self.product_id = product_id
        self.stock = stock
        self.asked = asked
        super().__init__(
            f"product {product_id!r} has {stock} in stock, not {asked}: stock changes by restocking and by orders"
        )


class NotPermitted(OrderingError):
    """The caller may see the order but not do `action` to it; `why` says who may."""

    def __init__(self, order_id: str, action: str, why: str) -> None:
        self.order_id = order_id
        self.action = action
        self.why = why
        super().__init__(f"you may not {action} order {order_id!r}: {why}")


class HoldLimitReached(OrderingError):
    """Placing the order would make the customer's unpaid orders hold more than one customer may hold.

    `retry_after` is how long until the oldest of those orders is cancelled for want of payment, which frees
    its stock (paying or cancelling one frees it sooner).
    """

    def __init__(self, customer_id: str, held: str, retry_after: timedelta) -> None:
        self.customer_id = customer_id
        self.held = held
        self.retry_after = retry_after
        super().__init__(
            f"your unpaid orders already hold {held}: pay or cancel one, or wait for it to expire"
        )


class InvalidTransition(OrderingError):
    """The order's life cycle does not allow `action` from `status` (see docs/design.md)."""

    def __init__(self, order_id: str, status: str, action: str) -> None:
        self.order_id = order_id
        self.status = status
        self.action = action
        super().__init__(f"order {order_id!r} is {status}: cannot {action}")


class AlreadyPaid(InvalidTransition):
    """Paying a paid order again with a *different* payment id (the same id is a harmless repeat)."""

    def __init__(self, order_id: str, payment_id: str, attempted_payment_id: str) -> None:
        self.payment_id = payment_id
        self.attempted_payment_id = attempted_payment_id
        super().__init__(order_id, "paid", f"pay with {attempted_payment_id!r}, paid with {payment_id!r}")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."
