"""Micro-benchmarks of what every order runs through: availability, the stock ledger, placing, the codec.

`make test` runs each once, untimed (`--benchmark-disable`), as a test of its result; `make bench` times them
(bench/run_bench.py runs `pytest tests/benchmarks --benchmark-enable`) and prints each next to the baseline
below, run in the same command, so a slower machine does not look like a regression. Nothing here fails on
time: a regression shows as a larger ratio in BENCHMARKS.md, not as a red test on a noisy machine.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from adapters.wire.codec import decode, encode
from ordering_core import Envelope, Line, Order, OrderCreated, Product, StockReservationRequested
from ordering_core.availability import Shortage, availability_of
from ordering_core.stock import EntryState, release, reserve
from ordering_core.values import merge_lines

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CUSTOMER = "auth0|5f7c8ec7"  # a token subject as Auth0 writes it
PRODUCTS = {f"B{n:02d}": Product(f"B{n:02d}", f"bench {n}", Decimal("1.00"), 100_000) for n in range(20)}
STOCK = {product_id: product.stock for product_id, product in PRODUCTS.items()}
TWO_LINES = (Line("B00", 1), Line("B01", 1))  # what bench/run_bench.py orders
TWENTY_LINES = tuple(Line(f"B{n % 10:02d}", 1 + n % 3) for n in range(20))  # ten products, each twice
REQUEST = {"items": [{"product_id": "B00", "quantity": 1}, {"product_id": "B01", "quantity": 1}]}


def test_baseline_json_dumps_of_an_order_request(benchmark):
    """The yardstick: every figure in BENCHMARKS.md's micro table is a multiple of this one."""
    text = benchmark(json.dumps, REQUEST)

    assert json.loads(text) == REQUEST


class TestAvailability:
    def test_a_two_line_order_against_twenty_products(self, benchmark):
        availability = benchmark(availability_of, TWO_LINES, PRODUCTS)

        assert availability.is_ok
        assert [line.unit_price for line in availability.order_lines] == [Decimal("1.00")] * 2

    def test_a_twenty_line_order_is_merged_then_judged(self, benchmark):
        availability = benchmark(availability_of, TWENTY_LINES, PRODUCTS)

        assert availability.is_ok
        assert len(availability.order_lines) == 10

    def test_an_order_that_does_not_fit_says_which_lines_fail(self, benchmark):
        products = {**PRODUCTS, "B01": Product("B01", "almost gone", Decimal("1.00"), 3)}
        lines = (Line("B00", 1), Line("B01", 5), Line("NOPE", 1))

        availability = benchmark(availability_of, lines, products)

        assert [(f.product_id, f.reason) for f in availability.failures] == [
            ("B01", Shortage.INSUFFICIENT_STOCK),
            ("NOPE", Shortage.UNKNOWN_PRODUCT),
        ]


class TestStockLedger:
    def test_reserving_a_two_line_order_and_the_new_levels(self, benchmark):
        def reserve_and_level():
            outcome = reserve(None, "order-1", TWO_LINES, STOCK)
            return outcome, outcome.new_levels(STOCK)

        outcome, levels = benchmark(reserve_and_level)

        assert outcome.entry.state is EntryState.RESERVED
        assert levels == {"B00": 99_999, "B01": 99_999}

    def test_a_reservation_delivered_again_changes_nothing(self, benchmark):
        entry = reserve(None, "order-1", TWO_LINES, STOCK).entry

        outcome = benchmark(reserve, entry, "order-1", TWO_LINES, STOCK)

        assert not outcome.changed

    def test_releasing_a_reservation_gives_its_stock_back(self, benchmark):
        entry = reserve(None, "order-1", TWO_LINES, STOCK).entry

        outcome = benchmark(release, entry, "order-1")

        assert outcome.entry.state is EntryState.RELEASED
        assert outcome.new_levels(STOCK) == {"B00": 100_001, "B01": 100_001}

    def test_merging_twenty_request_lines(self, benchmark):
        merged = benchmark(merge_lines, TWENTY_LINES)

        assert [line.product_id for line in merged] == [f"B{n:02d}" for n in range(10)]


class TestPlacingAndEncoding:
    def test_placing_an_order_from_its_available_lines(self, benchmark):
        lines = availability_of(TWO_LINES, PRODUCTS).order_lines

        order = benchmark(Order.place, "order-1", lines, NOW, customer_id=CUSTOMER)

        assert order.total == Decimal("2.00")
        assert order.customer_id == CUSTOMER

    @pytest.mark.parametrize("kind", ["create-order", "update-stock"])
    def test_encoding_and_decoding_an_order_s_event(self, benchmark, kind):
        envelope = Envelope("message-1", NOW, "order-1", "correlation-1")
        if kind == "create-order":
            lines = availability_of(TWO_LINES, PRODUCTS).order_lines
            event = OrderCreated(envelope, lines, Decimal("2.00"), customer_id=CUSTOMER)
        else:
            event = StockReservationRequested(envelope, TWO_LINES)

        def round_trip():
            encoded = encode(event)
            return decode(encoded.topic, encoded.value, key=encoded.key)

        assert benchmark(round_trip) == event
