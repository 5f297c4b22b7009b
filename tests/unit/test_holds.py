"""The hold limit: how much stock one customer's unpaid orders may keep off the shelf."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ordering_core import Holdings, HoldLimit, HoldLimitReached, InvalidValue
from ordering_core.holds import NOTHING_HELD, check_hold

from .examples import CUSTOMER, NOW

TIMEOUT = timedelta(minutes=30)
LIMIT = HoldLimit(max_orders=3, max_units=10, payment_timeout=TIMEOUT)


def held(orders: int, units: int, *, minutes_ago: int = 0) -> Holdings:
    """What `orders` unpaid orders of `units` in all hold, the oldest placed `minutes_ago`."""
    return Holdings(orders, units, NOW - timedelta(minutes=minutes_ago))


class TestCheckHold:
    @pytest.mark.parametrize(
        ("holdings", "units"),
        [(NOTHING_HELD, 1), (NOTHING_HELD, 10), (held(2, 5), 5), (held(2, 9), 1)],
        ids=["first order", "first order of the whole limit", "up to the limit", "the last unit"],
    )
    def test_an_order_that_keeps_within_the_limit_passes(self, holdings: Holdings, units: int) -> None:
        check_hold(CUSTOMER, holdings, units, LIMIT, NOW)

    def test_refuses_one_unpaid_order_more_than_max_orders(self) -> None:
        with pytest.raises(HoldLimitReached) as refused:
            check_hold(CUSTOMER, held(3, 3), 1, LIMIT, NOW)

        assert refused.value.customer_id == CUSTOMER
        assert refused.value.held == "3 orders of at most 3 and 3 units of at most 10"

    def test_refuses_units_that_would_pass_max_units(self) -> None:
        with pytest.raises(HoldLimitReached) as refused:
            check_hold(CUSTOMER, held(1, 8), 3, LIMIT, NOW)

        assert refused.value.held == "1 order of at most 3 and 8 units of at most 10"

    def test_retry_after_is_the_time_until_the_oldest_unpaid_order_expires(self) -> None:
        with pytest.raises(HoldLimitReached) as refused:
            check_hold(CUSTOMER, held(3, 3, minutes_ago=20), 1, LIMIT, NOW)

        assert refused.value.retry_after == timedelta(minutes=10)

    @pytest.mark.parametrize("minutes_ago", [30, 45])
    def test_retry_after_is_never_negative_when_the_oldest_is_already_due_to_expire(
        self, minutes_ago: int
    ) -> None:
        # The sweep has not cancelled it yet: trying again is worth it now.
        with pytest.raises(HoldLimitReached) as refused:
            check_hold(CUSTOMER, held(3, 3, minutes_ago=minutes_ago), 1, LIMIT, NOW)

        assert refused.value.retry_after == timedelta(0)

    @pytest.mark.parametrize("holdings", [NOTHING_HELD, held(3, 10)], ids=["nothing held", "limit reached"])
    def test_an_order_larger_than_max_units_on_its_own_is_invalid_not_a_reason_to_retry(
        self, holdings: Holdings
    ) -> None:
        with pytest.raises(InvalidValue) as refused:
            check_hold(CUSTOMER, holdings, 11, LIMIT, NOW)

        assert not isinstance(refused.value, HoldLimitReached)
        assert (refused.value.field, refused.value.value) == ("items", 11)
        assert "at most 10 units" in refused.value.rule

    @given(
        orders=st.integers(min_value=0, max_value=5),
        units=st.integers(min_value=0, max_value=15),
        asked=st.integers(min_value=1, max_value=10),
        minutes_ago=st.integers(min_value=0, max_value=60),
    )
    def test_passes_exactly_when_both_counts_stay_within_the_limit(
        self, orders: int, units: int, asked: int, minutes_ago: int
    ) -> None:
        held_units = units if orders else 0  # no unpaid orders hold no units
        holdings = held(orders, held_units, minutes_ago=minutes_ago) if orders else NOTHING_HELD
        within = orders + 1 <= LIMIT.max_orders and held_units + asked <= LIMIT.max_units

        try:
            check_hold(CUSTOMER, holdings, asked, LIMIT, NOW)
        except HoldLimitReached as refused:
            retry_after: timedelta | None = refused.retry_after
        else:
            retry_after = None

        assert (retry_after is None) == within
        assert retry_after is None or timedelta(0) <= retry_after <= TIMEOUT


class TestHoldLimit:
    def test_keeps_its_limits(self) -> None:
        limit = HoldLimit(max_orders=1, max_units=1, payment_timeout=timedelta(seconds=1))

        assert (limit.max_orders, limit.max_units, limit.payment_timeout) == (1, 1, timedelta(seconds=1))

    @pytest.mark.parametrize("field", ["max_orders", "max_units"])
    @pytest.mark.parametrize("value", [0, -1, True, 2.0, "3", None], ids=repr)
    def test_refuses_a_count_limit_below_one_or_not_an_integer(self, field: str, value: object) -> None:
        limits: dict[str, object] = {"max_orders": 3, "max_units": 10, field: value}

        with pytest.raises(InvalidValue) as refused:
            HoldLimit(**limits, payment_timeout=TIMEOUT)  # type: ignore[arg-type]

        assert refused.value.field == field
        assert "must be an integer of at least 1" in str(refused.value)

    @pytest.mark.parametrize("timeout", [timedelta(0), timedelta(seconds=-1), 30], ids=repr)
    def test_refuses_a_payment_timeout_that_is_not_positive(self, timeout: object) -> None:
        with pytest.raises(InvalidValue) as refused:
            HoldLimit(3, 10, timeout)  # type: ignore[arg-type]

        assert refused.value.field == "payment_timeout"


class TestHoldings:
    def test_nothing_held_is_no_orders_no_units_and_no_oldest(self) -> None:
        assert (NOTHING_HELD.orders, NOTHING_HELD.units, NOTHING_HELD.oldest_placed_at) == (0, 0, None)

    def test_unpaid_orders_have_an_oldest(self) -> None:
        holdings = Holdings(2, 5, NOW)

        assert holdings.oldest_placed_at == NOW

    def test_refuses_unpaid_orders_without_an_oldest(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            Holdings(2, 5)

        assert refused.value.field == "oldest_placed_at"

    def test_refuses_an_oldest_when_nothing_is_held(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            Holdings(0, 0, NOW)

        assert refused.value.field == "oldest_placed_at"

    def test_refuses_units_without_orders_to_hold_them(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            Holdings(0, 3)

        assert refused.value.field == "units"

    @pytest.mark.parametrize(("field", "value"), [("orders", -1), ("units", -1), ("orders", True)])
    def test_refuses_a_negative_or_non_integer_count(self, field: str, value: object) -> None:
        counts: dict[str, object] = {"orders": 1, "units": 1, field: value}

        with pytest.raises(InvalidValue) as refused:
            Holdings(**counts, oldest_placed_at=NOW)  # type: ignore[arg-type]

        assert refused.value.field == field

    def test_refuses_a_naive_oldest_placing_time(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            Holdings(1, 1, datetime(2025, 1, 1))

        assert refused.value.field == "oldest_placed_at"
