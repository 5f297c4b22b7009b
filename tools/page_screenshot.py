"""docs/page.png: a screenshot of the Order Service's demo page, with sample products and a few orders.

    make run                                  # in one terminal: sample products, no orders yet
    .venv/bin/python tools/page_screenshot.py [--url http://127.0.0.1:8001] [--out docs/page.png]

Run it by hand when the page changes, not in tests (they must not write into docs/). In headless Chromium
(tools/chromium.py) it signs the page in with its Demo sign-in (make run switches it on), then places five
orders through the Order Service's API with the tokens the page holds (one paid, one cancelled, one that
takes the last unit of P5), and tries to order that product again through the page's form, so the refusal
shows too. It waits until the page shows the stock those orders left (after Kafka has carried them to the
Product Service), then saves a full-page screenshot. Against a system without demo sign-in or sample
products, or whose P5 is sold out already, it stops with a message.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import httpx

import chromium

REPO = Path(__file__).resolve().parent.parent
WAIT_MS = 30_000
# (items, what then happens to the order); the sample products are data/sample-products.json.
ORDERS = (
    ({"P1": 2}, "pay"),
    ({"P2": 3, "P3": 6}, None),
    ({"P4": 1}, "cancel"),
    ({"P3": 12}, "pay"),
    ({"P5": 1}, None),
)


class ScreenshotError(Exception):
    """The page could not be set up as the screenshot needs; the message says why."""


def main() -> int:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--url", default="http://127.0.0.1:8001", help="the Order Service (make run's)")
    arguments.add_argument("--out", type=Path, default=REPO / "docs" / "page.png")
    options = arguments.parse_args()
    try:
        take_screenshot(options.url.rstrip("/"), options.out)
    except (ScreenshotError, httpx.HTTPError) as error:
        print(f"page_screenshot: error: {error}", file=sys.stderr)
        return 1
    print(f"page_screenshot: saved {options.out}")
    return 0


def take_screenshot(url: str, out: Path) -> None:
    from playwright.sync_api import expect  # a test extra, as is the browser test that shares chromium.py

    with chromium.headless_chromium() as browser:
        page = browser.new_page()
        page.goto(url + "/")
        page.get_by_role("button", name="Demo sign-in").click()
        try:
            expect(page.locator("#signed-in")).to_be_visible(timeout=WAIT_MS)
        except AssertionError:
            said = page.locator("#session-message").inner_text()
            raise ScreenshotError(f"the page at {url} could not sign in ({said})") from None
        # The demo customer's token, and the payments token its Pay button uses: as the page keeps them.
        customer, payments = (
            page.evaluate(f"() => sessionStorage.getItem('{key}')")
            for key in ("ordering.token", "ordering.paymentsToken")
        )
        stocks, statuses = _place_orders(url, customer, payments)
        for product_id, stock in stocks.items():
            cell = page.locator(f'#products tr[data-product-id="{product_id}"] td.stock')
            expect(cell).to_have_text(str(stock), timeout=WAIT_MS)
        for order_id, status in statuses.items():
            cell = page.locator(f'#orders tr[data-order-id="{order_id}"] .status')
            expect(cell).to_have_text(status, timeout=WAIT_MS)
        page.locator('#products input[data-product-id="P5"]').fill("1")
        page.get_by_role("button", name="Place order").click()
        expect(page.locator("#order-result")).to_contain_text("cannot be served", timeout=WAIT_MS)
        expect(page.locator("#refreshed")).to_contain_text("Last refreshed", timeout=WAIT_MS)
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=out, full_page=True)


def _place_orders(url: str, customer: str, payments: str) -> tuple[dict[str, int], dict[str, str]]:
    """Places ORDERS as the customer (paid with the payments token): the stock each product will have once
    Kafka has carried them, and each order's status."""
    statuses: dict[str, str] = {}
    paying = {"Authorization": f"Bearer {payments}"}
    with httpx.Client(base_url=url, timeout=10.0, headers={"Authorization": f"Bearer {customer}"}) as client:
        stock = {p["product_id"]: p["stocks"] for p in _ok(client.get("/catalog")).json()}
        for items, then in ORDERS:
            if any(product_id not in stock for product_id in items):
                raise ScreenshotError(f"{url} has no sample products (run `make run` on fresh data)")
            body = {"items": [{"product_id": pid, "quantity": quantity} for pid, quantity in items.items()]}
            order_id = _ok(client.post("/orders/order", json=body)).json()["order_id"]
            statuses[order_id] = "unpaid"
            if then == "pay":
                paid = client.post("/orders/paid", json={"order_id": order_id}, headers=paying)
                statuses[order_id] = _ok(paid).json()["status"]
            elif then == "cancel":
                statuses[order_id] = _ok(client.post("/orders/cancel", json={"order_id": order_id})).json()["status"]
            if then != "cancel":  # a cancelled order's stock comes back
                for product_id, quantity in items.items():
                    stock[product_id] -= quantity
    return stock, statuses


def _ok(answer: httpx.Response) -> httpx.Response:
    if answer.is_error:
        raise ScreenshotError(
            f"{answer.request.method} {answer.request.url.path} answered {answer.status_code}: "
            f"{answer.text[:300]}"
        )
    return answer


if __name__ == "__main__":
    sys.exit(main())
