"""Product Service use cases, run against the in-memory adapters."""

from __future__ import annotations

from decimal import Decimal

import pytest

from adapters.memory.products import InMemoryProductUnitOfWork
from ordering_core import (
    EntryState,
    InvalidValue,
    LedgerEntry,
    LedgerOutcome,
    Line,
    Product,
    ProductPut,
    Shortage,
    StockNotEditable,
    StockReleaseRequested,
    StockReservationRejected,
    StockReservationRequested,
    UnavailableLine,
    UnknownProduct,
    apply_stock_release,
    apply_stock_reservation,
    check_availabilities,
    check_availability,
    put_product,
    restock,
)

from .examples import NOW, Ids, product, release_requested, reservation_requested


def stock_of(uow: InMemoryProductUnitOfWork, product_id: str) -> int:
    return uow.products.products[product_id].stock


def apply_reservation(
    uow: InMemoryProductUnitOfWork, event: StockReservationRequested
) -> LedgerOutcome | None:
    return apply_stock_reservation(event, uow=uow, new_id=Ids("m"), now=NOW)


def apply_release(uow: InMemoryProductUnitOfWork, event: StockReleaseRequested) -> LedgerOutcome | None:
    return apply_stock_release(event, uow=uow)


class TestCheckAvailability:
    def test_answers_from_the_stored_products(self) -> None:
        uow = InMemoryProductUnitOfWork([product("p-1", stock=3)])

        availability = check_availability([Line("p-1", 2), Line("p-1", 2)], uow=uow)

        assert availability.failures == (UnavailableLine("p-1", 4, Shortage.INSUFFICIENT_STOCK, 3),)

    def test_changes_nothing(self) -> None:
        uow = InMemoryProductUnitOfWork([product("p-1", stock=3)])

        check_availability([Line("p-1", 1)], uow=uow)

        assert uow.commits == 0
        assert stock_of(uow, "p-1") == 3


class TestCheckAvailabilities:
    def test_answers_each_question_as_check_availability_does_in_the_order_asked(self) -> None:
        uow = InMemoryProductUnitOfWork([product("p-1", stock=3), product("p-2", stock=1)])
        questions = [[Line("p-1", 2), Line("p-1", 2)], [Line("p-2", 1), Line("p-9", 1)], [Line("p-1", 3)]]

        answers = check_availabilities(questions, uow=uow)

        assert answers == [check_availability(lines, uow=uow) for lines in questions]
        assert [answer.is_ok for answer in answers] == [False, False, True]

    def test_reads_the_stock_once_for_every_question(self) -> None:
        uow = InMemoryProductUnitOfWork([product("p-1", stock=3), product("p-2", stock=1)])
        reads: list[list[str]] = []
        get_many = uow.products.get_many
        uow.products.get_many = lambda ids: reads.append(list(ids)) or get_many(reads[-1])  # type: ignore[method-assign]

        check_availabilities([[Line("p-1", 1)], [Line("p-2", 1), Line("p-1", 1)], [Line("p-9", 1)]], uow=uow)

        assert reads == [["p-1", "p-2", "p-9"]]

    def test_judges_each_question_on_its_own_and_changes_nothing(self) -> None:
        uow = InMemoryProductUnitOfWork([product("p-1", stock=3)])

        answers = check_availabilities([[Line("p-1", 3)], [Line("p-1", 3)]], uow=uow)

        assert [answer.is_ok for answer in answers] == [True, True]
        assert uow.commits == 0
        assert stock_of(uow, "p-1") == 3


