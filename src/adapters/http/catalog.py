"""The `ProductCatalog` port over HTTP: the Product Service's `POST /products/availability`.

The Order Service asks through `SpreadProductCatalog`, which sends the questions of the orders read in one
turn of its event loop in one `POST /products/availability/batch` (`adapters.http.gathering`): under load
several orders share one round trip, and a lone order still goes at once.

It also reads the Product Service's list (`GET /products`, `products()`) for the Order Service's demo page
(`GET /catalog`): the browser reaches only the Order Service, so the Order Service asks for it.

The caller makes the transport (one pool of connections per instance, for the process;
`product_service_transport` makes the one the Order Service uses) and closes it; this class only uses it.

Any way of not getting a usable answer is `CatalogUnavailable`: no connection, a timeout, a status other
than 200, or a body that is not the documented answer to the lines asked. Nothing is retried (but a refused
connection to one of several instances, below): the Order Service answers 503 with Retry-After, and the
client decides.

Several Product Service instances (`SpreadProductCatalog`, built by `spread_product_catalog`): the requests
take turns over them, so no one instance carries every order, and one that is down or restarting costs
nothing but its share. Only a refused connection (`httpx.ConnectError`) is asked again of the next
instance: nothing was sent, so no instance can have acted on it. A timeout or a bad answer is not: the
request may have been read, and a timeout may be a slow instance, where asking another doubles the wait.
An instance that refused is skipped for a moment (`skip_s`), so the next calls do not each pay its refusal
first; when every instance is skipped they are still tried, since a call is never refused untried.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import httpx
from attrs import frozen

from adapters.http.bodies import MAX_QUESTIONS
from adapters.http.connections import KeepAlivePool
from adapters.http.gathering import Gathering
from adapters.http.json import Id, Name, Price, Quantity, StockLevel, parse_json, structure
from adapters.http.problems import ApiError, InvalidRequest
from ordering_core.availability import Availability, Shortage, UnavailableLine
from ordering_core.errors import CatalogUnavailable, InvalidValue
from ordering_core.orders import OrderLine
from ordering_core.products import Product
from ordering_core.values import Line

AVAILABILITY_PATH = "/products/availability"
AVAILABILITY_BATCH_PATH = "/products/availability/batch"
PRODUCTS_PATH = "/products"
HEALTH_PATH = "/healthz"

T = TypeVar("T")

# Lines in one batch of availability questions: each line is at most 99 bytes of JSON (a 64-character id,
# a quantity of 10,000), so 500 of them in 100 questions stay under the Product Service's 64 KiB.
MAX_ASKED_ITEMS = 500


@frozen
class ItemAnswer:
    product_id: Id
    quantity: Quantity
    available: bool
    unit_price: Price | None = None
    reason: Shortage | None = None
    in_stock: StockLevel | None = None


@frozen
class AvailabilityAnswer:
    available: bool
    items: list[ItemAnswer]


@frozen
class AvailabilityAnswers:
    answers: list[AvailabilityAnswer]


@frozen
class ProductAnswer:
    product_id: Id
    name: Name
    price: Price
    stocks: StockLevel


def product_service_transport() -> httpx.AsyncBaseTransport:
    """The Order Service's pool of connections to one Product Service instance; the caller closes it
    (`aclose`) at shutdown. Ours (adapters.http.connections): httpx's own pool cost 80% of the order path's
    event-loop time under load, and httpx's client over aiohttp's pool 4-5 times the CPU per request of
    this (BENCHMARKS.md, "Issue 16: before and after").
    """
    return KeepAlivePool()


class HttpProductCatalog:
    """One Product Service instance at `base_url`, asked over `transport` (httpx's transport API).

    Each call is one `httpx.Request` handed straight to the transport: an `httpx.AsyncClient` would merge the
    URL, apply cookies, auth, redirects and hooks on every request, none of which this call uses, and that
    cost more CPU than the exchange itself (BENCHMARKS.md, "Issue 16: before and after"). The URL, headers and
    timeouts are made once.
    """

    def __init__(self, base_url: str, transport: httpx.AsyncBaseTransport, *, timeout_s: float = 2.0) -> None:
        self.base_url = base_url.rstrip("/")  # which Product Service this asks, as errors name it
        self._transport = transport
        self._availability_url = httpx.URL(self.base_url + AVAILABILITY_PATH)
        self._availability_batch_url = httpx.URL(self.base_url + AVAILABILITY_BATCH_PATH)
        self._products_url = httpx.URL(self.base_url + PRODUCTS_PATH)
        self._health_url = httpx.URL(self.base_url + HEALTH_PATH)
        self._accept = httpx.Headers({"accept": "application/json"})
        self._json = httpx.Headers({"accept": "application/json", "content-type": "application/json"})
        self._extensions = {"timeout": httpx.Timeout(timeout_s).as_dict()}
        # The availability question reads and changes nothing: asking again on a fresh connection, when a
        # pooled one turns out closed before any answer, is safe (adapters.http.connections).
        self._question = {**self._extensions, "retry_on_stale_connection": True}

    async def check(self, lines: Sequence[Line]) -> Availability:
        content = await self._ask(
            self._availability_question(self._availability_url, _items(lines)), AVAILABILITY_PATH
        )
        try:
            return _availability(lines, structure(parse_json(content), AvailabilityAnswer))
        except (ApiError, InvalidValue) as error:
            raise CatalogUnavailable(f"its answer is not the documented one: {_why(error)}") from error

    async def check_all(self, questions: Sequence[Sequence[Line]]) -> list[Availability]:
        """`check` of each question, in one request (`POST /products/availability/batch`). The caller asks
        at most `MAX_QUESTIONS` questions of at most `MAX_ASKED_ITEMS` lines in all, which keeps the body
        within the Product Service's limit (`SpreadProductCatalog` cuts its requests so)."""
        asked = {"questions": [_items(lines) for lines in questions]}
        content = await self._ask(
            self._availability_question(self._availability_batch_url, asked), AVAILABILITY_BATCH_PATH
        )
        try:
            answers = structure(parse_json(content), AvailabilityAnswers).answers
            if len(answers) != len(questions):
                raise InvalidValue("answers", "must answer each question asked, in order", len(answers))
            return [_availability(lines, answer) for lines, answer in zip(questions, answers, strict=True)]
        except (ApiError, InvalidValue) as error:
            raise CatalogUnavailable(f"its answer is not the documented one: {_why(error)}") from error

    def _availability_question(self, url: httpx.URL, asked: object) -> httpx.Request:
        body = json.dumps(asked, ensure_ascii=False, separators=(",", ":")).encode()
        return httpx.Request("POST", url, headers=self._json, content=body, extensions=self._question)

    async def products(self) -> list[Product]:
        """Every product with its stock now, in the Product Service's order (by id)."""
        request = httpx.Request("GET", self._products_url, headers=self._accept, extensions=self._extensions)
        content = await self._ask(request, PRODUCTS_PATH)
        try:
            answers = structure(parse_json(content), list[ProductAnswer])
            return [Product(a.product_id, a.name, a.price, a.stocks) for a in answers]
        except (ApiError, InvalidValue) as error:
            raise CatalogUnavailable(f"its answer is not the documented one: {_why(error)}") from error

    async def health(self) -> str | None:
        """None when the instance answers 200 to `/healthz`, else why not (the Order Service's readiness)."""
        request = httpx.Request("GET", self._health_url, extensions=self._extensions)
        try:
            await self._ask(request, HEALTH_PATH)
        except CatalogUnavailable as error:
            return f"{self.base_url}: {error.reason}"
        return None

    async def _ask(self, request: httpx.Request, path: str) -> bytes:
        """The body of the Product Service's 200 answer, or `CatalogUnavailable` saying why there is none."""
        try:
            response = await self._transport.handle_async_request(request)
            try:
                content = await response.aread()
            finally:
                await response.aclose()
        except httpx.TimeoutException as error:
            raise CatalogUnavailable(f"no answer in time ({type(error).__name__})") from error
        except httpx.TransportError as error:
            raise CatalogUnavailable(f"could not reach it ({type(error).__name__}: {error})") from error
        if response.status_code != 200:
            raise CatalogUnavailable(f"it answered {response.status_code} to {path}")
        return content


def spread_product_catalog(
    urls: Sequence[str], timeout_s: float, *, skip_s: float = 1.0, clock: Callable[[], float] = time.monotonic
) -> tuple[SpreadProductCatalog, list[httpx.AsyncBaseTransport]]:
    """The catalog over every Product Service instance at `urls`, and the one pool of connections per instance
    that the caller closes (`aclose`) at shutdown."""
    transports = [product_service_transport() for _ in urls]
    instances = [HttpProductCatalog(url, t, timeout_s=timeout_s) for url, t in zip(urls, transports, strict=True)]
    return SpreadProductCatalog(instances, skip_s=skip_s, clock=clock), transports


class SpreadProductCatalog:
    """The `ProductCatalog` port over several Product Service instances: each request goes to the next in
    turn, and on to the one after only if it refused the connection (the module docstring says why only then).
    `check` gathers the questions of one turn of the event loop into one request (`check_all`)."""

    def __init__(
        self,
        instances: Sequence[HttpProductCatalog],
        *,
        skip_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not instances:
            raise ValueError("a spread needs at least one Product Service instance")
        self._instances = tuple(instances)
        self._skip_s = skip_s
        self._clock = clock
        self._turn = 0
        # When (on `clock`) each instance may be asked first again: in the past unless it is skipped.
        self._skipped_until = [float("-inf")] * len(self._instances)
        # Public for the Order Service's metrics (adapters.metrics.AvailabilityCollector).
        self.gathering = Gathering(self.check_all, max_questions=MAX_QUESTIONS, max_size=MAX_ASKED_ITEMS, size=len)

    async def check(self, lines: Sequence[Line]) -> Availability:
        """The questions asked in one turn of the event loop go to one instance in one request
        (`adapters.http.gathering`)."""
        return await self.gathering.ask(lines)

    async def check_all(self, questions: Sequence[Sequence[Line]]) -> list[Availability]:
        return await self._ask(lambda instance: instance.check_all(questions))

    async def products(self) -> list[Product]:
        """Every product with its stock now, in the Product Service's order (by id)."""
        return await self._ask(HttpProductCatalog.products)

    async def health(self) -> str | None:
        """None while one instance answers its `/healthz` (the calls skip those that do not), else why none
        does, instance by instance."""
        problems = []
        for instance in self._instances:
            problem = await instance.health()
            if problem is None:
                return None
            problems.append(problem)
        return "; ".join(problems)

    async def _ask(self, question: Callable[[HttpProductCatalog], Awaitable[T]]) -> T:
        """The answer of the instance whose turn it is, or of the next that does not refuse the connection.

        Two passes in turn order: first the instances not skipped, then the skipped ones; each asked at most
        once (`asked` is a bit per instance, so a call allocates no list).
        """
        count = len(self._instances)
        if count == 1:  # nowhere else to go: exactly HttpProductCatalog
            return await question(self._instances[0])
        first = self._turn
        now = self._clock()
        asked = 0
        refusal: CatalogUnavailable | None = None
        for skipped_too in (False, True):
            for offset in range(count):
                index = (first + offset) % count
                if asked >> index & 1 or (not skipped_too and self._skipped_until[index] > now):
                    continue
                asked |= 1 << index
                # The next call starts after the instance asked, not after a skipped one, so the instances
                # still up share its turns evenly; moved before awaiting, so concurrent calls differ.
                self._turn = (index + 1) % count
                try:
                    return await question(self._instances[index])
                except CatalogUnavailable as error:
                    if not _refused(error):
                        raise
                    self._skipped_until[index] = self._clock() + self._skip_s
                    refusal = error
        raise _every_instance_refused(self._instances) from refusal


def _items(lines: Sequence[Line]) -> dict[str, list[dict[str, object]]]:
    return {"items": [{"product_id": line.product_id, "quantity": line.quantity} for line in lines]}


def _refused(error: CatalogUnavailable) -> bool:
    """Whether the instance refused the connection: then nothing was sent, and asking another is safe."""
    return isinstance(error.__cause__, httpx.ConnectError)


def _every_instance_refused(instances: Sequence[HttpProductCatalog]) -> CatalogUnavailable:
    everyone = ", ".join(instance.base_url for instance in instances)
    return CatalogUnavailable(f"every Product Service instance refused the connection ({everyone})")


def _availability(lines: Sequence[Line], answer: AvailabilityAnswer) -> Availability:
    asked = [(line.product_id, line.quantity) for line in lines]
    answered = [(item.product_id, item.quantity) for item in answer.items]
    if answered != asked:
        # The lines were merged before they were sent, so the answer must be for exactly these, in order.
        raise InvalidValue("items", "must answer the items asked, in order", answered)
    availability = Availability(tuple(_line(item) for item in answer.items))
    if availability.is_ok != answer.available:
        raise InvalidValue("available", "must be true exactly when every item is available", answer.available)
    return availability


def _line(item: ItemAnswer) -> OrderLine | UnavailableLine:
    if item.available and item.unit_price is not None and item.reason is None:
        return OrderLine(item.product_id, item.quantity, item.unit_price)
    if not item.available and item.reason is not None and item.in_stock is not None:
        return UnavailableLine(item.product_id, item.quantity, item.reason, item.in_stock)
    raise InvalidValue(
        "items", "an available item has a unit_price, an unavailable one a reason and in_stock", item
    )


def _why(error: ApiError | InvalidValue) -> str:
    if isinstance(error, InvalidRequest):
        return "; ".join(f"{e.field} {e.message}" for e in error.errors)
    return str(error)
