"""The Order Service's demo page over HTTP: the page and its files, and `GET /catalog`, the products it shows.

Every response is also checked against openapi.yaml by the client itself (`http_contract.ContractClient`).
The page's behaviour in a browser is tests/browser's.
"""

from __future__ import annotations

import asyncio
import re
import socket
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
from http_services import UnreachableCatalog, pen_and_ink, place, problem_type, services
from test_http_catalog import answering, closing, product_service

from adapters.http.catalog import HttpProductCatalog
from adapters.http.demo_page import PAGE_DIR
from ordering_core import CatalogUnavailable, Product


class LinksAndScripts(HTMLParser):
    """Every `src` and `href` of the page, and whether any `<script>` or `<style>` has code inline."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_code = False
        self._in_code = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value or "" for name, value in attrs if name in ("src", "href")]
        self.inline_code |= any(name.startswith("on") or name == "style" for name, _ in attrs)
        self._in_code = tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._in_code = False

    def handle_data(self, data: str) -> None:
        self.inline_code |= self._in_code and bool(data.strip())


def parsed(html: str) -> LinksAndScripts:
    parser = LinksAndScripts()
    parser.feed(html)
    return parser


class TestThePage:
    def test_is_served_at_the_root_as_html_with_its_script_and_style_sheet(self) -> None:
        system = pen_and_ink()

        page = system.order.get("/")

        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert {"/page/app.js", "/page/style.css"} <= set(parsed(page.text).urls)
        assert system.order.get("/page/app.js").headers["content-type"] == "text/javascript; charset=utf-8"
        assert system.order.get("/page/style.css").headers["content-type"] == "text/css; charset=utf-8"

    def test_loads_nothing_from_another_origin_and_has_no_inline_code(self) -> None:
        page = pen_and_ink().order.get("/")

        found = parsed(page.text)

        assert [url for url in found.urls if not (url.startswith("/") and not url.startswith("//"))] == [
            "data:,"  # the empty favicon
        ]
        assert not found.inline_code

    def test_tells_the_browser_to_run_only_its_own_files(self) -> None:
        page = pen_and_ink().order.get("/")

        policy = dict(
            directive.strip().split(" ", 1)
            for directive in page.headers["content-security-policy"].split(";")
        )

        assert policy["default-src"] == "'none'"
        assert policy["script-src"] == policy["style-src"] == policy["connect-src"] == "'self'"
        assert page.headers["x-content-type-options"] == "nosniff"

    def test_its_script_puts_data_into_the_page_as_text_never_as_html(self) -> None:
        script = (PAGE_DIR / "app.js").read_text(encoding="utf-8")

        assert "textContent" in script
        assert re.findall(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(", script) == []

    def test_asks_only_the_order_service_s_own_api(self) -> None:
        script = (PAGE_DIR / "app.js").read_text(encoding="utf-8")

        assert "://" not in script
        assert set(re.findall(r'"(/[a-z/]+)', script)) == {
            "/catalog",
            "/orders/order",
            "/orders/paid",
            "/orders/cancel",
        }
        assert "`/orders?sort=newest&limit=${RECENT_ORDERS}`" in script


class TestCatalog:
    def test_lists_the_products_as_the_product_service_does(self) -> None:
        system = pen_and_ink(pens=10, ink=3)

        answer = system.order.get("/catalog")

        assert answer.status_code == 200
        assert answer.json() == system.product.get("/products").json()
        assert answer.json() == [
            {"product_id": "ink", "name": "Ink", "price": "1.20", "stocks": 3},
            {"product_id": "pen", "name": "Pen", "price": "2.50", "stocks": 10},
        ]

    def test_shows_the_stock_as_it_is_now(self) -> None:
        system = pen_and_ink(pens=10)
        system.product.post("/products/pen/restock", json={"quantity": 5})

        answer = system.order.get("/catalog")

        assert {p["product_id"]: p["stocks"] for p in answer.json()} == {"ink": 3, "pen": 15}

    def test_is_an_empty_list_when_there_are_no_products(self) -> None:
        assert services().order.get("/catalog").json() == []

    def test_answers_503_with_retry_after_when_the_product_service_cannot_be_asked(self) -> None:
        system = services(catalog=UnreachableCatalog())

        answer = system.order.get("/catalog")

        assert answer.status_code == 503
        assert problem_type(answer) == "/problems/product-service-unavailable"
        assert answer.headers["retry-after"] == "2"
        assert "connection refused" in answer.json()["detail"]

    def test_placing_an_order_through_the_page_s_endpoints_still_works_beside_it(self) -> None:
        system = pen_and_ink()

        placed = place(system, ("pen", 2))

        assert placed.status_code == 201
        assert system.order.get("/catalog").status_code == 200


def listed(client: httpx.AsyncClient) -> Any:
    async def ask() -> Any:
        async with client:
            return await HttpProductCatalog(client).products()

    return asyncio.run(ask())


class TestHttpProductCatalogListing:
    def test_reads_the_product_service_s_list_into_products(self) -> None:
        pen, ink = Product("pen", "Pen", Decimal("2.50"), 10), Product("ink", "Ink <b>", Decimal("1.20"), 0)

        assert listed(product_service(pen, ink)) == [ink, pen]

    def test_the_order_service_lists_through_it(self) -> None:
        client = product_service(Product("pen", "Pen", Decimal("2.50"), 7))
        system = services(catalog=HttpProductCatalog(client), lifespan=closing(client))

        with system.order:  # runs the lifespan, which closes the client at the end
            answer = system.order.get("/catalog")

        assert answer.json() == [{"product_id": "pen", "name": "Pen", "price": "2.50", "stocks": 7}]

    def test_a_product_service_that_is_down_is_unavailable(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]  # closed again: nothing listens there

        with pytest.raises(CatalogUnavailable, match=r"could not reach it \(ConnectError"):
            listed(httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=1.0))

    def test_any_status_but_200_is_unavailable(self) -> None:
        with pytest.raises(CatalogUnavailable, match="it answered 500 to /products"):
            listed(answering(500, {"type": "/problems/internal-error"}))

    @pytest.mark.parametrize(
        ("body", "why"),
        [
            (b"<html>", "body is not JSON"),
            ({"products": []}, "body must be an array"),
            (
                [{"product_id": "pen", "name": "Pen", "price": 2.5, "stocks": 1}],
                "[0].price must be a decimal",
            ),
            ([{"product_id": "pen", "name": "Pen", "price": "2.50", "stocks": -1}], "[0].stocks"),
            ([{"product_id": "pen", "name": "Pen", "price": "2.50"}], "[0].stocks is required"),
        ],
        ids=["html", "not a list", "float price", "negative stock", "no stock"],
    )
    def test_an_answer_no_correct_product_service_gives_is_unavailable(self, body: Any, why: str) -> None:
        with pytest.raises(CatalogUnavailable) as refused:
            listed(answering(200, body))

        assert why in refused.value.reason
