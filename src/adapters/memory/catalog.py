"""An in-memory `ProductCatalog`: asks the Product Service's use case directly instead of over HTTP."""

from __future__ import annotations

from collections.abc import Sequence

from adapters.memory.products import InMemoryProductUnitOfWork
from adapters.memory.views import InMemoryProductViews
from ordering_core.availability import Availability
from ordering_core.products import Product
from ordering_core.services.products import check_availability
from ordering_core.values import Line


class InMemoryProductCatalog:
    """Answers from the products of a Product Service unit of work (its committed state).

    `checks` counts the calls, so a test can tell that a refused request never reached the catalog.
    """

    def __init__(self, uow: InMemoryProductUnitOfWork) -> None:
        self._uow = uow
        self.checks = 0

    async def check(self, lines: Sequence[Line]) -> Availability:
        self.checks += 1
        return check_availability(lines, uow=self._uow)

    async def products(self) -> Sequence[Product]:
        """What the Product Service's `GET /products` lists (the Order Service's demo page shows it)."""
        return InMemoryProductViews(self._uow).products()
