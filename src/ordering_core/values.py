"""The rules every input obeys: ids, quantities, prices, times, and the lines of a request.

Each `require_*` function checks one kind of value and returns it unchanged, or raises `InvalidValue`
naming the field and the rule. `rule(require_*)` turns one into an attrs validator, so a domain class
cannot be built from a bad value, whether by a use case, an adapter or `attrs.evolve`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

import attrs
from attrs import frozen

from ordering_core.errors import InvalidValue

MAX_QUANTITY = 10_000
MAX_LINES = 100
MAX_NAME_LENGTH = 200
PRICE_DECIMAL_PLACES = 2

# Safe as a Kafka key, a URL path segment and a log token: no spaces, slashes or control characters.
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
# A customer id is the subject (`sub`) an identity provider put in a token, so it is theirs to shape: Auth0
# writes "auth0|5f7c8ec7", Keycloak a UUID, Entra ID 43 base64url characters. Any printable ASCII without
# spaces is taken (no control character reaches a log line or a header); 255 bounds what one row stores.
MAX_CUSTOMER_ID_LENGTH = 255
CUSTOMER_ID_PATTERN = re.compile(rf"[!-~]{{1,{MAX_CUSTOMER_ID_LENGTH}}}")

T = TypeVar("T")
E = TypeVar("E", bound=Enum)


def require_id(field: str, value: object) -> str:
    if not isinstance(value, str) or ID_PATTERN.fullmatch(value) is None:
        raise InvalidValue(
            field, "must be 1 to 64 letters, digits or . _ : - starting with a letter or digit", value
        )
    return value


def require_customer_id(field: str, value: object) -> str:
    if not isinstance(value, str) or CUSTOMER_ID_PATTERN.fullmatch(value) is None:
        raise InvalidValue(
            field, f"must be 1 to {MAX_CUSTOMER_ID_LENGTH} printable ASCII characters without spaces", value
        )
    return value


def require_quantity(field: str, value: object) -> int:
    # bool is an int subclass; True is not "one item".
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_QUANTITY:
        raise InvalidValue(field, f"must be an integer from 1 to {MAX_QUANTITY}", value)
    return value


def require_stock(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidValue(field, "must be an integer of at least 0", value)
    return value


def require_initial_stock(field: str, value: object) -> int:
    """A new product's stock: none (0) up to what one restock may add."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_QUANTITY:
        raise InvalidValue(field, f"must be an integer from 0 to {MAX_QUANTITY}", value)
    return value


def require_price(field: str, value: object) -> Decimal:
    if isinstance(value, float):
        # 0.1 + 0.2 != 0.3: money never passes through binary floating point.
        raise InvalidValue(field, "must be an exact decimal", value)
    if not isinstance(value, Decimal):
        raise InvalidValue(field, "must be a decimal.Decimal", value)
    if not value.is_finite():
        raise InvalidValue(field, "must be finite", value)
    if value < 0:
        raise InvalidValue(field, "must not be negative", value)
    if not _has_at_most_cents(value):
        raise InvalidValue(field, f"must have at most {PRICE_DECIMAL_PLACES} decimal places", value)
    return value


def require_name(field: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME_LENGTH:
        raise InvalidValue(
            field, f"must be a non-blank string of at most {MAX_NAME_LENGTH} characters", value
        )
    return value


def require_aware_datetime(field: str, value: object) -> datetime:
    # A naive datetime means "some local clock"; comparing it with another machine's is a silent bug.
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidValue(field, "must be a timezone-aware datetime", value)
    return value


def require_positive_duration(field: str, value: object) -> timedelta:
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise InvalidValue(field, "must be a positive duration", value)
    return value


def require_member(kind: type[E]) -> Callable[[str, object], E]:
    """A check that the value is a member of the enum `kind` (its plain string value is not enough)."""

    def require(field: str, value: object) -> E:
        if not isinstance(value, kind):
            raise InvalidValue(field, f"must be one of {', '.join(repr(m.value) for m in kind)}", value)
        return value

    return require


def optional(check: Callable[[str, object], T]) -> Callable[[str, object], T | None]:
    def require(field: str, value: object) -> T | None:
        return None if value is None else check(field, value)

    return require


def require_tuple(field: str, value: object) -> tuple[object, ...]:
    # Not a list: a frozen value must not hold anything that can change under it (and must stay hashable).
    if not isinstance(value, tuple):
        raise InvalidValue(field, "must be a tuple", value)
    return value


def require_lines(field: str, lines: tuple[T, ...]) -> tuple[T, ...]:
    require_tuple(field, lines)
    if not 1 <= len(lines) <= MAX_LINES:
        raise InvalidValue(field, f"must hold from 1 to {MAX_LINES} lines", len(lines))
    return lines


def rule(check: Callable[[str, Any], object]) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    """The attrs validator applying `check` to a field, named after the attribute."""

    def validate(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        check(attribute.name, value)

    return validate


@frozen
class Line:
    """A quantity of one product, as asked for: a request line, a reservation line, a taken line."""

    product_id: str = attrs.field(validator=rule(require_id))
    quantity: int = attrs.field(validator=rule(require_quantity))


def merge_lines(lines: Iterable[Line]) -> tuple[Line, ...]:
    """One line per product, quantities summed, in order of first appearance.

    The bound on the number of lines applies to the request as sent (it limits the work one request can
    cause); the bound on quantity applies to each merged line (it is what the stock must cover).
    """
    requested = require_lines("lines", tuple(lines))
    totals: dict[str, int] = {}
    for line in requested:
        totals[line.product_id] = totals.get(line.product_id, 0) + line.quantity
    for product_id, quantity in totals.items():
        if quantity > MAX_QUANTITY:
            raise InvalidValue(
                "quantity",
                f"must total at most {MAX_QUANTITY} per product (product {product_id!r})",
                quantity,
            )
    return tuple(Line(product_id, quantity) for product_id, quantity in totals.items())


def _has_at_most_cents(value: Decimal) -> bool:
    # Judged on the digits, not with quantize(): quantize depends on the context precision and raises for
    # large values. "1.500" has three places written but is 1.50, so trailing zeros are allowed.
    _sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):  # "n", "N" or "F": NaN and Infinity have no cents to judge
        return False
    surplus = -PRICE_DECIMAL_PLACES - exponent
    return surplus <= 0 or all(digit == 0 for digit in digits[-surplus:])
