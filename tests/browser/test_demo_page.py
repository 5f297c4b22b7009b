"""The demo page in a real browser, against the real system: headless Chromium, Kafka, the services as processes.

The page is driven the way a person would: it reads what the page shows and clicks its buttons. Every wait
is Playwright's `expect`, which polls a condition until its deadline, never a sleep. The stock shown on the
page changes only after Kafka has carried update-stock to the Product Service and the page has refreshed
itself, so seeing it change proves both.

The Order Service runs with its demo sign-in on, as under `make run`: each test's page (a tab of its own,
so a session of its own) signs in with one click as a new demo customer, whose Pay button acts as the
payment provider; `TestSigningIn` also starts signed out and pastes tokens.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Locator, Page, expect
from test_seed_story import RunningSystem, running_system

import chromium

pytestmark = pytest.mark.kafka

# How long the page may take to show a change: Kafka's round trip plus a refresh (every 2 s).
WAIT_MS = 30_000
PRODUCTS = {
    # A name that is also HTML: the page must show it as text.
    "B1": {"name": "<b>Fountain</b> pen & ink", "price": "24.90", "stocks": 10},
    "B2": {"name": "Desk lamp", "price": "59.00", "stocks": 3},
}


@pytest.fixture(scope="module")
def system(kafka_bootstrap_servers: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    home = tmp_path_factory.mktemp("browser")
    with ExitStack() as running:
        # `running_system` takes no settings: the system copies the environment when it is made (and starts
        # services again with that copy), so DEMO_SIGN_IN needs to be there only then.
        with pytest.MonkeyPatch.context() as environment:
            environment.setenv("DEMO_SIGN_IN", "on")
            # The page needs no Message Service.
            started = running.enter_context(
                running_system(kafka_bootstrap_servers, home, PRODUCTS, services=("product", "order"))
            )
        yield started


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserContext]:
    assert chromium.CHROMIUM.is_file(), f"{chromium.CHROMIUM} is missing: {chromium.HOW_TO} (make test does)"
    with chromium.headless_chromium() as context:
        yield context


class DemoPage:
    """The page open in the browser, read through what it shows; `errors` collects what its console said."""

    def __init__(self, page: Page, url: str) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.goto(url)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def sign_in_with_one_click(self) -> str:
        """Signs in with the demo sign-in; the new demo customer's id."""
        self.page.get_by_role("button", name="Demo sign-in").click()
        expect(self.page.locator("#signed-in")).to_be_visible(timeout=WAIT_MS)
        return self.page.locator("#who").inner_text()

    def paste(self, token: str) -> None:
        self.page.get_by_label("Bearer token").fill(token)
        self.page.get_by_role("button", name="Sign in", exact=True).click()

    @property
    def place_order_button(self) -> Locator:
        return self.page.get_by_role("button", name="Place order")

    def product(self, product_id: str) -> Locator:
        return self.page.locator(f'#products tr[data-product-id="{product_id}"]')

    def stock(self, product_id: str) -> Locator:
        return self.product(product_id).locator("td.stock")

    def stock_now(self, product_id: str) -> int:
        expect(self.stock(product_id)).to_have_text(re.compile(r"^\d+$"), timeout=WAIT_MS)
        return int(self.stock(product_id).inner_text())

    def order(self, order_id: str) -> Locator:
        return self.page.locator(f'#orders tr[data-order-id="{order_id}"]')

    def place_order(self, quantities: dict[str, int]) -> Locator:
        for product_id, quantity in quantities.items():
            self.page.locator(f'#products input[data-product-id="{product_id}"]').fill(str(quantity))
        self.place_order_button.click()
        return self.page.locator("#order-result")

    @property
    def banner(self) -> Locator:
        return self.page.locator("#banner")


@pytest.fixture
def signed_out(browser: BrowserContext, system: RunningSystem) -> Iterator[DemoPage]:
    """The page in a new tab: nobody signed in."""
    page = browser.new_page()
    try:
        yield DemoPage(page, system.url("order") + "/")
    finally:
        page.close()


@pytest.fixture
def demo(signed_out: DemoPage) -> DemoPage:
    """The page signed in with the demo sign-in, as a new demo customer."""
    signed_out.sign_in_with_one_click()
    return signed_out


