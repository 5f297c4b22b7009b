"""The stock ledger: how `update-stock` and `restore-canceled-item` change stock, per order id.

The availability check is advisory; this ledger is the truth. It implements the table in docs/design.md:

    entry for the order | reserve (update-stock)                          | release (restore-canceled-item)
    --------------------+-------------------------------------------------+--------------------------------
    none                | all lines fit: take all, `reserved`;            | `released`, nothing taken
                        | any does not: take nothing, `rejected`          | (a tombstone: the cancel overtook
                        |                                                 |  the reservation, which must never apply)
    reserved            | no-op (duplicate)                               | give back what was taken, `released`
    rejected            | no-op                                           | no-op
    released            | no-op (late reservation of a cancelled order)   | no-op (duplicate)

Both are pure: they take the current entry (or None) and stock levels and return a `LedgerOutcome` (the entry
to store and the stock changes to apply); nothing is mutated. So stock never goes below zero, each order is
taken at most once and given back at most once, and for every product
    initial + restocked = stock + quantities held by `reserved` entries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

import attrs
from attrs import frozen

from ordering_core.availability import UnavailableLine, shortage_of
from ordering_core.errors import InvalidValue
from ordering_core.values import Line, merge_lines, require_id, require_member, require_tuple, rule


class EntryState(StrEnum):
    RESERVED = "reserved"
    REJECTED = "rejected"
    RELEASED = "released"


@frozen
class LedgerEntry:
    """What the ledger did for one order. `taken`: the lines taken (a released entry keeps what it gave back)."""

    order_id: str = attrs.field(validator=rule(require_id))
    state: EntryState = attrs.field(validator=rule(require_member(EntryState)))
    taken: tuple[Line, ...] = attrs.field(default=(), validator=rule(require_tuple))

    def __attrs_post_init__(self) -> None:
        if self.state is EntryState.RESERVED and not self.taken:
            raise InvalidValue("taken", "must hold the taken lines of a reserved entry", self.taken)
        if self.state is EntryState.REJECTED and self.taken:
            raise InvalidValue("taken", "must be empty for a rejected entry", self.taken)

    @property
    def held(self) -> tuple[Line, ...]:
        """The quantities this order keeps out of stock right now."""
        return self.taken if self.state is EntryState.RESERVED else ()


@frozen
class StockChange:
    """How much one product's stock moves: negative when taken, positive when given back."""

    product_id: str
    delta: int


@frozen
class LedgerOutcome:
    """The entry to store, whether it changed, the stock changes, and the lines that did not fit (if rejected)."""

    entry: LedgerEntry
    changed: bool
    stock_changes: tuple[StockChange, ...] = ()
    rejected: tuple[UnavailableLine, ...] = ()

    def new_levels(self, stock: Mapping[str, int]) -> dict[str, int]:
        """The stock level of each changed product after this outcome, from the levels before it."""
        return {change.product_id: stock[change.product_id] + change.delta for change in self.stock_changes}


def reserve(
    entry: LedgerEntry | None, order_id: str, lines: Iterable[Line], stock: Mapping[str, int]
) -> LedgerOutcome:
    """Take the order's lines out of `stock` (product id -> level; a missing id is an unknown product)."""
    _require_entry_of(entry, order_id)
    if entry is not None:
        return LedgerOutcome(entry, changed=False)
    wanted = merge_lines(lines)
    # All or nothing: judge every line before taking any, and report every line that does not fit.
    shortages = [shortage_of(line, stock.get(line.product_id)) for line in wanted]
    rejected = tuple(shortage for shortage in shortages if shortage is not None)
    if rejected:
        return LedgerOutcome(LedgerEntry(order_id, EntryState.REJECTED), changed=True, rejected=rejected)
    return LedgerOutcome(
        LedgerEntry(order_id, EntryState.RESERVED, wanted),
        changed=True,
        stock_changes=tuple(StockChange(line.product_id, -line.quantity) for line in wanted),
    )


def release(entry: LedgerEntry | None, order_id: str) -> LedgerOutcome:
    """Give back what the order took, or leave a tombstone so its reservation never applies."""
    _require_entry_of(entry, order_id)
    if entry is None:
        return LedgerOutcome(LedgerEntry(order_id, EntryState.RELEASED), changed=True)
    if entry.state is not EntryState.RESERVED:
        return LedgerOutcome(entry, changed=False)
    return LedgerOutcome(
        attrs.evolve(entry, state=EntryState.RELEASED),
        changed=True,
        stock_changes=tuple(StockChange(line.product_id, line.quantity) for line in entry.taken),
    )


def _require_entry_of(entry: LedgerEntry | None, order_id: str) -> None:
    require_id("order_id", order_id)
    if entry is not None and entry.order_id != order_id:
        raise InvalidValue("order_id", f"must be the ledger entry's order id {entry.order_id!r}", order_id)
