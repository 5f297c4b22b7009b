"""Hypothesis strategies for the domain's values, shared by every test folder."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import strategies as st

from ordering_core import Line, Product
from ordering_core.values import MAX_QUANTITY

# A few product ids, so that generated lines and catalogs often name the same products.
product_ids = st.sampled_from(["p-1", "p-2", "p-3", "p-4"])
order_ids = st.sampled_from([f"o-{n}" for n in range(1, 6)])

quantities = st.integers(min_value=1, max_value=MAX_QUANTITY)
small_quantities = st.integers(min_value=1, max_value=20)
stock_levels = st.integers(min_value=0, max_value=40)

prices = st.decimals(min_value=0, max_value=Decimal(100000), places=2, allow_nan=False, allow_infinity=False)


def lines(
    quantity: st.SearchStrategy[int] = small_quantities, max_size: int = 6
) -> st.SearchStrategy[list[Line]]:
    return st.lists(st.builds(Line, product_ids, quantity), min_size=1, max_size=max_size)


@st.composite
def catalogs(draw: st.DrawFn) -> dict[str, Product]:
    """Some of the product ids, each with a price and a stock level."""
    known = draw(st.sets(product_ids))
    return {
        product_id: Product(product_id, f"Product {product_id}", draw(prices), draw(stock_levels))
        for product_id in sorted(known)
    }