class TestTheDemoPage:
    def test_shows_every_product_with_its_price_and_stock_and_names_as_text(self, demo: DemoPage) -> None:
        pen = demo.product("B1")

        expect(pen.locator("td.name")).to_have_text("<b>Fountain</b> pen & ink", timeout=WAIT_MS)
        expect(pen.locator("td.price")).to_have_text("24.90")
        expect(demo.product("B2").locator("td.name")).to_have_text("Desk lamp")
        assert pen.locator("b").count() == 0  # the name was not read as HTML
        assert demo.stock_now("B2") == 3
        assert demo.errors == []

    def test_says_when_it_last_refreshed_and_keeps_refreshing(self, demo: DemoPage) -> None:
        refreshed = demo.page.locator("#refreshed")
        expect(refreshed).to_contain_text("Last refreshed at", timeout=WAIT_MS)
        first = refreshed.get_attribute("data-refreshed-at")

        expect(refreshed).not_to_have_attribute("data-refreshed-at", first or "", timeout=WAIT_MS)

        assert demo.banner.is_hidden()

    def test_an_order_placed_on_the_page_shows_unpaid_takes_its_stock_and_can_be_paid(
        self, demo: DemoPage, system: RunningSystem, tmp_path: Path
    ) -> None:
        before = demo.stock_now("B1")

        result = demo.place_order({"B1": 2})
        expect(result).to_contain_text("placed", timeout=WAIT_MS)
        order_id = result.get_attribute("data-order-id")
        assert order_id
        row = demo.order(order_id)
        expect(row.locator(".status")).to_have_text("unpaid", timeout=WAIT_MS)
        expect(row.locator("td.items")).to_have_text("2 \N{MULTIPLICATION SIGN} <b>Fountain</b> pen & ink")
        expect(demo.stock("B1")).to_have_text(str(before - 2), timeout=WAIT_MS)  # via Kafka, then a refresh
        row.get_by_role("button", name="Pay").click()

        expect(row.locator(".status")).to_have_text("paid", timeout=WAIT_MS)
        expect(row.get_by_role("button")).to_have_count(0)
        as_admin = httpx.get(f"{system.url('order')}/orders/{order_id}", headers=system.admin())
        assert as_admin.json()["status"] == "paid"
        screenshot = demo.page.screenshot(path=tmp_path / "page.png", full_page=True)
        assert screenshot.startswith(b"\x89PNG")
        assert demo.errors == []

    def test_an_order_cancelled_on_the_page_gives_its_stock_back(self, demo: DemoPage) -> None:
        before = demo.stock_now("B2")
        result = demo.place_order({"B2": 1})
        expect(result).to_contain_text("placed", timeout=WAIT_MS)
        row = demo.order(result.get_attribute("data-order-id") or "")
        expect(demo.stock("B2")).to_have_text(str(before - 1), timeout=WAIT_MS)

        row.get_by_role("button", name="Cancel").click()

        expect(row.locator("td:has(.status)")).to_have_text("cancelled (customer)", timeout=WAIT_MS)
        expect(demo.stock("B2")).to_have_text(str(before), timeout=WAIT_MS)

    def test_a_refused_order_says_which_items_cannot_be_served(self, demo: DemoPage) -> None:
        in_stock = demo.stock_now("B2")
        orders_before = demo.page.locator("#orders tbody tr").count()

        result = demo.place_order({"B1": 1, "B2": 9})  # within what one customer may hold unpaid (50 units)

        # The problem's detail alone: its title ("Some items cannot be served") would say the same twice.
        said = result.locator("p")
        expect(said).to_have_text("1 item cannot be served; nothing was ordered", timeout=WAIT_MS)
        expect(result.locator("li")).to_have_text([f"Desk lamp: 9 asked, only {in_stock} in stock"])
        assert demo.page.locator("#orders tbody tr").count() == orders_before

    def test_asks_for_a_quantity_before_ordering_nothing(self, demo: DemoPage) -> None:
        demo.stock_now("B1")

        result = demo.place_order({})

        expect(result).to_have_text("Choose a quantity for at least one product.")

    @pytest.mark.parametrize(
        ("problem", "shown"),
        [
            ({"title": "Unknown product"}, "Unknown product"),
            ({"title": "Unknown product", "detail": " "}, "Unknown product"),
            ({"title": "Unknown product", "detail": "unknown product"}, "Unknown product"),
            ({"title": "Unknown product", "detail": "no product has id 'B1'"}, "no product has id 'B1'"),
        ],
        ids=["no detail", "a blank detail", "a detail that repeats the title", "a detail of its own"],
    )
    def test_a_refusal_is_said_once_by_its_detail_else_by_its_title(
        self, demo: DemoPage, problem: dict[str, str], shown: str
    ) -> None:
        # As src/entrypoints/cli/api.py's Problem.sentence says a refusal on the command line.
        document = json.dumps({"type": "/problems/unknown-product", "status": 404, **problem})
        demo.page.route(
            "**/orders/order",
            lambda route: route.fulfill(status=404, content_type="application/problem+json", body=document),
        )
        demo.stock_now("B1")

        result = demo.place_order({"B1": 1})

        expect(result).to_have_text(shown, timeout=WAIT_MS)


