"""The stock ledger: every cell of the table in docs/design.md, and the conservation law."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import strategies
from ordering_core import (
    EntryState,
    InvalidValue,
    LedgerEntry,
    Line,
    Shortage,
    StockChange,
    UnavailableLine,
    release,
    reserve,
)

RESERVED = LedgerEntry("o-1", EntryState.RESERVED, (Line("p-1", 2),))
REJECTED = LedgerEntry("o-1", EntryState.REJECTED)
RELEASED = LedgerEntry("o-1", EntryState.RELEASED, (Line("p-1", 2),))
TOMBSTONE = LedgerEntry("o-1", EntryState.RELEASED)


class TestReserve:
    def test_without_an_entry_takes_every_line_when_all_fit(self) -> None:
        outcome = reserve(None, "o-1", [Line("p-1", 2), Line("p-2", 5)], {"p-1": 2, "p-2": 9})

        assert outcome.changed
        assert outcome.entry == LedgerEntry("o-1", EntryState.RESERVED, (Line("p-1", 2), Line("p-2", 5)))
        assert outcome.stock_changes == (StockChange("p-1", -2), StockChange("p-2", -5))
        assert outcome.rejected == ()

    def test_without_an_entry_takes_nothing_when_any_line_does_not_fit(self) -> None:
        outcome = reserve(None, "o-1", [Line("p-1", 2), Line("p-2", 5)], {"p-1": 9, "p-2": 4})

        assert outcome.changed
        assert outcome.entry == LedgerEntry("o-1", EntryState.REJECTED)
        assert outcome.stock_changes == ()
        assert outcome.rejected == (UnavailableLine("p-2", 5, Shortage.INSUFFICIENT_STOCK, 4),)

    def test_rejects_a_line_for_a_product_the_stock_does_not_know(self) -> None:
        outcome = reserve(None, "o-1", [Line("p-9", 1)], {})

        assert outcome.rejected == (UnavailableLine("p-9", 1, Shortage.UNKNOWN_PRODUCT, 0),)

    def test_merges_lines_so_two_halves_cannot_both_fit_one_shelf(self) -> None:
        outcome = reserve(None, "o-1", [Line("p-1", 3), Line("p-1", 3)], {"p-1": 5})

        assert outcome.entry.state is EntryState.REJECTED
        assert outcome.rejected == (UnavailableLine("p-1", 6, Shortage.INSUFFICIENT_STOCK, 5),)

    @pytest.mark.parametrize(
        "entry",
        [RESERVED, REJECTED, RELEASED, TOMBSTONE],
        ids=["reserved", "rejected", "released", "tombstone"],
    )
    def test_with_an_entry_is_a_no_op(self, entry: LedgerEntry) -> None:
        outcome = reserve(entry, "o-1", [Line("p-1", 2)], {"p-1": 10})

        assert not outcome.changed
        assert outcome.entry == entry
        assert (outcome.stock_changes, outcome.rejected) == ((), ())


class TestRelease:
    def test_without_an_entry_leaves_a_tombstone_taking_nothing(self) -> None:
        outcome = release(None, "o-1")

        assert outcome.changed
        assert outcome.entry == TOMBSTONE
        assert outcome.stock_changes == ()

    def test_a_tombstone_makes_a_late_reservation_a_no_op(self) -> None:
        tombstone = release(None, "o-1").entry

        outcome = reserve(tombstone, "o-1", [Line("p-1", 1)], {"p-1": 10})

        assert not outcome.changed
        assert outcome.stock_changes == ()

    def test_a_reserved_entry_gives_back_exactly_what_was_taken(self) -> None:
        outcome = release(RESERVED, "o-1")

        assert outcome.changed
        assert outcome.entry == RELEASED
        assert outcome.stock_changes == (StockChange("p-1", 2),)

    @pytest.mark.parametrize(
        "entry", [REJECTED, RELEASED, TOMBSTONE], ids=["rejected", "released", "tombstone"]
    )
    def test_any_other_entry_is_a_no_op(self, entry: LedgerEntry) -> None:
        outcome = release(entry, "o-1")

        assert not outcome.changed
        assert outcome.entry == entry
        assert outcome.stock_changes == ()


class TestLedgerEntry:
    def test_refuses_a_reserved_entry_that_took_nothing(self) -> None:
        with pytest.raises(InvalidValue, match="taken must hold the taken lines of a reserved entry"):
            LedgerEntry("o-1", EntryState.RESERVED)

    def test_refuses_a_rejected_entry_that_took_something(self) -> None:
        with pytest.raises(InvalidValue, match="taken must be empty for a rejected entry"):
            LedgerEntry("o-1", EntryState.REJECTED, (Line("p-1", 1),))

    def test_only_a_reserved_entry_holds_stock(self) -> None:
        assert [entry.held for entry in (RESERVED, REJECTED, RELEASED)] == [(Line("p-1", 2),), (), ()]

    def test_reserve_refuses_the_entry_of_another_order(self) -> None:
        with pytest.raises(InvalidValue, match="order_id must be the ledger entry's order id 'o-1'"):
            reserve(RESERVED, "o-2", [Line("p-1", 1)], {"p-1": 5})

    def test_release_refuses_the_entry_of_another_order(self) -> None:
        with pytest.raises(InvalidValue, match="order_id must be the ledger entry's order id 'o-1'"):
            release(RESERVED, "o-2")

    def test_refuses_an_invalid_order_id(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            release(None, "no spaces")

        assert refused.value.field == "order_id"


class TestNewLevels:
    def test_applies_the_changes_to_the_levels_before(self) -> None:
        outcome = reserve(None, "o-1", [Line("p-1", 2)], {"p-1": 5, "p-2": 1})

        assert outcome.new_levels({"p-1": 5, "p-2": 1}) == {"p-1": 3}


operations = st.lists(
    st.tuples(st.sampled_from(["reserve", "release"]), strategies.order_ids, strategies.lines(max_size=3)),
    max_size=25,
)


@given(st.dictionaries(strategies.product_ids, strategies.stock_levels), operations)
def test_any_sequence_of_reserves_and_releases_conserves_stock_and_never_goes_below_zero(
    initial: dict[str, int], steps: list[tuple[str, str, list[Line]]]
) -> None:
    stock = dict(initial)
    ledger: dict[str, LedgerEntry] = {}
    applied: dict[tuple[str, str], int] = {}

    for kind, order_id, lines in steps:
        entry = ledger.get(order_id)
        outcome = reserve(entry, order_id, lines, stock) if kind == "reserve" else release(entry, order_id)
        stock.update(outcome.new_levels(stock))
        ledger[order_id] = outcome.entry
        if outcome.changed:
            applied[kind, order_id] = applied.get((kind, order_id), 0) + 1

        held = dict.fromkeys(initial, 0)
        for line in (line for entry in ledger.values() for line in entry.held):
            held[line.product_id] += line.quantity
        assert all(level >= 0 for level in stock.values())
        assert {pid: stock[pid] + held[pid] for pid in initial} == initial
        assert all(count == 1 for count in applied.values())  # each order reserved / released at most once
