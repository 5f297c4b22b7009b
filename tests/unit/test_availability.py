"""The advisory availability check made when an order is placed."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given

import strategies
from ordering_core import (
    Availability,
    InvalidValue,
    Line,
    OrderLine,
    Product,
    Shortage,
    UnavailableLine,
    availability_of,
)

from .examples import product


class TestAvailabilityOf:
    def test_prices_every_line_when_all_fit(self) -> None:
        products = {
            "p-1": product("p-1", price="2.50", stock=5),
            "p-2": product("p-2", price="1.00", stock=1),
        }

        availability = availability_of([Line("p-1", 5), Line("p-2", 1)], products)

        assert availability.is_ok
        assert availability.order_lines == (
            OrderLine("p-1", 5, Decimal("2.50")),
            OrderLine("p-2", 1, Decimal("1.00")),
        )
        assert availability.failures == ()

    def test_a_line_fails_with_insufficient_stock_and_says_how_many_are_left(self) -> None:
        availability = availability_of([Line("p-1", 4)], {"p-1": product("p-1", stock=3)})

        assert not availability.is_ok
        assert availability.failures == (UnavailableLine("p-1", 4, Shortage.INSUFFICIENT_STOCK, 3),)

    def test_a_line_fails_for_an_unknown_product_with_none_available(self) -> None:
        availability = availability_of([Line("p-9", 1)], {})

        assert availability.failures == (UnavailableLine("p-9", 1, Shortage.UNKNOWN_PRODUCT, 0),)

    def test_reports_every_failing_line_and_prices_the_others(self) -> None:
        products = {"p-1": product("p-1", stock=0), "p-2": product("p-2", price="1.00", stock=9)}

        availability = availability_of([Line("p-1", 1), Line("p-2", 2), Line("p-3", 1)], products)

        assert [line.product_id for line in availability.failures] == ["p-1", "p-3"]
        assert availability.order_lines == (OrderLine("p-2", 2, Decimal("1.00")),)

    def test_merges_lines_before_judging_them(self) -> None:
        availability = availability_of([Line("p-1", 3), Line("p-1", 3)], {"p-1": product("p-1", stock=5)})

        assert availability.failures == (UnavailableLine("p-1", 6, Shortage.INSUFFICIENT_STOCK, 5),)

    def test_refuses_a_request_without_lines(self) -> None:
        with pytest.raises(InvalidValue, match="lines must hold from 1 to 100 lines"):
            availability_of([], {})

    @given(strategies.lines(), strategies.catalogs())
    def test_agrees_with_a_simple_model(self, lines: list[Line], products: dict[str, Product]) -> None:
        wanted: dict[str, int] = {}
        for line in lines:
            wanted[line.product_id] = wanted.get(line.product_id, 0) + line.quantity

        availability = availability_of(lines, products)

        fits = {pid: pid in products and products[pid].stock >= quantity for pid, quantity in wanted.items()}
        assert availability.is_ok == all(fits.values())
        assert {line.product_id for line in availability.order_lines} == {
            pid for pid, ok in fits.items() if ok
        }
        assert all(line.unit_price == products[line.product_id].price for line in availability.order_lines)
        assert [line.product_id for line in availability.lines] == list(wanted)


class TestUnavailableLine:
    def test_refuses_a_negative_available_count(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            UnavailableLine("p-1", 1, Shortage.INSUFFICIENT_STOCK, -1)

        assert refused.value.field == "available"

    def test_an_availability_without_failures_is_ok(self) -> None:
        assert Availability(()).is_ok