class TestSigningIn:
    def test_signed_out_the_products_show_and_the_order_form_is_disabled_with_a_hint(
        self, signed_out: DemoPage
    ) -> None:
        expect(signed_out.product("B2").locator("td.name")).to_have_text("Desk lamp", timeout=WAIT_MS)

        expect(signed_out.place_order_button).to_be_disabled()
        expect(signed_out.product("B2").locator("input")).to_be_disabled()
        expect(signed_out.page.locator("#order-hint")).to_have_text("Sign in to place an order.")
        expect(signed_out.page.locator("#orders-signed-out")).to_be_visible()
        assert signed_out.page.locator("#orders tbody tr").count() == 0
        assert signed_out.errors == []

    def test_a_pasted_token_signs_in_as_its_customer_who_may_cancel_but_not_pay(
        self, signed_out: DemoPage, system: RunningSystem
    ) -> None:
        customer = f"browser-{uuid.uuid4().hex[:8]}"
        placed = httpx.post(
            f"{system.url('order')}/orders/order",
            json={"items": [{"product_id": "B1", "quantity": 1}]},
            headers=system.bearer(customer),
        )
        order_id = placed.json()["order_id"]

        signed_out.paste(system.issuer.token(customer))

        expect(signed_out.page.locator("#who")).to_have_text(customer, timeout=WAIT_MS)
        expect(signed_out.place_order_button).to_be_enabled()
        row = signed_out.order(order_id)
        expect(row.locator(".status")).to_have_text("unpaid", timeout=WAIT_MS)
        expect(row.get_by_role("button")).to_have_text(["Cancel"])  # a customer's token records no payment
        assert signed_out.errors == []

    def test_a_token_the_services_refuse_signs_out_and_says_so(self, signed_out: DemoPage) -> None:
        signed_out.paste("not-a-token")

        expect(signed_out.page.locator("#session-message")).to_contain_text(
            "the services did not accept the token", timeout=WAIT_MS
        )
        expect(signed_out.page.locator("#sign-in")).to_be_visible()
        expect(signed_out.place_order_button).to_be_disabled()

    def test_the_sign_in_lasts_as_long_as_the_tab_and_sign_out_ends_it(self, demo: DemoPage) -> None:
        customer = demo.page.locator("#who").inner_text()

        demo.page.reload()
        expect(demo.page.locator("#who")).to_have_text(customer, timeout=WAIT_MS)
        demo.page.get_by_role("button", name="Sign out").click()

        expect(demo.page.locator("#sign-in")).to_be_visible()
        expect(demo.place_order_button).to_be_disabled()
        demo.page.reload()
        expect(demo.page.locator("#sign-in")).to_be_visible(timeout=WAIT_MS)

    def test_where_there_is_no_demo_sign_in_the_button_goes_and_the_page_says_so(
        self, signed_out: DemoPage
    ) -> None:
        # As a service without DEMO_SIGN_IN answers (tests/contract/test_http_page.py checks that it does).
        not_found = '{"type": "/problems/not-found", "title": "Not found", "status": 404, "detail": "no such resource"}'
        signed_out.page.route(
            "**/demo/sign-in",
            lambda route: route.fulfill(status=404, content_type="application/problem+json", body=not_found),
        )

        signed_out.page.get_by_role("button", name="Demo sign-in").click()

        expect(signed_out.page.locator("#session-message")).to_contain_text(
            "Demo sign-in is off", timeout=WAIT_MS
        )
        expect(signed_out.page.get_by_role("button", name="Demo sign-in")).to_be_hidden()


class TestWhenAServiceIsDown:
    """Last in this file: these stop and restart services of the module's system."""

    def test_a_banner_says_the_product_service_is_down_and_goes_when_it_is_back(
        self, demo: DemoPage, system: RunningSystem
    ) -> None:
        shown = demo.stock_now("B2")

        system.stop("product")
        # The Order Service's 503 says why in its detail, which the banner shows (not its title as well).
        expect(demo.banner).to_contain_text("the product catalog could not be asked: ", timeout=WAIT_MS)
        expect(demo.banner).not_to_contain_text("The Product Service could not be asked")
        expect(demo.stock("B2")).to_have_text(str(shown))  # what was read last stays on the page
        system.start("product")

        expect(demo.banner).to_be_hidden(timeout=WAIT_MS)

    def test_a_banner_says_the_order_service_cannot_be_reached_and_goes_when_it_is_back(
        self, demo: DemoPage, system: RunningSystem
    ) -> None:
        demo.stock_now("B1")

        system.stop("order")
        expect(demo.banner).to_contain_text("The Order Service cannot be reached", timeout=WAIT_MS)
        expect(demo.product("B1")).to_be_visible()
        system.start("order")

        expect(demo.banner).to_be_hidden(timeout=WAIT_MS)
        expect(demo.page.locator("#refreshed")).to_contain_text("Last refreshed at")
