"""Product Service use cases: answer availability, keep the catalog, and apply the stock ledger.

The consumers (`apply_stock_reservation`, `apply_stock_release`) apply a message and record its id in the
inbox in one unit of work; a duplicate or replay finds the id and returns None having changed nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import Decimal

import attrs

from ordering_core.availability import Availability, availability_of
from ordering_core.errors import StockNotEditable, UnknownProduct
from ordering_core.events import (
    EnvelopeFactory,
    StockReleaseRequested,
    StockReservationRejected,
    StockReservationRequested,
)
from ordering_core.ports import ProductUnitOfWork
from ordering_core.products import Product, ProductPut
from ordering_core.stock import LedgerOutcome, release, reserve
from ordering_core.values import (
    Line,
    merge_lines,
    require_id,
    require_initial_stock,
    require_name,
    require_price,
)


def check_availability(lines: Iterable[Line], *, uow: ProductUnitOfWork) -> Availability:
    """Whether each line (merged) can be served now, and at what price. Reads only.

    Outside a unit of work's block: one read of the committed stock needs no transaction, and a block would
    queue this read behind every stock change being written (the ledger decides later, in its own block).
    """
    merged = merge_lines(lines)
    products = uow.products.get_many(line.product_id for line in merged)
    return availability_of(merged, products)


def check_availabilities(questions: Iterable[Iterable[Line]], *, uow: ProductUnitOfWork) -> list[Availability]:
    """Each question answered as `check_availability` answers it, in the order asked, all from one read of
    the committed stock: several orders' questions cost one query, and no answer sees a stock another does
    not. Each question is judged on its own, so two of them may both be told a unit is there."""
    merged = [merge_lines(lines) for lines in questions]
    products = uow.products.get_many(dict.fromkeys(line.product_id for lines in merged for line in lines))
    return [availability_of(lines, products) for lines in merged]


def apply_stock_reservation(
    event: StockReservationRequested,
    *,
    uow: ProductUnitOfWork,
    new_id: Callable[[], str],
    now: datetime,
) -> LedgerOutcome | None:
    """Take the order's lines out of stock, all or nothing; announce a rejection. None for a duplicate."""
    envelope = EnvelopeFactory.from_cause(event, new_id=new_id, now=now)
    order_id = event.envelope.order_id
    with uow:
        if uow.inbox.seen(event.envelope.message_id):
            return None
        products = uow.products.get_many(line.product_id for line in event.lines)
        outcome = reserve(uow.ledger.entry_for(order_id), order_id, event.lines, _levels(products))
        _store(outcome, products, uow)
        if outcome.rejected:
            uow.events.publish([StockReservationRejected(envelope(order_id), outcome.rejected)])
        uow.inbox.record(event.envelope.message_id)
        uow.commit()
    return outcome


def apply_stock_release(event: StockReleaseRequested, *, uow: ProductUnitOfWork) -> LedgerOutcome | None:
    """Give back what the cancelled order took (or leave a tombstone). None for a duplicate."""
    order_id = event.envelope.order_id
    with uow:
        if uow.inbox.seen(event.envelope.message_id):
            return None
        entry = uow.ledger.entry_for(order_id)
        products = uow.products.get_many(line.product_id for line in entry.taken) if entry else {}
        outcome = release(entry, order_id)
        _store(outcome, products, uow)
        uow.inbox.record(event.envelope.message_id)
        uow.commit()
    return outcome


def restock(product_id: str, quantity: int, *, uow: ProductUnitOfWork) -> Product:
    """Add arrived goods to the product's stock."""
    with uow:
        product = _existing(uow, product_id).restock(quantity)
        uow.products.save(product)
        uow.commit()
    return product


def put_product(
    product_id: str, name: str, price: Decimal, *, stock: int | None = None, uow: ProductUnitOfWork
) -> ProductPut:
    """Create the product with `stock` units (none if None), or rename/reprice it, in one unit of work; what it
    did says which.

    Stock is given only when the product is created; afterwards it changes only by `restock` and the ledger,
    so describing an existing product with another `stock` is `StockNotEditable` (the same stock, or None, is
    a harmless repeat of the creating request).
    """
    require_id("product_id", product_id)
    require_name("name", name)
    require_price("price", price)
    if stock is not None:
        require_initial_stock("stock", stock)
    with uow:
        existing = uow.products.get_many([product_id]).get(product_id)
        if existing is None:
            product = Product(product_id, name, price, stock or 0)
            uow.products.add(product)
        elif stock is not None and stock != existing.stock:
            raise StockNotEditable(product_id, existing.stock, stock)
        else:
            product = existing.describe(name, price)
            uow.products.save(product)
        uow.commit()
    return ProductPut(product, created=existing is None)


def _existing(uow: ProductUnitOfWork, product_id: str) -> Product:
    product = uow.products.get_many([require_id("product_id", product_id)]).get(product_id)
    if product is None:
        raise UnknownProduct(product_id)
    return product


def _levels(products: Mapping[str, Product]) -> dict[str, int]:
    return {product_id: product.stock for product_id, product in products.items()}


def _store(outcome: LedgerOutcome, products: Mapping[str, Product], uow: ProductUnitOfWork) -> None:
    if not outcome.changed:
        return
    uow.ledger.save(outcome.entry)
    for product_id, level in outcome.new_levels(_levels(products)).items():
        uow.products.save(attrs.evolve(products[product_id], stock=level))
