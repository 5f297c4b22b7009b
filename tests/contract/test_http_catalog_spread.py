"""SpreadProductCatalog: the Order Service asking several Product Service instances in turn.

Each instance here is the real Product Service app behind a transport the test can switch off, so a down
instance refuses the connection exactly as httpx reports it (`httpx.ConnectError`) and every attempt to
reach it is counted. The clock is a fake the test moves: the skip window passes without sleeping. A dead
port, a server that never answers and a real HTTP server on 127.0.0.1 show the same through real sockets
and the pool the Order Service uses (`spread_product_catalog`).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

import identities
from adapters.http.catalog import (
    HttpProductCatalog,
    SpreadProductCatalog,
    product_service_transport,
    spread_product_catalog,
)
from adapters.memory.products import InMemoryProductUnitOfWork
from adapters.memory.views import InMemoryProductViews
from entrypoints import product_app
from ordering_core import CatalogUnavailable, Line, OrderLine, Product
from ordering_core.ports import run_here

PEN = Product("pen", "Pen", Decimal("2.50"), 10)
SKIP_S = 1.0


class Clock:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Instance(httpx.AsyncBaseTransport):
    """One Product Service instance: the real app, unless the test takes it down, when it refuses every
    connection. `attempts` counts every connection tried, refused or not."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.up = True
        self.attempts = 0
        shelf = InMemoryProductUnitOfWork([PEN])
        self._app = httpx.ASGITransport(
            app=product_app.create_app(
                uow=lambda: shelf,
                offload=run_here,
                views=InMemoryProductViews(shelf),
                verifier=identities.verifier(),
                new_id=lambda: "c",
                readiness={},
            )
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.attempts += 1
        if not self.up:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return await self._app.handle_async_request(request)

    def catalog(self) -> HttpProductCatalog:
        return HttpProductCatalog(f"http://{self.name}", self)


def spread(*instances: Instance, clock: Clock | None = None) -> SpreadProductCatalog:
    return SpreadProductCatalog(
        [instance.catalog() for instance in instances], skip_s=SKIP_S, clock=clock or Clock()
    )


def answered(catalog: SpreadProductCatalog | HttpProductCatalog, calls: int) -> list[Any]:
    """The outcome of `calls` checks of one pen, one after the other: the availability, or the error."""

    async def ask() -> list[Any]:
        outcomes: list[Any] = []
        for _ in range(calls):
            try:
                outcomes.append(await catalog.check([Line("pen", 1)]))
            except CatalogUnavailable as error:
                outcomes.append(error)
        return outcomes

    return asyncio.run(ask())


ONE_PEN = OrderLine("pen", 1, Decimal("2.50"))


class TestTakingTurns:
    def test_calls_alternate_between_the_instances(self) -> None:
        a, b = Instance("a"), Instance("b")

        outcomes = answered(spread(a, b), 6)

        assert [o.lines for o in outcomes] == [(ONE_PEN,)] * 6
        assert (a.attempts, b.attempts) == (3, 3)

    def test_the_product_list_takes_turns_too(self) -> None:
        a, b = Instance("a"), Instance("b")
        catalog = spread(a, b)

        async def ask_twice() -> list[list[Product]]:
            return [await catalog.products(), await catalog.products()]

        lists = asyncio.run(ask_twice())

        assert lists == [[PEN], [PEN]]
        assert (a.attempts, b.attempts) == (1, 1)

    def test_questions_asked_at_once_go_to_one_instance_in_one_request(self) -> None:
        a, b = Instance("a"), Instance("b")
        catalog = spread(a, b)

        async def ask_at_once() -> list[Any]:
            return await asyncio.gather(*(catalog.check([Line("pen", n)]) for n in (1, 2, 3, 4)))

        outcomes = asyncio.run(ask_at_once())

        assert [o.lines[0].quantity for o in outcomes] == [1, 2, 3, 4]
        assert (a.attempts, b.attempts) == (1, 0)

    def test_concurrent_requests_go_to_different_instances(self) -> None:
        a, b = Instance("a"), Instance("b")
        catalog = spread(a, b)

        async def two_requests_at_once() -> list[Any]:
            return await asyncio.gather(*(catalog.check_all([[Line("pen", 1)], [Line("pen", 2)]]) for _ in range(2)))

        asyncio.run(two_requests_at_once())

        assert (a.attempts, b.attempts) == (1, 1)


class TestAnInstanceThatRefuses:
    def test_every_call_is_answered_by_the_others(self) -> None:
        a, b = Instance("a"), Instance("b")
        a.up = False

        outcomes = answered(spread(a, b), 4)

        assert [o.lines for o in outcomes] == [(ONE_PEN,)] * 4
        assert b.attempts == 4

    def test_is_not_tried_again_within_the_skip_window(self) -> None:
        a, b = Instance("a"), Instance("b")
        a.up = False
        clock = Clock()
        catalog = spread(a, b, clock=clock)

        answered(catalog, 1)
        clock.advance(SKIP_S - 0.01)
        answered(catalog, 4)

        assert a.attempts == 1

    def test_is_tried_again_once_the_skip_window_has_passed(self) -> None:
        a, b = Instance("a"), Instance("b")
        a.up = False
        clock = Clock()
        catalog = spread(a, b, clock=clock)
        answered(catalog, 2)
        a.up = True

        clock.advance(SKIP_S)
        answered(catalog, 4)

        assert (a.attempts, b.attempts) == (1 + 2, 2 + 2)

    def test_the_instances_still_up_share_its_turns_evenly(self) -> None:
        a, b, c = Instance("a"), Instance("b"), Instance("c")
        a.up = False

        answered(spread(a, b, c), 6)

        assert (a.attempts, b.attempts, c.attempts) == (1, 3, 3)

    def test_a_skipped_instance_is_still_tried_when_every_other_refuses(self) -> None:
        a, b = Instance("a"), Instance("b")
        a.up = False
        catalog = spread(a, b)
        answered(catalog, 1)  # a refused: skipped; b answered
        a.up, b.up = True, False

        outcomes = answered(catalog, 1)

        assert [o.lines for o in outcomes] == [(ONE_PEN,)]
        assert (a.attempts, b.attempts) == (2, 2)

    def test_when_every_instance_is_skipped_they_are_still_tried(self) -> None:
        a, b = Instance("a"), Instance("b")
        a.up = b.up = False
        catalog = spread(a, b)
        answered(catalog, 1)  # both refused: both skipped
        a.up = True

        outcomes = answered(catalog, 1)

        assert [o.lines for o in outcomes] == [(ONE_PEN,)]


class TestEveryInstanceRefuses:
    def test_is_unavailable_naming_every_instance(self) -> None:
        a, b = Instance("a"), Instance("b")
        a.up = b.up = False

        outcome = answered(spread(a, b), 1)[0]

        assert outcome.reason == "every Product Service instance refused the connection (http://a, http://b)"
        assert (a.attempts, b.attempts) == (1, 1)

    def test_through_real_sockets_the_dead_ports_are_named(self, dead_ports: list[str]) -> None:
        catalog, transports = spread_product_catalog(dead_ports, 1.0)

        outcome = answered_then_closed(catalog, transports)

        assert isinstance(outcome, CatalogUnavailable)
        everyone = ", ".join(dead_ports)
        assert outcome.reason == f"every Product Service instance refused the connection ({everyone})"


class TestNoAnswerIsNotAskedElsewhere:
    """A timeout may be a slow instance, and a bad answer may follow a request that was read: the Order
    Service answers 503 and the client decides, as with one instance."""

    def test_a_timeout_is_raised_and_the_next_instance_is_not_asked(self, silent_server: str) -> None:
        slow = product_service_transport()
        b = Instance("b")
        catalog = SpreadProductCatalog([HttpProductCatalog(silent_server, slow, timeout_s=0.2), b.catalog()])

        async def ask_then_close() -> Any:
            try:
                return await catalog.check([Line("pen", 1)])
            except CatalogUnavailable as error:
                return error
            finally:
                await slow.aclose()

        outcome = asyncio.run(ask_then_close())

        assert isinstance(outcome, CatalogUnavailable)
        assert "no answer in time (ReadTimeout)" in outcome.reason
        assert b.attempts == 0

    def test_a_bad_answer_is_raised_and_the_next_instance_is_not_asked(self) -> None:
        broken = HttpProductCatalog("http://broken", httpx.MockTransport(lambda _: httpx.Response(500)))
        b = Instance("b")

        outcome = answered(SpreadProductCatalog([broken, b.catalog()]), 1)[0]

        assert outcome.reason == "it answered 500 to /products/availability/batch"
        assert b.attempts == 0


class TestOneInstance:
    def test_a_refusal_reads_exactly_as_httpproductcatalogs(self) -> None:
        a = Instance("a")
        a.up = False

        alone, spread_over_one = answered(a.catalog(), 1)[0], answered(spread(a), 1)[0]

        assert spread_over_one.reason == alone.reason
        assert isinstance(spread_over_one.__cause__, httpx.ConnectError)

    def test_is_asked_every_time_even_after_refusing(self) -> None:
        a = Instance("a")
        a.up = False

        answered(spread(a), 3)

        assert a.attempts == 3

    def test_a_spread_over_no_instance_cannot_be_made(self) -> None:
        with pytest.raises(ValueError, match="at least one Product Service instance"):
            SpreadProductCatalog([])


class TestWiring:
    def test_one_pool_per_url_asks_the_live_instance_past_a_dead_one(
        self, dead_ports: list[str], product_list_server: str
    ) -> None:
        urls = [dead_ports[0], product_list_server]
        catalog, transports = spread_product_catalog(urls, 1.0)

        async def ask_then_close() -> tuple[list[list[Product]], str | None]:
            try:
                return [await catalog.products() for _ in range(3)], await catalog.health()
            finally:
                for transport in transports:
                    await transport.aclose()

        lists, health = asyncio.run(ask_then_close())

        assert len(transports) == 2 and transports[0] is not transports[1]
        assert lists == [[PEN]] * 3
        assert health is None  # one instance answers: the Order Service is ready

    def test_health_says_of_each_instance_why_it_does_not_answer(self, dead_ports: list[str]) -> None:
        catalog, transports = spread_product_catalog(dead_ports, 1.0)

        async def health_then_close() -> str | None:
            try:
                return await catalog.health()
            finally:
                for transport in transports:
                    await transport.aclose()

        health = asyncio.run(health_then_close())

        assert health is not None
        problems = health.split("; ")
        assert [problem.split(": ", 1)[0] for problem in problems] == dead_ports
        assert all(": could not reach it (ConnectError" in problem for problem in problems)


def answered_then_closed(catalog: SpreadProductCatalog, transports: list[httpx.AsyncBaseTransport]) -> Any:
    async def ask() -> Any:
        try:
            return await catalog.check([Line("pen", 1)])
        except CatalogUnavailable as error:
            return error
        finally:
            for transport in transports:
                await transport.aclose()

    return asyncio.run(ask())


@pytest.fixture
def dead_ports() -> list[str]:
    """Two ports nothing listens on (bound together, so they differ, then closed)."""
    probes = [socket.socket(), socket.socket()]
    for probe in probes:
        probe.bind(("127.0.0.1", 0))
    ports = [probe.getsockname()[1] for probe in probes]
    for probe in probes:
        probe.close()
    return [f"http://127.0.0.1:{port}" for port in ports]


@pytest.fixture
def product_list_server() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 answering `GET /products` with the pen, as the Product Service does."""
    body = json.dumps([{"product_id": "pen", "name": "Pen", "price": "2.50", "stocks": 10}]).encode()

    class Answer(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass  # keep the test output to the test

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)
