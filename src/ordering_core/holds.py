"""How much stock one customer's unpaid orders may hold: the limit on hoarding.

An unpaid order holds its stock until it is paid, cancelled, or cancelled for want of payment after the
payment timeout. Without a limit one customer could place order after order and keep a whole product off the
shelf for everyone else, at no cost. The limit counts a customer's unpaid orders and the units they hold;
placing an order that would go past either is refused until one of them is paid, cancelled or expires.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs
from attrs import frozen

from ordering_core.errors import HoldLimitReached, InvalidValue
from ordering_core.values import (
    optional,
    require_aware_datetime,
    require_positive_duration,
    require_stock,
    rule,
)


def _require_at_least_one(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidValue(field, "must be an integer of at least 1", value)
    return value


@frozen
class HoldLimit:
    """At most `max_orders` unpaid orders holding at most `max_units` units in all, per customer.

    `payment_timeout` is how long an unpaid order holds its stock; it says when a refused customer may try
    again (when their oldest unpaid order expires).
    """

    max_orders: int = attrs.field(validator=rule(_require_at_least_one))
    max_units: int = attrs.field(validator=rule(_require_at_least_one))
    payment_timeout: timedelta = attrs.field(validator=rule(require_positive_duration))


@frozen
class Holdings:
    """What one customer's unpaid orders hold now; `oldest_placed_at` is None exactly when there are none."""

    orders: int = attrs.field(validator=rule(require_stock))
    units: int = attrs.field(validator=rule(require_stock))
    oldest_placed_at: datetime | None = attrs.field(
        default=None, validator=rule(optional(require_aware_datetime))
    )

    def __attrs_post_init__(self) -> None:
        if (self.orders == 0) != (self.oldest_placed_at is None):
            raise InvalidValue("oldest_placed_at", "must be set exactly when there are unpaid orders", self)
        if self.orders == 0 and self.units != 0:
            raise InvalidValue("units", "must be 0 when there are no unpaid orders", self.units)


NOTHING_HELD = Holdings(0, 0)


def require_holdable(units: int, limit: HoldLimit) -> int:
    """An order larger than the limit on its own can never be placed: an invalid order (`InvalidValue`), not a
    reason to come back later. Checked before anything is asked or stored."""
    if units > limit.max_units:
        raise InvalidValue(
            "items", f"must total at most {limit.max_units} units, what one customer may hold unpaid", units
        )
    return units


def check_hold(customer_id: str, holdings: Holdings, units: int, limit: HoldLimit, now: datetime) -> None:
    """Refuse an order of `units` that would take the customer's holdings past the limit: `HoldLimitReached`,
    whose `retry_after` is when the oldest unpaid order expires (or `InvalidValue`, see `require_holdable`).
    """
    require_holdable(units, limit)
    if holdings.orders + 1 <= limit.max_orders and holdings.units + units <= limit.max_units:
        return
    # Something is held here: with nothing held, an order within max_units always fits a limit of 1 or more.
    oldest = holdings.oldest_placed_at or now
    frees_at = oldest + limit.payment_timeout
    raise HoldLimitReached(
        customer_id,
        f"{_count(holdings.orders, 'order')} of at most {limit.max_orders} and "
        f"{_count(holdings.units, 'unit')} of at most {limit.max_units}",
        max(frees_at - now, timedelta(0)),
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
