"""HttpProductCatalog: the Order Service asking the Product Service over HTTP, and every way that can fail.

The happy path runs the real Product Service app behind httpx's ASGI transport, so the request the catalog
sends and the answer it reads are the ones openapi.yaml describes. The failures use a dead port, a server
that never answers, and `httpx.MockTransport` for answers no correct Product Service gives.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import httpx
import pytest
from http_services import services

import identities
from adapters.http.bodies import MAX_QUESTIONS
from adapters.http.catalog import MAX_ASKED_ITEMS, HttpProductCatalog, product_service_transport
from adapters.memory.products import InMemoryProductUnitOfWork
from adapters.memory.views import InMemoryProductViews
from entrypoints import product_app
from ordering_core import CatalogUnavailable, Line, OrderLine, Product, Shortage, UnavailableLine
from ordering_core.ports import run_here
from ordering_core.values import MAX_QUANTITY

PEN = Product("pen", "Pen", Decimal("2.50"), 10)


def product_service(*products: Product) -> Transport:
    shelf = InMemoryProductUnitOfWork(products)
    app = product_app.create_app(
        uow=lambda: shelf,
        offload=run_here,
        views=InMemoryProductViews(shelf),
        verifier=identities.verifier(),
        new_id=lambda: "c",
        readiness={},
    )
    return Transport(httpx.ASGITransport(app=app))


class Transport(httpx.AsyncBaseTransport):
    """A transport that remembers being closed: the composition root owns the catalog's pool and closes it."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner
        self.closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        self.closed = True
        await self._inner.aclose()


def answering(status: int, body: Any) -> Transport:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, bytes):
            return httpx.Response(status, content=body)
        return httpx.Response(status, json=body)

    return Transport(httpx.MockTransport(handler))


def check(transport: httpx.AsyncBaseTransport, *lines: Line, base_url: str = "http://product",
          timeout_s: float = 2.0) -> Any:
    async def ask() -> Any:
        async with transport:
            return await HttpProductCatalog(base_url, transport, timeout_s=timeout_s).check(lines)

    return asyncio.run(ask())


def closing(transport: httpx.AsyncBaseTransport) -> Any:
    """A lifespan that closes the transport when the app stops: how a composition root owns its one pool."""

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        async with transport:
            yield

    return lifespan


