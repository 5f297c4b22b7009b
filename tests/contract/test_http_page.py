"""The Order Service's demo page over HTTP: the page and its files, `GET /catalog` (the products it shows),
and `POST /demo/sign-in` (its one-click sign-in, only where switched on and only over loopback).

The page's scripts are ES modules; the checks of what they do read all of them, as the browser runs them.

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
from http_services import Services, UnreachableCatalog, items, pen_and_ink, place, problem_type, services
from test_http_catalog import answering, closing, product_service

import identities
from adapters.http.catalog import HttpProductCatalog, product_service_transport
from adapters.http.demo_page import ASSETS, PAGE_DIR, DemoSignIn
from entrypoints.in_process import Counter
from ordering_core import CatalogUnavailable, Product
from ordering_core.customers import Caller, Role

NOBODY: dict[str, str] = {}
JAVASCRIPT = "text/javascript; charset=utf-8"


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


def scripts() -> str:
    """Every script of the page, as one text."""
    return "\n".join(path.read_text(encoding="utf-8") for path in sorted(PAGE_DIR.glob("*.js")))


def imports(script: str) -> list[str]:
    """What an ES module imports: the specifiers of its `import … from "…"` and `import "…"`."""
    return re.findall(r'^import\s+(?:[^"]*?\s+from\s+)?"([^"]+)";', script, flags=re.MULTILINE)


def modules_from(entry: str) -> set[str]:
    """The page's modules the browser loads, starting from `entry`: their names in PAGE_DIR."""
    found: set[str] = set()
    waiting = [entry]
    while waiting:
        name = waiting.pop()
        if name not in found:
            found.add(name)
            script = (PAGE_DIR / name).read_text(encoding="utf-8")
            waiting += [specifier.removeprefix("./") for specifier in imports(script)]
    return found