class TestApplyStockReservation:
    def test_takes_the_lines_out_of_stock(self) -> None:
        uow = InMemoryProductUnitOfWork([product("p-1", stock=5), product("p-2", stock=2)])

        outcome = apply_reservation(uow, reservation_requested("o-1", Line("p-1", 3), Line("p-2", 2)))

        assert outcome is not None and outcome.entry.state is EntryState.RESERVED
        assert (stock_of(uow, "p-1"), stock_of(uow, "p-2")) == (2, 0)
        assert uow.ledger.entry_for("o-1") == outcome.entry
        assert uow.events.published == []

    def test_takes_nothing_and_announces_the_rejection_when_a_line_does_not_fit(self) -> None:
        uow = InMemoryProductUnitOfWork([product("p-1", stock=5), product("p-2", stock=1)])
        request = reservation_requested("o-1", Line("p-1", 3), Line("p-2", 2))

        apply_reservation(uow, request)

        assert (stock_of(uow, "p-1"), stock_of(uow, "p-2")) == (5, 1)
        assert uow.ledger.entry_for("o-1") == LedgerEntry("o-1", EntryState.REJECTED)
        [rejection] = uow.events.published
        assert isinstance(rejection, StockReservationRejected)
        assert rejection.lines == (UnavailableLine("p-2", 2, Shortage.INSUFFICIENT_STOCK, 1),)
        assert (rejection.envelope.order_id, rejection.envelope.causation_id) == (
            "o-1",
            request.envelope.message_id,
        )
        assert rejection.envelope.correlation_id == request.envelope.correlation_id

    def test_rejects_a_reservation_naming_an_unknown_product(self) -> None:
        uow = InMemoryProductUnitOfWork([product("p-1", stock=5)])

        apply_reservation(uow, reservation_requested("o-1", Line("p-1", 1), Line("p-9", 1)))

        [rejection] = uow.events.published
        assert isinstance(rejection, StockReservationRejected)
        assert rejection.lines == (UnavailableLine("p-9", 1, Shortage.UNKNOWN_PRODUCT, 0),)
        assert stock_of(uow, "p-1") == 5

    def test_a_duplicate_message_changes_nothing(self) -> None:
        uow = InMemoryProductUnitOfWork([product("p-1", stock=5)])
        request = reservation_requested("o-1", Line("p-1", 3))
        apply_reservation(uow, request)

        again = apply_reservation(uow, request)

        assert again is None
        assert stock_of(uow, "p-1") == 2
        assert uow.commits == 1

    def test_a_second_request_for_the_same_order_takes_nothing_more(self) -> None:
        uow = InMemoryProductUnitOfWork([product("p-1", stock=5)])
        apply_reservation(uow, reservation_requested("o-1", Line("p-1", 3)))

        outcome = apply_reservation(uow, reservation_requested("o-1", Line("p-1", 3)))

        assert outcome is not None and not outcome.changed
        assert stock_of(uow, "p-1") == 2

    def test_a_reservation_arriving_after_the_release_never_applies(self) -> None:
        uow = InMemoryProductUnitOfWork([product("p-1", stock=5)])
        apply_release(uow, release_requested("o-1"))

        apply_reservation(uow, reservation_requested("o-1", Line("p-1", 3)))

        assert stock_of(uow, "p-1") == 5
        assert uow.ledger.entry_for("o-1") == LedgerEntry("o-1", EntryState.RELEASED)


class TestApplyStockRelease:
    def test_gives_back_what_the_order_took(self) -> None:
        uow = InMemoryProductUnitOfWork([product("p-1", stock=5)])
        apply_reservation(uow, reservation_requested("o-1", Line("p-1", 3)))

        outcome = apply_release(uow, release_requested("o-1"))

        assert outcome is not None and outcome.entry.state is EntryState.RELEASED
        assert stock_of(uow, "p-1") == 5

    def test_gives_back_only_once_for_two_release_messages(self) -> None:
        uow = InMemoryProductUnitOfWork([product("p-1", stock=5)])
        apply_reservation(uow, reservation_requested("o-1", Line("p-1", 3)))
        apply_release(uow, release_requested("o-1"))

        apply_release(uow, release_requested("o-1"))

        assert stock_of(uow, "p-1") == 5

    def test_a_duplicate_message_changes_nothing(self) -> None:
        uow = InMemoryProductUnitOfWork([product("p-1", stock=5)])
        release = release_requested("o-1")
        apply_release(uow, release)

        again = apply_release(uow, release)

        assert again is None
        assert uow.commits == 1

    def test_gives_nothing_back_for_a_rejected_reservation(self) -> None:
        uow = InMemoryProductUnitOfWork([product("p-1", stock=1)])
        apply_reservation(uow, reservation_requested("o-1", Line("p-1", 3)))

        outcome = apply_release(uow, release_requested("o-1"))

        assert outcome is not None and not outcome.changed
        assert stock_of(uow, "p-1") == 1


