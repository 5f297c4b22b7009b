"""The rules every input obeys: ids, quantities, prices, names, times, and the lines of a request."""

from __future__ import annotations

import decimal
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

import strategies
from ordering_core import InvalidValue, Line, OrderStatus, merge_lines
from ordering_core.values import (
    require_aware_datetime,
    require_customer_id,
    require_id,
    require_member,
    require_name,
    require_positive_duration,
    require_price,
    require_quantity,
    require_stock,
)

from .examples import NOW


class TestIds:
    @pytest.mark.parametrize(
        "value", ["a", "A9", "order-1", "p_2.x:y", "9" * 64, "0b8f7e7c-2a1e-4c1a-9a0e-1b2c3d4e5f60"]
    )
    def test_accepts_letters_digits_and_separators(self, value: str) -> None:
        assert require_id("order_id", value) == value

    @pytest.mark.parametrize(
        "value", ["", "-a", ".a", "a b", "a/b", "é", "a\n", "x" * 65, 12, None], ids=repr
    )
    def test_refuses_anything_else_naming_the_field_and_rule(self, value: object) -> None:
        with pytest.raises(InvalidValue) as refused:
            require_id("order_id", value)

        assert refused.value.field == "order_id"
        assert "must be 1 to 64 letters, digits or . _ : -" in str(refused.value)


class TestCustomerIds:
    """A customer id is a token's subject, shaped by the identity provider, not by us."""

    @pytest.mark.parametrize(
        "value",
        ["auth0|5f7c8ec7", "0b8f7e7c-2a1e-4c1a-9a0e-1b2c3d4e5f60", "x" * 255, "(unidentified)", "!", "a~b"],
        ids=["auth0", "uuid", "255 characters", "unidentified", "one character", "tilde"],
    )
    def test_accepts_printable_ascii_without_spaces_up_to_255_characters(self, value: str) -> None:
        assert require_customer_id("customer_id", value) == value

    @pytest.mark.parametrize(
        "value",
        ["", " ", "\t", "a b", "a\n", "x" * 256, "kund-ö", "\x7f", None, 42],
        ids=[
            "empty",
            "space",
            "tab",
            "inner space",
            "newline",
            "256 characters",
            "non-ascii",
            "del",
            "none",
            "int",
        ],
    )
    def test_refuses_anything_else_naming_the_field_and_rule(self, value: object) -> None:
        with pytest.raises(InvalidValue) as refused:
            require_customer_id("customer_id", value)

        assert refused.value.field == "customer_id"
        assert "must be 1 to 255 printable ASCII characters without spaces" in str(refused.value)


class TestQuantity:
    @pytest.mark.parametrize("value", [1, 10_000])
    def test_accepts_integers_from_1_to_10000(self, value: int) -> None:
        assert require_quantity("quantity", value) == value

    @pytest.mark.parametrize("value", [0, -1, 10_001, True, 1.0, "3", None], ids=repr)
    def test_refuses_anything_else(self, value: object) -> None:
        with pytest.raises(InvalidValue) as refused:
            require_quantity("quantity", value)

        assert str(refused.value) == f"quantity must be an integer from 1 to 10000, got {value!r}"


class TestPrice:
    @pytest.mark.parametrize("text", ["0", "0.00", "12.5", "12.50", "1.500", "1E+30", "999999999.99"])
    def test_accepts_non_negative_decimals_with_at_most_cents(self, text: str) -> None:
        assert require_price("price", Decimal(text)) == Decimal(text)

    def test_refuses_a_float(self) -> None:
        with pytest.raises(InvalidValue, match=r"^price must be an exact decimal, got 12\.5$"):
            require_price("price", 12.5)

    @pytest.mark.parametrize("value", [12, "12.50", None], ids=repr)
    def test_refuses_anything_but_a_decimal(self, value: object) -> None:
        with pytest.raises(InvalidValue, match=r"price must be a decimal\.Decimal"):
            require_price("price", value)

    @pytest.mark.parametrize("text", ["NaN", "sNaN", "Infinity", "-Infinity"])
    def test_refuses_non_finite_values(self, text: str) -> None:
        with pytest.raises(InvalidValue, match="price must be finite"):
            require_price("price", Decimal(text))

    def test_refuses_a_negative_price(self) -> None:
        with pytest.raises(InvalidValue, match="price must not be negative"):
            require_price("price", Decimal("-0.01"))

    @pytest.mark.parametrize("text", ["0.001", "12.345", "1.0000000000000000000000000000001"])
    def test_refuses_fractions_of_a_cent(self, text: str) -> None:
        with pytest.raises(InvalidValue, match="price must have at most 2 decimal places"):
            require_price("price", Decimal(text))

    @given(st.decimals(allow_nan=False, allow_infinity=False, min_value=0))
    def test_accepts_exactly_the_values_that_are_whole_cents(self, value: Decimal) -> None:
        with decimal.localcontext(prec=1000):
            whole_cents = value * 100 == (value * 100).to_integral_value()

        try:
            require_price("price", value)
            accepted = True
        except InvalidValue:
            accepted = False

        assert accepted == whole_cents


