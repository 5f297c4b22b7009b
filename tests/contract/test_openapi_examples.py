"""openapi.yaml promises nothing the services do not do: every declared response has a request producing it.

The other direction (the services answer nothing the spec does not declare, in the shape it declares) is
checked on every response of every HTTP test by `ContractClient`, including these.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from http_contract import OpenApi
from http_services import UnreachableCatalog, dead_letter, kafka_down, services

import identities
from adapters.http.demo_page import DemoSignIn
from entrypoints.in_process import Counter
from ordering_core import HoldLimit, Product

SPEC = OpenApi.load()
PEN_ORDER = {"items": [{"product_id": "pen", "quantity": 1}]}
# Any operation with a body answers these the same way, whatever its body's shape.
BODY_ERRORS = {"400": b"{", "413": b" " * (64 * 1024 + 1), "422": b"[]"}


NOBODY: dict[str, str] = {}


class World:
    """Products, and an order of customer A's in each status; a limit of 5 unpaid orders per customer."""

    def __init__(self) -> None:
        self.system = services(
            Product("pen", "Pen", Decimal("2.50"), 10),
            Product("ink", "Ink", Decimal("1.20"), 0),
            hold_limit=HoldLimit(5, 50, timedelta(minutes=30)),
        )
        self.unpaid = self._place()
        self.paid = self._place()
        self.cancelled = self._place()
        self.system.payments.post("/orders/paid", json={"order_id": self.paid})
        self.order.post("/orders/cancel", json={"order_id": self.cancelled})
        self.system.deliver_status_messages()
        self.dead = dead_letter(self.system)

    @property
    def order(self) -> Any:
        return self.system.order

    @property
    def product(self) -> Any:
        return self.system.product

    def _place(self) -> str:
        return str(self.system.order.post("/orders/order", json=PEN_ORDER).json()["order_id"])

    def as_(self, service: str, headers: dict[str, str]) -> Any:
        return self.system.client(service, headers)

    def hoard(self) -> httpx.Response:
        """Customer A places orders until the limit refuses one."""
        answer = self.order.post("/orders/order", json=PEN_ORDER)
        while answer.status_code == 201:
            answer = self.order.post("/orders/order", json=PEN_ORDER)
        return answer

    def client_for(self, template: str) -> Any:
        """The client of the service that serves `template`, as the spec's path-level `servers` says (the
        Product Service, as an admin, for the operations of several services)."""
        servers = SPEC.document["paths"][template].get("servers", [{"description": "Product Service"}])
        service = servers[0]["description"]  # e.g. "Product Service"
        return getattr(self.system, service.split()[0].lower())

    def demo_client(self) -> Any:
        """The Order Service with demo sign-in, asked over loopback as `make run` serves it."""
        demo = services(demo_sign_in=DemoSignIn(identities.Issuer(), Counter("demo")))
        return demo.over_loopback("order", NOBODY)

    def path(self, template: str) -> str:
        return template.replace("{product_id}", "pen").replace("{order_id}", self.unpaid).replace("{ref}", self.dead)


async def down() -> str | None:
    return "disk full"


