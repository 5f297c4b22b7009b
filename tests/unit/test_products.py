"""Products: validated on construction; stock changes only by restocking (or the ledger)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ordering_core import InvalidValue, Product

from .examples import product


class TestProduct:
    @pytest.mark.parametrize(
        ("field", "value"),
        [("product_id", "a b"), ("name", " "), ("price", 2.5), ("price", Decimal(-1)), ("stock", -1)],
        ids=repr,
    )
    def test_refuses_an_invalid_field(self, field: str, value: object) -> None:
        fields: dict[str, object] = {"product_id": "p-1", "name": "Tea", "price": Decimal("2.50"), "stock": 1}
        fields[field] = value

        with pytest.raises(InvalidValue) as refused:
            Product(**fields)  # type: ignore[arg-type]

        assert refused.value.field == field

    def test_starts_with_no_stock_unless_told(self) -> None:
        assert Product("p-1", "Tea", Decimal("2.50")).stock == 0


class TestRestock:
    def test_adds_the_quantity_to_the_stock(self) -> None:
        tea = product(stock=3)

        restocked = tea.restock(4)

        assert restocked.stock == 7
        assert tea.stock == 3

    @pytest.mark.parametrize("quantity", [0, -5, 10_001])
    def test_refuses_a_quantity_outside_1_to_10000(self, quantity: int) -> None:
        with pytest.raises(InvalidValue, match="quantity must be an integer from 1 to 10000"):
            product().restock(quantity)


class TestDescribe:
    def test_renames_and_reprices_without_touching_stock(self) -> None:
        tea = product(stock=3)

        described = tea.describe("Green tea", Decimal("3.10"))

        assert (described.name, described.price, described.stock) == ("Green tea", Decimal("3.10"), 3)

    def test_refuses_an_invalid_price(self) -> None:
        with pytest.raises(InvalidValue, match="price must be an exact decimal"):
            product().describe("Tea", 3.1)  # type: ignore[arg-type]