class TestThePage:
    def test_is_served_at_the_root_as_html_with_its_script_and_style_sheet(self) -> None:
        system = pen_and_ink()

        page = system.order.get("/")

        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert {"/page/app.js", "/page/style.css"} <= set(parsed(page.text).urls)
        assert system.order.get("/page/app.js").headers["content-type"] == "text/javascript; charset=utf-8"
        assert system.order.get("/page/style.css").headers["content-type"] == "text/css; charset=utf-8"

    def test_its_script_is_a_module_and_every_module_it_imports_is_served_as_javascript(self) -> None:
        system = pen_and_ink()

        page = system.order.get("/").text
        served = {name: system.order.get(f"/page/{name}") for name in modules_from("app.js")}

        assert '<script type="module" src="/page/app.js"></script>' in page
        assert {name: answer.status_code for name, answer in served.items()} == dict.fromkeys(served, 200)
        # A browser runs a module only if it is served as JavaScript.
        assert {answer.headers["content-type"] for answer in served.values()} == {JAVASCRIPT}

    def test_its_modules_import_only_from_the_page_s_own_folder(self) -> None:
        specifiers = imports(scripts())

        assert specifiers
        assert [s for s in specifiers if not re.fullmatch(r"\./[a-z-]+\.js", s)] == []

    def test_serves_every_file_of_the_page_s_folder_and_no_other(self) -> None:
        files = {path.name for path in PAGE_DIR.iterdir() if path.is_file()}

        assert {name for name, _ in ASSETS.values()} == files
        assert modules_from("app.js") == {name for name in files if name.endswith(".js")}

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

    def test_its_scripts_put_data_into_the_page_as_text_never_as_html(self) -> None:
        script = scripts()

        assert "textContent" in script
        assert re.findall(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(", script) == []

    def test_asks_only_the_order_service_s_own_api(self) -> None:
        script = scripts()

        assert "://" not in script
        assert set(re.findall(r'"(/[a-z/-]+)', script)) == {
            "/catalog",
            "/orders/order",
            "/orders/paid",
            "/orders/cancel",
            "/demo/sign-in",
        }
        assert "`/orders?sort=newest&limit=${RECENT_ORDERS}`" in script

    def test_keeps_the_token_for_the_tab_only_and_sends_it_as_a_bearer(self) -> None:
        script = scripts()

        assert "sessionStorage" in script
        assert "localStorage" not in script and "document.cookie" not in script
        assert "options.headers.Authorization = `Bearer ${token}`" in script

    def test_has_a_sign_in_box_and_an_order_form_disabled_until_signed_in(self) -> None:
        page = pen_and_ink().order.get("/").text

        assert '<form id="sign-in"' in page
        assert '<button type="button" id="demo-sign-in"' in page
        assert '<fieldset id="order-fields" disabled>' in page


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


def with_demo_sign_in() -> Services:
    return pen_and_ink(demo_sign_in=DemoSignIn(identities.Issuer(), Counter("demo")))


def verified(token: str) -> Caller:
    return asyncio.run(identities.verifier().verify(token))


class TestDemoSignIn:
    def test_does_not_exist_unless_switched_on(self) -> None:
        system = pen_and_ink()

        answer = system.over_loopback("order", NOBODY).post("/demo/sign-in")

        assert answer.status_code == 404
        assert problem_type(answer) == "/problems/not-found"

    def test_over_loopback_answers_a_new_demo_customer_s_token_and_a_payments_token(self) -> None:
        system = with_demo_sign_in()

        answer = system.over_loopback("order", NOBODY).post("/demo/sign-in")

        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "no-store"
        signed_in = answer.json()
        assert set(signed_in) == {"customer_id", "token", "payments_token", "expires_in"}
        assert signed_in["customer_id"].startswith("demo-")
        assert verified(signed_in["token"]) == Caller(signed_in["customer_id"])
        assert Role.PAYMENTS in verified(signed_in["payments_token"]).roles
        assert signed_in["expires_in"] == 3600

    def test_each_sign_in_is_a_new_customer(self) -> None:
        client = with_demo_sign_in().over_loopback("order", NOBODY)

        first, second = (client.post("/demo/sign-in").json()["customer_id"] for _ in range(2))

        assert first != second

    def test_its_tokens_place_an_order_of_the_demo_customer_s_own_and_pay_it(self) -> None:
        system = with_demo_sign_in()
        signed_in = system.over_loopback("order", NOBODY).post("/demo/sign-in").json()
        customer = system.client("order", {"Authorization": f"Bearer {signed_in['token']}"})
        provider = system.client("order", {"Authorization": f"Bearer {signed_in['payments_token']}"})

        order_id = customer.post("/orders/order", json=items(("pen", 1))).json()["order_id"]
        paid = provider.post("/orders/paid", json={"order_id": order_id})

        assert paid.status_code == 200
        assert customer.get(f"/orders/{order_id}").json()["status"] == "paid"
        assert system.order.get(f"/orders/{order_id}").status_code == 404  # customer A's view: not theirs

    @pytest.mark.parametrize(
        ("base_url", "client"),
        [
            ("http://127.0.0.1:8001", ("192.0.2.7", 50000)),  # from another machine, over loopback's port
            ("http://192.0.2.10:8001", ("127.0.0.1", 50000)),  # to an address that is not loopback
            ("http://testserver", ("testclient", 50000)),  # names, not addresses it can vouch for
        ],
        ids=["from another machine", "to a network address", "no addresses"],
    )
    def test_is_not_found_unless_the_request_came_over_loopback(self, base_url: str, client: Any) -> None:
        system = with_demo_sign_in()

        answer = system.client("order", NOBODY, base_url=base_url, client=client).post("/demo/sign-in")

        assert answer.status_code == 404
        assert problem_type(answer) == "/problems/not-found"
        assert "token" not in answer.text

    @pytest.mark.parametrize(
        "headers",
        [{"Host": "attacker.example:8001"}, {"X-Forwarded-For": "203.0.113.9"}, {"Forwarded": "for=203.0.113.9"}],
        ids=["a rebound host name", "through a proxy (X-Forwarded-For)", "through a proxy (Forwarded)"],
    )
    def test_is_not_found_for_another_host_name_or_a_request_a_local_proxy_forwarded(
        self, headers: dict[str, str]
    ) -> None:
        client = with_demo_sign_in().over_loopback("order", NOBODY)

        answer = client.post("/demo/sign-in", headers=headers)

        assert answer.status_code == 404
        assert "token" not in answer.text

    @pytest.mark.parametrize("host", ["localhost:8001", "127.0.0.1:8001", "[::1]:8001"])
    def test_answers_for_a_loopback_host_name(self, host: str) -> None:
        client = with_demo_sign_in().over_loopback("order", NOBODY)

        answer = client.post("/demo/sign-in", headers={"Host": host})

        assert answer.status_code == 200


def listed(transport: httpx.AsyncBaseTransport, base_url: str = "http://product") -> Any:
    async def ask() -> Any:
        async with transport:
            return await HttpProductCatalog(base_url, transport, timeout_s=1.0).products()

    return asyncio.run(ask())


class TestHttpProductCatalogListing:
    def test_reads_the_product_service_s_list_into_products(self) -> None:
        pen, ink = Product("pen", "Pen", Decimal("2.50"), 10), Product("ink", "Ink <b>", Decimal("1.20"), 0)

        assert listed(product_service(pen, ink)) == [ink, pen]

    def test_the_order_service_lists_through_it(self) -> None:
        transport = product_service(Product("pen", "Pen", Decimal("2.50"), 7))
        system = services(catalog=HttpProductCatalog("http://product", transport), lifespan=closing(transport))

        with system.order:  # runs the lifespan, which closes the transport at the end
            answer = system.order.get("/catalog")

        assert answer.json() == [{"product_id": "pen", "name": "Pen", "price": "2.50", "stocks": 7}]

    def test_a_product_service_that_is_down_is_unavailable(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]  # closed again: nothing listens there

        with pytest.raises(CatalogUnavailable, match=r"could not reach it \(ConnectError"):
            listed(product_service_transport(), f"http://127.0.0.1:{port}")

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
