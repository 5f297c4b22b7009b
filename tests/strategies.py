"""Hypothesis strategies for the domain's values, shared by every test folder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import strategies as st

from ordering_core import (
    EVENT_CLASSES,
    CancelReason,
    Envelope,
    Event,
    Line,
    OrderCancelled,
    OrderCreated,
    OrderLine,
    OrderPaid,
    OrderStatus,
    OrderStatusChanged,
    Product,
    Shortage,
    StockReleaseRequested,
    StockReservationRejected,
    StockReservationRequested,
    UnavailableLine,
)
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


# --- events, for the round trips of the codecs ---------------------------------------------------------------

ids = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:-]{0,20}\Z")
# Fixed offsets only: the wire carries an instant with its UTC offset, not a zone name, so a ZoneInfo time in
# a DST gap would come back as a different (equal-looking) value. The services stamp events in UTC.
aware_datetimes = st.datetimes(
    min_value=datetime(2000, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]),
)
envelopes = st.builds(Envelope, ids, aware_datetimes, ids, ids, st.none() | ids)
# Any subject a token may carry: printable ASCII without spaces ("auth0|5f7c", a UUID, "(unidentified)").
customer_ids = st.from_regex(r"\A[!-~]{1,40}\Z")


@st.composite
def order_lines(draw: st.DrawFn) -> tuple[OrderLine, ...]:
    chosen = draw(st.lists(product_ids, min_size=1, max_size=4, unique=True))
    return tuple(OrderLine(pid, draw(quantities), draw(prices)) for pid in chosen)


@st.composite
def events(draw: st.DrawFn) -> Event:
    """Any event of any type, valid by the domain's rules."""
    envelope = draw(envelopes)
    kind = draw(st.sampled_from(EVENT_CLASSES))
    if kind is OrderCreated:
        priced = draw(order_lines())
        total = sum((line.subtotal for line in priced), Decimal(0))
        return OrderCreated(envelope, priced, total, customer_id=draw(customer_ids))
    if kind is StockReservationRequested:
        return StockReservationRequested(envelope, tuple(draw(lines(quantities))))
    if kind is OrderPaid:
        return OrderPaid(envelope, draw(ids), customer_id=draw(customer_ids))
    if kind is OrderCancelled:
        return OrderCancelled(envelope, draw(st.sampled_from(CancelReason)), customer_id=draw(customer_ids))
    if kind is StockReleaseRequested:
        return StockReleaseRequested(envelope)
    if kind is OrderStatusChanged:
        status = draw(st.sampled_from(OrderStatus))
        reason = draw(st.sampled_from(CancelReason)) if status is OrderStatus.CANCELLED else None
        return OrderStatusChanged(envelope, status, reason, customer_id=draw(customer_ids))
    shortages = st.builds(UnavailableLine, product_ids, quantities, st.sampled_from(Shortage), stock_levels)
    return StockReservationRejected(envelope, tuple(draw(st.lists(shortages, min_size=1, max_size=3))))