class TestRestock:
    def test_adds_to_the_stock(self) -> None:
        uow = InMemoryProductUnitOfWork([product("p-1", stock=1)])

        restocked = restock("p-1", 4, uow=uow)

        assert restocked.stock == 5
        assert stock_of(uow, "p-1") == 5

    def test_refuses_an_unknown_product(self) -> None:
        with pytest.raises(UnknownProduct, match="'p-9'"):
            restock("p-9", 4, uow=InMemoryProductUnitOfWork())

    def test_refuses_an_invalid_quantity_and_changes_nothing(self) -> None:
        uow = InMemoryProductUnitOfWork([product("p-1", stock=1)])

        with pytest.raises(InvalidValue, match="quantity must be an integer from 1 to 10000"):
            restock("p-1", 0, uow=uow)

        assert stock_of(uow, "p-1") == 1


class TestPutProduct:
    def test_creates_a_product_with_no_stock(self) -> None:
        uow = InMemoryProductUnitOfWork()

        put = put_product("p-1", "Tea", Decimal("2.50"), uow=uow)

        assert put == ProductPut(Product("p-1", "Tea", Decimal("2.50"), stock=0), created=True)
        assert uow.products.products == {"p-1": put.product}

    def test_renames_and_reprices_an_existing_product_keeping_its_stock(self) -> None:
        uow = InMemoryProductUnitOfWork([product("p-1", stock=7)])

        put = put_product("p-1", "Green tea", Decimal("3.00"), uow=uow)

        updated = put.product
        assert (updated.name, updated.price, updated.stock, put.created) == (
            "Green tea",
            Decimal("3.00"),
            7,
            False,
        )
        assert uow.products.products["p-1"] == updated

    def test_creates_a_product_with_its_initial_stock_in_one_unit_of_work(self) -> None:
        uow = InMemoryProductUnitOfWork()

        put = put_product("p-1", "Tea", Decimal("2.50"), stock=12, uow=uow)

        assert put == ProductPut(Product("p-1", "Tea", Decimal("2.50"), stock=12), created=True)
        assert uow.commits == 1

    def test_repeating_the_creating_request_with_the_same_stock_changes_nothing_but_the_description(
        self,
    ) -> None:
        uow = InMemoryProductUnitOfWork([product("p-1", stock=12)])

        again = put_product("p-1", "Tea", Decimal("2.50"), stock=12, uow=uow)

        assert (again.product.stock, again.created) == (12, False)

    def test_refuses_another_stock_for_an_existing_product_and_changes_nothing(self) -> None:
        uow = InMemoryProductUnitOfWork([product("p-1", stock=7)])
        before = uow.products.products["p-1"]

        with pytest.raises(StockNotEditable) as refused:
            put_product("p-1", "Green tea", Decimal("3.00"), stock=50, uow=uow)

        assert (refused.value.stock, refused.value.asked) == (7, 50)
        assert uow.products.products["p-1"] == before
        assert uow.commits == 0

    @pytest.mark.parametrize("stock", [-1, 10_001, True, 2.0])
    def test_refuses_an_initial_stock_outside_what_one_restock_may_add(self, stock: object) -> None:
        uow = InMemoryProductUnitOfWork()

        with pytest.raises(InvalidValue) as refused:
            put_product("p-1", "Tea", Decimal(1), stock=stock, uow=uow)  # type: ignore[arg-type]

        assert refused.value.field == "stock"
        assert uow.products.products == {}

    @pytest.mark.parametrize(
        ("product_id", "name", "price", "field"),
        [
            ("p 1", "Tea", Decimal(1), "product_id"),
            ("p-1", "", Decimal(1), "name"),
            ("p-1", "Tea", 1.0, "price"),
        ],
    )
    def test_refuses_an_invalid_field_and_stores_nothing(
        self, product_id: str, name: str, price: Decimal, field: str
    ) -> None:
        uow = InMemoryProductUnitOfWork()

        with pytest.raises(InvalidValue) as refused:
            put_product(product_id, name, price, uow=uow)

        assert refused.value.field == field
        assert uow.commits == 0
