"""Products: what the catalog sells, at what price, and how many are on the shelf."""

from __future__ import annotations

from decimal import Decimal

import attrs
from attrs import frozen

from ordering_core.values import (
    require_id,
    require_name,
    require_price,
    require_quantity,
    require_stock,
    rule,
)


@frozen
class Product:
    product_id: str = attrs.field(validator=rule(require_id))
    name: str = attrs.field(validator=rule(require_name))
    price: Decimal = attrs.field(validator=rule(require_price))
    # Changed only by `restock` and by the stock ledger (docs/design.md), never by editing the product.
    stock: int = attrs.field(default=0, validator=rule(require_stock))

    def restock(self, quantity: int) -> Product:
        """More of this product arrived."""
        require_quantity("quantity", quantity)
        return attrs.evolve(self, stock=self.stock + quantity)

    def describe(self, name: str, price: Decimal) -> Product:
        """The same product, renamed or repriced; its stock is untouched."""
        return attrs.evolve(self, name=name, price=price)


@frozen
class ProductPut:
    """What putting a product did: the product now, and whether it was created (else it was described anew)."""

    product: Product
    created: bool