class TestOtherRules:
    @pytest.mark.parametrize("value", [0, 5])
    def test_stock_is_an_integer_of_at_least_zero(self, value: int) -> None:
        assert require_stock("stock", value) == value

    @pytest.mark.parametrize("value", [-1, True, 2.0], ids=repr)
    def test_refuses_negative_or_non_integer_stock(self, value: object) -> None:
        with pytest.raises(InvalidValue, match="stock must be an integer of at least 0"):
            require_stock("stock", value)

    @pytest.mark.parametrize("value", ["", "   ", "x" * 201, 3], ids=repr)
    def test_refuses_a_blank_or_overlong_name(self, value: object) -> None:
        with pytest.raises(InvalidValue, match="name must be a non-blank string of at most 200 characters"):
            require_name("name", value)

    def test_accepts_an_aware_datetime(self) -> None:
        assert require_aware_datetime("now", NOW) == NOW

    @pytest.mark.parametrize("value", [datetime(2025, 1, 1), "2025-01-01T00:00:00Z"], ids=repr)
    def test_refuses_a_naive_datetime_or_a_string(self, value: object) -> None:
        with pytest.raises(InvalidValue, match="now must be a timezone-aware datetime"):
            require_aware_datetime("now", value)

    @pytest.mark.parametrize("value", [timedelta(0), timedelta(seconds=-1), 30], ids=repr)
    def test_refuses_a_duration_that_is_not_positive(self, value: object) -> None:
        with pytest.raises(InvalidValue, match="timeout must be a positive duration"):
            require_positive_duration("timeout", value)

    def test_an_enum_member_is_required_not_its_string_value(self) -> None:
        require_status = require_member(OrderStatus)

        assert require_status("status", OrderStatus.PAID) is OrderStatus.PAID
        with pytest.raises(InvalidValue, match="status must be one of 'unpaid', 'paid', 'cancelled'"):
            require_status("status", "paid")


class TestLine:
    def test_refuses_an_invalid_product_id(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            Line("no spaces", 1)

        assert refused.value.field == "product_id"

    def test_refuses_an_invalid_quantity(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            Line("p-1", 0)

        assert refused.value.field == "quantity"


class TestMergeLines:
    def test_sums_the_quantities_of_lines_naming_the_same_product(self) -> None:
        merged = merge_lines([Line("p-1", 2), Line("p-2", 1), Line("p-1", 3)])

        assert merged == (Line("p-1", 5), Line("p-2", 1))

    def test_keeps_products_in_order_of_first_appearance(self) -> None:
        merged = merge_lines([Line("p-2", 1), Line("p-1", 1), Line("p-2", 1)])

        assert [line.product_id for line in merged] == ["p-2", "p-1"]

    def test_refuses_a_request_without_lines(self) -> None:
        with pytest.raises(InvalidValue, match=r"^lines must hold from 1 to 100 lines, got 0$"):
            merge_lines([])

    def test_accepts_100_lines(self) -> None:
        merged = merge_lines([Line(f"p-{n}", 1) for n in range(100)])

        assert len(merged) == 100

    def test_refuses_more_than_100_lines_even_if_they_would_merge(self) -> None:
        with pytest.raises(InvalidValue, match="got 101"):
            merge_lines([Line("p-1", 1)] * 101)

    def test_refuses_a_merged_quantity_above_10000(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            merge_lines([Line("p-1", 6_000), Line("p-1", 4_001)])

        assert refused.value.field == "quantity"
        assert refused.value.value == 10_001
        assert "'p-1'" in str(refused.value)

    @given(strategies.lines())
    def test_merging_keeps_every_products_total_and_names_each_once(self, lines: list[Line]) -> None:
        merged = merge_lines(lines)

        assert len({line.product_id for line in merged}) == len(merged)
        for line in merged:
            assert line.quantity == sum(
                asked.quantity for asked in lines if asked.product_id == line.product_id
            )
