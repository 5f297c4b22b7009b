"""The three services as `ordering` sees them: where they are, and what an answer means.

Each answer is sorted into one of three outcomes, and only here: a JSON body (`Answer`), a refusal the
service explains with a problem document (`Refused`, 4xx), or no usable answer at all (`Unavailable`: not
reachable, too slow, a 5xx, or something that is not the ordering API, e.g. a wrong port). The commands
never see an httpx exception, so an expected failure can never become a traceback.

Every request carries the caller's bearer token, when there is one, public requests too: it is added here,
per request, whatever client `Connect` made, so the tests' clients send it exactly as the real ones do.

How a client is made is a parameter (`Connect`): a Starlette TestClient is an httpx.Client, so the tests
run every command against the in-memory apps with no network.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any

import httpx
from attrs import frozen

from entrypoints.settings import Settings

# An order waits for the Product Service for PRODUCT_SERVICE_TIMEOUT_S (2 s by default) before the Order
# Service gives up with a 503; the read timeout leaves room for that and a slow machine. Connecting to
# 127.0.0.1 either works at once or not at all.
TIMEOUT = httpx.Timeout(10.0, connect=3.0)
HINT = "is `make run` running?"


@frozen
class Service:
    name: str  # as a person calls it: "Order Service"
    url: str


@frozen
class Locations:
    order: Service
    product: Service
    message: Service

    @classmethod
    def from_settings(
        cls, settings: Settings, *, order: str | None, product: str | None, message: str | None
    ) -> Locations:
        """Where the services are: the URL given, else where the services' own settings put them."""
        return cls(
            order=Service("Order Service", order or f"http://127.0.0.1:{settings.order_port}"),
            product=Service("Product Service", product or settings.product_service_url[0]),
            message=Service("Message Service", message or f"http://127.0.0.1:{settings.message_port}"),
        )


Connect = Callable[[Service], httpx.Client]


def connect(service: Service) -> httpx.Client:
    return httpx.Client(base_url=service.url, timeout=TIMEOUT)


@frozen
class Answer:
    body: Any
    headers: Mapping[str, str]


@frozen
class Problem:
    """An RFC 9457 problem document, with what `ordering` shows of it pulled out."""

    status: int
    title: str
    detail: str
    document: Mapping[str, Any]

    @property
    def sentence(self) -> str:
        """What went wrong, said once: the detail, which is about this request ("no order has id 'o-1'"),
        else the title, which only names the kind of problem ("Unknown order"). Never both: a detail restates
        its title in other words, and "Unknown order: no order has id 'o-1'" says one thing twice."""
        detail = self.detail.strip()
        return detail if detail and detail.casefold() != self.title.strip().casefold() else self.title

    @property
    def field_errors(self) -> list[tuple[str, str]]:
        return [(str(e.get("field", "")), str(e.get("message", ""))) for e in self.document.get("errors", [])]

    @property
    def unavailable_items(self) -> list[Mapping[str, Any]]:
        return list(self.document.get("items", []))


class Refused(Exception):
    """The service understood the request and said no (4xx)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.sentence)
        self.problem = problem


class Unavailable(Exception):
    """No usable answer; `document` is the JSON the service did send (a 5xx problem), if any."""

    def __init__(self, message: str, document: Any = None) -> None:
        super().__init__(message)
        self.document = document


class ServiceClient:
    """One service: requests by path as the caller `token` names, answers sorted into Answer / Refused /
    Unavailable."""

    def __init__(self, service: Service, http: httpx.Client, token: str | None = None) -> None:
        self.service = service
        self._http = http
        self._authorization = {} if token is None else {"Authorization": f"Bearer {token}"}

    def get(self, path: str, params: Mapping[str, str | int] | None = None) -> Answer:
        return self._send("GET", path, params=params)

    def post(self, path: str, body: Any, headers: Mapping[str, str] | None = None) -> Answer:
        return self._send("POST", path, json=body, headers=headers)

    def _send(
        self, method: str, path: str, headers: Mapping[str, str] | None = None, **options: Any
    ) -> Answer:
        where = f"the {self.service.name} at {self.service.url}"
        try:
            response = self._http.request(
                method, path, headers={**(headers or {}), **self._authorization}, **options
            )
        except httpx.TimeoutException:
            raise Unavailable(f"{where} did not answer within {TIMEOUT.read:g} s") from None
        except httpx.TransportError as error:
            raise Unavailable(f"cannot reach {where} ({_reason(error)}); {HINT}") from None
        body = _json(response)
        if response.is_server_error:
            problem = _problem(response.status_code, body)
            if problem is None:
                raise Unavailable(f"{where} failed ({response.status_code})")
            raise Unavailable(f"{where} answered {response.status_code}: {problem.sentence}", body)
        if body is _NOT_JSON:
            raise Unavailable(
                f"{where} answered {response.status_code} with something that is not JSON; {_WRONG_URL}"
            )
        if response.is_success:
            return Answer(body, response.headers)
        problem = _problem(response.status_code, body)
        if problem is None:
            raise Unavailable(
                f"{where} answered {response.status_code} without a problem document; {_WRONG_URL}"
            )
        raise Refused(problem)


_NOT_JSON = object()
_WRONG_URL = "is that the right URL?"


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _NOT_JSON


def _problem(status: int, body: Any) -> Problem | None:
    if not (isinstance(body, dict) and isinstance(body.get("title"), str)):
        return None
    detail = body.get("detail")
    return Problem(status, body["title"], detail if isinstance(detail, str) else "", body)


def _reason(error: httpx.TransportError) -> str:
    text = str(error)
    if isinstance(error, httpx.ConnectError) and "refused" in text.lower():
        return "connection refused"
    return text or type(error).__name__


class Services:
    """The three services, each connected on first use (a command needs only the ones it asks), each asked
    with the same `token`."""

    def __init__(self, locations: Locations, connect: Connect, token: str | None = None) -> None:
        self._locations = locations
        self._connect = connect
        self._token = token

    @cached_property
    def order(self) -> ServiceClient:
        return self._client(self._locations.order)

    @cached_property
    def product(self) -> ServiceClient:
        return self._client(self._locations.product)

    @cached_property
    def message(self) -> ServiceClient:
        return self._client(self._locations.message)

    def _client(self, service: Service) -> ServiceClient:
        return ServiceClient(service, self._connect(service), self._token)