@pytest.fixture
def hanging_up_server() -> Iterator[str]:
    """A server that accepts each connection and closes it without a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def hang_up() -> None:
        with listener:
            while True:
                try:
                    connection, _ = listener.accept()
                except OSError:  # the listener was closed: the test is over
                    return
                connection.close()

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.shutdown(socket.SHUT_RDWR)
    listener.close()
    thread.join(5)


@pytest.fixture
def dead_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # closed again: nothing listens there


class TestAnswers:
    def test_reads_the_product_services_answer_into_priced_and_unavailable_lines(self) -> None:
        availability = check(product_service(PEN), Line("pen", 2), Line("nib", 1))

        assert availability.lines == (
            OrderLine("pen", 2, Decimal("2.50")),
            UnavailableLine("nib", 1, Shortage.UNKNOWN_PRODUCT, 0),
        )

    def test_asks_once_per_order_with_the_lines_as_items(self) -> None:
        requests: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            requests.append(request)
            return httpx.Response(
                200,
                json={
                    "available": True,
                    "items": [{"product_id": "pen", "quantity": 2, "available": True, "unit_price": "2.50"}],
                },
            )

        check(httpx.MockTransport(handler), Line("pen", 2), base_url="http://p")

        assert [(r.method, r.url.path) for r in requests] == [("POST", "/products/availability")]
        assert requests[0].content == b'{"items":[{"product_id":"pen","quantity":2}]}'

    def test_an_order_placed_through_http_gets_the_product_services_prices(self) -> None:
        transport = product_service(PEN)
        system = services(catalog=HttpProductCatalog("http://product", transport), lifespan=closing(transport))

        with system.order:  # runs the lifespan, and one event loop serves every request, as in a server
            placed = system.order.post(
                "/orders/order", json={"items": [{"product_id": "pen", "quantity": 4}]}
            )
            refused = system.order.post(
                "/orders/order", json={"items": [{"product_id": "pen", "quantity": 11}]}
            )

        assert transport.closed
        assert (placed.status_code, placed.json()["total"]) == (201, "10.00")
        assert (refused.status_code, refused.json()["items"][0]["in_stock"]) == (409, 10)


# The failures read the same whichever transport the catalog has: httpx's own pool, and the one the Order
# Service uses (product_service_transport).
transports = pytest.mark.parametrize(
    "transport_for", [httpx.AsyncHTTPTransport, product_service_transport], ids=["httpx-pool", "order-service-pool"]
)


class TestNoAnswer:
    @transports
    def test_a_product_service_that_is_down_is_unavailable(self, dead_port: str, transport_for) -> None:
        with pytest.raises(CatalogUnavailable, match=r"could not reach it \(ConnectError"):
            check(transport_for(), Line("pen", 1), base_url=dead_port, timeout_s=1.0)

    @transports
    def test_a_product_service_that_hangs_up_is_unavailable(self, hanging_up_server: str, transport_for) -> None:
        with pytest.raises(CatalogUnavailable, match="could not reach it"):
            check(transport_for(), Line("pen", 1), base_url=hanging_up_server, timeout_s=1.0)

    @transports
    def test_a_product_service_slower_than_the_timeout_is_unavailable(
        self, silent_server: str, transport_for
    ) -> None:
        with pytest.raises(CatalogUnavailable, match=r"no answer in time \(ReadTimeout\)"):
            check(transport_for(), Line("pen", 1), base_url=silent_server, timeout_s=0.2)

    def test_the_order_service_answers_503_and_stores_nothing_when_the_product_service_is_down(
        self, dead_port: str
    ) -> None:
        transport = product_service_transport()
        system = services(
            catalog=HttpProductCatalog(dead_port, transport, timeout_s=1.0), lifespan=closing(transport)
        )

        with system.order:
            answer = system.order.post(
                "/orders/order", json={"items": [{"product_id": "pen", "quantity": 1}]}
            )

        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "2"
        assert system.orders.orders.orders == {}
        assert system.orders.events.published == []

    @pytest.mark.parametrize("status", [500, 503, 422, 404])
    def test_any_status_but_200_is_unavailable(self, status: int) -> None:
        with pytest.raises(CatalogUnavailable, match=f"it answered {status}"):
            check(answering(status, {"type": "/problems/x"}), Line("pen", 1))


ONE_PEN_ASKED = [Line("pen", 2)]


def available_pen(**changes: Any) -> dict[str, Any]:
    return {"product_id": "pen", "quantity": 2, "available": True, "unit_price": "2.50", **changes}


class TestAnswersNoCorrectProductServiceGives:
    @pytest.mark.parametrize(
        ("body", "why"),
        [
            (b"<html>", "body is not JSON"),
            ({"available": True}, "items is required"),
            ({"available": True, "items": [available_pen(quantity=3)]}, "must answer the items asked"),
            ({"available": True, "items": []}, "must answer the items asked"),
            (
                {"available": True, "items": [available_pen(unit_price=None)]},
                "an available item has a unit_price",
            ),
            (
                {"available": True, "items": [available_pen(available=False)]},
                "an available item has a unit_price",
            ),
            ({"available": False, "items": [available_pen()]}, "available must be true exactly when"),
            (
                {"available": True, "items": [available_pen(unit_price=2.5)]},
                "items[0].unit_price must be a decimal",
            ),
            ({"available": "yes", "items": [available_pen()]}, "available must be true or false"),
            (
                {
                    "available": False,
                    "items": [available_pen(available=False, unit_price=None, reason="gone", in_stock=0)],
                },
                "items[0].reason must be one of 'unknown_product', 'insufficient_stock'",
            ),
        ],
        ids=[
            "html",
            "no items",
            "other quantity",
            "no lines",
            "no price",
            "unavailable without reason",
            "inconsistent flag",
            "float price",
            "string flag",
            "unknown reason",
        ],
    )
    def test_is_unavailable_and_says_what_is_wrong(self, body: Any, why: str) -> None:
        with pytest.raises(CatalogUnavailable) as refused:
            check(answering(200, body), *ONE_PEN_ASKED)

        assert why in refused.value.reason


def check_all(transport: httpx.AsyncBaseTransport, *questions: list[Line]) -> Any:
    async def ask() -> Any:
        async with transport:
            return await HttpProductCatalog("http://product", transport).check_all(questions)

    return asyncio.run(ask())


class TestSeveralOrdersInOneRequest:
    def test_each_question_is_answered_as_asking_it_alone_would(self) -> None:
        questions = [[Line("pen", 2), Line("nib", 1)], [Line("pen", 11)], [Line("pen", 10)]]

        answers = check_all(product_service(PEN), *questions)

        assert answers == [check(product_service(PEN), *lines) for lines in questions]
        assert [answer.is_ok for answer in answers] == [False, False, True]

    def test_asks_in_one_request_with_each_questions_lines_as_items(self) -> None:
        requests: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            requests.append(request)
            pen = {"product_id": "pen", "quantity": 2, "available": True, "unit_price": "2.50"}
            return httpx.Response(200, json={"answers": [{"available": True, "items": [pen]}] * 2})

        check_all(httpx.MockTransport(handler), [Line("pen", 2)], [Line("pen", 2)])

        assert [(r.method, r.url.path) for r in requests] == [("POST", "/products/availability/batch")]
        assert requests[0].content == (
            b'{"questions":[{"items":[{"product_id":"pen","quantity":2}]},'
            b'{"items":[{"product_id":"pen","quantity":2}]}]}'
        )

    def test_the_largest_request_it_is_sent_fits_the_product_services_limit(self) -> None:
        # 100 questions of 500 lines in all, each with the longest id and the largest quantity.
        long_ids = [f"{n:064d}" for n in range(5)]
        questions = [[Line(product_id, MAX_QUANTITY) for product_id in long_ids]] * MAX_QUESTIONS
        assert sum(map(len, questions)) == MAX_ASKED_ITEMS

        answers = check_all(product_service(PEN), *questions)

        assert len(answers) == MAX_QUESTIONS
        assert answers[0].failures[0] == UnavailableLine(long_ids[0], MAX_QUANTITY, Shortage.UNKNOWN_PRODUCT, 0)

    @pytest.mark.parametrize(
        ("answers", "why"),
        [
            ([], "answers must answer each question asked, in order"),
            ([{"available": True, "items": [available_pen()]}] * 3, "must answer each question asked"),
            ([{"available": True, "items": [available_pen(quantity=3)]}] * 2, "must answer the items asked"),
        ],
        ids=["none", "one too many", "another question's"],
    )
    def test_an_answer_that_is_not_one_per_question_asked_is_unavailable(self, answers: Any, why: str) -> None:
        with pytest.raises(CatalogUnavailable) as refused:
            check_all(answering(200, {"answers": answers}), ONE_PEN_ASKED, ONE_PEN_ASKED)

        assert why in refused.value.reason
