"""In-memory adapters for the Product Service: products, the stock ledger, and the unit of work."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from adapters.memory.transactions import InMemoryEventPublisher, InMemoryInbox, InMemoryUnitOfWork
from ordering_core.products import Product
from ordering_core.stock import LedgerEntry


class InMemoryProductRepository:
    def __init__(self, products: Iterable[Product] = ()) -> None:
        self.products: dict[str, Product] = {product.product_id: product for product in products}

    def get_many(self, product_ids: Iterable[str]) -> Mapping[str, Product]:
        return {pid: self.products[pid] for pid in product_ids if pid in self.products}

    def add(self, product: Product) -> None:
        if product.product_id in self.products:
            raise ValueError(f"product {product.product_id!r} already exists")
        self.products[product.product_id] = product

    def save(self, product: Product) -> None:
        if product.product_id not in self.products:
            raise ValueError(f"product {product.product_id!r} was never added")
        self.products[product.product_id] = product

    def copy(self) -> InMemoryProductRepository:
        return InMemoryProductRepository(self.products.values())

    def adopt(self, other: InMemoryProductRepository) -> None:
        self.products = dict(other.products)


class InMemoryStockLedger:
    def __init__(self, entries: Iterable[LedgerEntry] = ()) -> None:
        self.entries: dict[str, LedgerEntry] = {entry.order_id: entry for entry in entries}

    def entry_for(self, order_id: str) -> LedgerEntry | None:
        return self.entries.get(order_id)

    def save(self, entry: LedgerEntry) -> None:
        self.entries[entry.order_id] = entry

    def copy(self) -> InMemoryStockLedger:
        return InMemoryStockLedger(self.entries.values())

    def adopt(self, other: InMemoryStockLedger) -> None:
        self.entries = dict(other.entries)


class InMemoryProductUnitOfWork(InMemoryUnitOfWork):
    parts = ("products", "ledger", "events", "inbox")

    def __init__(self, products: Iterable[Product] = ()) -> None:
        super().__init__()
        self.products = InMemoryProductRepository(products)
        self.ledger = InMemoryStockLedger()
        self.events = InMemoryEventPublisher()
        self.inbox = InMemoryInbox()