Example = Callable[[World], httpx.Response]
EXAMPLES: dict[tuple[str, str, str], Example] = {
    ("GET", "/products", "200"): lambda w: w.product.get("/products"),
    ("POST", "/products/availability", "200"): lambda w: w.product.post(
        "/products/availability", json=PEN_ORDER
    ),
    ("POST", "/products/availability/batch", "200"): lambda w: w.product.post(
        "/products/availability/batch",
        json={"questions": [PEN_ORDER, {"items": [{"product_id": "ink", "quantity": 1}]}]},
    ),
    ("GET", "/products/{product_id}", "200"): lambda w: w.product.get("/products/pen"),
    ("GET", "/products/{product_id}", "404"): lambda w: w.product.get("/products/nib"),
    ("PUT", "/products/{product_id}", "200"): lambda w: w.product.put(
        "/products/pen", json={"name": "P", "price": "3"}
    ),
    ("PUT", "/products/{product_id}", "201"): lambda w: w.product.put(
        "/products/nib", json={"name": "N", "price": "1"}
    ),
    ("PUT", "/products/{product_id}", "409"): lambda w: w.product.put(
        "/products/pen", json={"name": "P", "price": "3", "stocks": 99}
    ),
    ("POST", "/products/{product_id}/restock", "200"): lambda w: w.product.post(
        "/products/pen/restock", json={"quantity": 1}
    ),
    ("POST", "/products/{product_id}/restock", "404"): lambda w: w.product.post(
        "/products/nib/restock", json={"quantity": 1}
    ),
    ("PUT", "/products/{product_id}", "401"): lambda w: w.as_("product", NOBODY).put(
        "/products/pen", json={"name": "P", "price": "3"}
    ),
    ("PUT", "/products/{product_id}", "403"): lambda w: w.as_("product", identities.bearer()).put(
        "/products/pen", json={"name": "P", "price": "3"}
    ),
    ("POST", "/products/{product_id}/restock", "401"): lambda w: w.as_("product", NOBODY).post(
        "/products/pen/restock", json={"quantity": 1}
    ),
    ("POST", "/products/{product_id}/restock", "403"): lambda w: w.as_("product", identities.payments()).post(
        "/products/pen/restock", json={"quantity": 1}
    ),
    ("POST", "/orders/order", "401"): lambda w: w.as_("order", {"Authorization": "Bearer x.y.z"}).post(
        "/orders/order", json=PEN_ORDER
    ),
    ("POST", "/orders/order", "429"): lambda w: w.hoard(),
    ("POST", "/orders/paid", "401"): lambda w: w.as_("order", NOBODY).post(
        "/orders/paid", json={"order_id": w.unpaid}
    ),
    ("POST", "/orders/paid", "403"): lambda w: w.order.post("/orders/paid", json={"order_id": w.unpaid}),
    ("POST", "/orders/cancel", "401"): lambda w: w.as_("order", NOBODY).post(
        "/orders/cancel", json={"order_id": w.unpaid}
    ),
    ("GET", "/orders/{order_id}", "401"): lambda w: w.as_("order", NOBODY).get(f"/orders/{w.paid}"),
    ("GET", "/orders", "401"): lambda w: w.as_("order", NOBODY).get("/orders"),
    ("GET", "/messages", "401"): lambda w: w.as_("message", NOBODY).get("/messages", params={"order_id": "o-1"}),
    ("POST", "/demo/sign-in", "200"): lambda w: w.demo_client().post("/demo/sign-in"),
    ("POST", "/demo/sign-in", "404"): lambda w: w.order.post("/demo/sign-in"),
    ("POST", "/orders/order", "201"): lambda w: w.order.post("/orders/order", json=PEN_ORDER),
    ("POST", "/orders/order", "409"): lambda w: w.order.post(
        "/orders/order", json={"items": [{"product_id": "ink", "quantity": 1}]}
    ),
    ("POST", "/orders/order", "503"): lambda w: services(catalog=UnreachableCatalog()).order.post(
        "/orders/order", json=PEN_ORDER
    ),
    ("POST", "/orders/paid", "200"): lambda w: w.system.payments.post("/orders/paid", json={"order_id": w.unpaid}),
    ("POST", "/orders/paid", "404"): lambda w: w.system.payments.post("/orders/paid", json={"order_id": "o-404"}),
    ("POST", "/orders/paid", "409"): lambda w: w.system.payments.post(
        "/orders/paid", json={"order_id": w.cancelled}
    ),
    ("POST", "/orders/cancel", "200"): lambda w: w.order.post("/orders/cancel", json={"order_id": w.unpaid}),
    ("POST", "/orders/cancel", "404"): lambda w: w.order.post("/orders/cancel", json={"order_id": "o-404"}),
    ("POST", "/orders/cancel", "409"): lambda w: w.order.post("/orders/cancel", json={"order_id": w.paid}),
    ("GET", "/orders/{order_id}", "200"): lambda w: w.order.get(f"/orders/{w.paid}"),
    ("GET", "/orders/{order_id}", "404"): lambda w: w.order.get("/orders/o-404"),
    ("GET", "/orders", "200"): lambda w: w.order.get("/orders", params={"limit": 2}),
    ("GET", "/orders", "422"): lambda w: w.order.get("/orders", params={"limit": 0}),
    ("GET", "/catalog", "200"): lambda w: w.order.get("/catalog"),
    ("GET", "/catalog", "503"): lambda w: services(catalog=UnreachableCatalog()).order.get("/catalog"),
    ("GET", "/", "200"): lambda w: w.order.get("/"),
    ("GET", "/page/app.js", "200"): lambda w: w.order.get("/page/app.js"),
    ("GET", "/page/api.js", "200"): lambda w: w.order.get("/page/api.js"),
    ("GET", "/page/session.js", "200"): lambda w: w.order.get("/page/session.js"),
    ("GET", "/page/sign-in.js", "200"): lambda w: w.order.get("/page/sign-in.js"),
    ("GET", "/page/refresh.js", "200"): lambda w: w.order.get("/page/refresh.js"),
    ("GET", "/page/products.js", "200"): lambda w: w.order.get("/page/products.js"),
    ("GET", "/page/orders.js", "200"): lambda w: w.order.get("/page/orders.js"),
    ("GET", "/page/commands.js", "200"): lambda w: w.order.get("/page/commands.js"),
    ("GET", "/page/dom.js", "200"): lambda w: w.order.get("/page/dom.js"),
    ("GET", "/page/style.css", "200"): lambda w: w.order.get("/page/style.css"),
    ("GET", "/messages", "200"): lambda w: w.system.message.get(
        "/messages", params={"order_id": w.cancelled}
    ),
    ("GET", "/messages", "422"): lambda w: w.system.message.get("/messages"),
    ("GET", "/healthz", "200"): lambda w: w.product.get("/healthz"),
    ("GET", "/readyz", "200"): lambda w: w.order.get("/readyz"),
    ("GET", "/readyz", "503"): lambda w: services(readiness={"database": down}).message.get("/readyz"),
    ("GET", "/metrics", "200"): lambda w: w.system.message.get("/metrics"),
    ("GET", "/openapi.yaml", "200"): lambda w: w.order.get("/openapi.yaml"),
    ("GET", "/dead-letters", "200"): lambda w: w.product.get("/dead-letters", params={"topic": "update-stock"}),
    ("GET", "/dead-letters", "401"): lambda w: w.as_("product", NOBODY).get("/dead-letters"),
    ("GET", "/dead-letters", "403"): lambda w: w.as_("message", identities.bearer()).get("/dead-letters"),
    ("GET", "/dead-letters", "404"): lambda w: w.product.get("/dead-letters", params={"topic": "order-status"}),
    ("GET", "/dead-letters", "503"): lambda w: kafka_down().get("/dead-letters"),
    ("GET", "/dead-letters/{ref}", "200"): lambda w: w.product.get(f"/dead-letters/{w.dead}"),
    ("GET", "/dead-letters/{ref}", "401"): lambda w: w.as_("product", NOBODY).get(f"/dead-letters/{w.dead}"),
    ("GET", "/dead-letters/{ref}", "403"): lambda w: w.as_("product", identities.payments()).get(
        f"/dead-letters/{w.dead}"
    ),
    ("GET", "/dead-letters/{ref}", "404"): lambda w: w.product.get("/dead-letters/update-stock.dlq:1:0"),
    ("GET", "/dead-letters/{ref}", "422"): lambda w: w.product.get("/dead-letters/update-stock"),
    ("GET", "/dead-letters/{ref}", "503"): lambda w: kafka_down().get("/dead-letters/order-status.dlq:0:0"),
    ("POST", "/dead-letters/replay", "200"): lambda w: w.product.post("/dead-letters/replay", json={"refs": [w.dead]}),
    ("POST", "/dead-letters/replay", "401"): lambda w: w.as_("product", NOBODY).post(
        "/dead-letters/replay", json={"topic": "update-stock"}
    ),
    ("POST", "/dead-letters/replay", "403"): lambda w: w.order.post("/dead-letters/replay", json={"topic": "x"}),
    ("POST", "/dead-letters/replay", "404"): lambda w: w.product.post(
        "/dead-letters/replay", json={"refs": ["update-stock.dlq:2:40"]}
    ),
    ("POST", "/dead-letters/replay", "503"): lambda w: kafka_down().post(
        "/dead-letters/replay", json={"topic": "order-status"}
    ),
}


def example(world: World, method: str, template: str, status: str) -> httpx.Response | None:
    operation = SPEC.document["paths"][template][method.lower()]
    if "requestBody" in operation and status in BODY_ERRORS:
        headers = {"content-type": "application/json"}
        client = world.client_for(template)
        return client.request(method, world.path(template), content=BODY_ERRORS[status], headers=headers)
    produce = EXAMPLES.get((method, template, status))
    return None if produce is None else produce(world)


@pytest.mark.parametrize("declared", SPEC.declared_responses(), ids=" ".join)
def test_every_declared_response_is_produced_by_a_request(declared: tuple[str, str, str]) -> None:
    method, template, status = declared

    answer = example(World(), method, template, status)

    assert answer is not None, (
        f"no example request produces {method} {template} {status}: add one to EXAMPLES"
    )
    assert str(answer.status_code) == status, answer.text


def test_every_example_is_of_a_declared_response() -> None:
    assert set(EXAMPLES) <= set(SPEC.declared_responses())
