"""`ordering`, the command line, against the three apps over in-memory adapters: no network, no sleeping.

`main` is given a `connect` that hands it the contract tests' clients (Starlette TestClients, which check
every request the CLI makes against openapi.yaml), and a `Pacing` that bounds `tail --follow` by a number
of looks and changes the system between looks from its `wait`. The clients are signed in as nobody: the
CLI sends the caller's token itself, from ORDERING_TOKEN (customer A's, unless a test says otherwise) or
`--token`, as it does against the real services. `ordering token` signs with a local key file in a
temporary DATA_DIR, and its tokens are checked by the verifier the services build from the same settings.
"""

from __future__ import annotations

import asyncio
import json
import stat
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import pytest
from attrs import define, field, frozen
from http_services import Services, UnreachableCatalog, pen_and_ink, placed_order_id, services

import identities
import localkafka
from adapters.identity.local import LocalKeyFile
from entrypoints.cli import arguments, main
from entrypoints.cli.api import Service
from entrypoints.cli.commands import Pacing
from entrypoints.cli.tokens import (
    NEEDS_A_TOKEN,
    NEEDS_ADMIN,
    PAYMENT_NEEDS_ROLE,
    TOKEN_NOT_ACCEPTED,
)
from entrypoints.cli.values import Item, item
from entrypoints.identity import token_verifier
from entrypoints.settings import Settings
from ordering_core import HoldLimit
from ordering_core.customers import Caller, Role

AT = datetime(2026, 3, 1, 12, 30, 5)
ONE_LOOK = Pacing(looks=1)
# Signed with the tests' key, which the in-memory apps trust (tests/identities.py).
CUSTOMER_A = identities.token(identities.CUSTOMER_A)
CUSTOMER_B = identities.token(identities.CUSTOMER_B)
PAYMENTS = identities.token(identities.PAYMENT_PROVIDER, Role.PAYMENTS)
ADMIN = identities.token(identities.ADMIN, Role.ADMIN)


@frozen
class Ran:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


@define
class Connections:
    """A `connect` that hands out the apps' test clients, signed in as nobody, and remembers which services
    were asked."""

    system: Services
    asked: list[str] = field(factory=list)
    made: dict[str, httpx.Client] = field(factory=dict)  # the latest client of each service, by its name

    def __call__(self, service: Service) -> httpx.Client:
        self.asked.append(service.name)
        names = {"Order Service": "order", "Product Service": "product", "Message Service": "message"}
        self.made[service.name] = self.system.client(names[service.name], {})
        return self.made[service.name]


@pytest.fixture(autouse=True)
def signed_in_as_nobody(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the shell running the tests has in ORDERING_TOKEN, a test starts without one."""
    monkeypatch.delenv("ORDERING_TOKEN", raising=False)


@pytest.fixture
def shop() -> Services:
    return pen_and_ink(pens=10, ink=3)


@pytest.fixture
def connections(shop: Services) -> Connections:
    return Connections(shop)


@pytest.fixture
def ordering(
    connections: Connections, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Ran]:
    """Run `ordering *argv` against the shop as customer A (ORDERING_TOKEN): its exit code and what it printed."""
    monkeypatch.setenv("ORDERING_TOKEN", CUSTOMER_A)

    def run(*argv: str, pacing: Pacing = ONE_LOOK) -> Ran:
        code = main(list(argv), connect=connections, pacing=pacing)
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return Ran(code, out, err)

    return run


def later(system: Services, *pairs: tuple[str, int]) -> str:
    """An order placed a minute after the last one: newest first is then unambiguous."""
    system.clock.advance(timedelta(minutes=1))
    return placed_order_id(system, *pairs)


class TestProducts:
    def test_lists_every_product_with_its_price_and_stock_in_an_aligned_table(self, ordering):
        ran = ordering("products")

        assert ran.code == 0
        assert ran.out == (
            "PRODUCT  NAME  PRICE  STOCK\nink      Ink    1.20      3\npen      Pen    2.50     10\n"
        )

    def test_json_is_the_apis_own_with_money_as_strings(self, ordering, shop):
        ran = ordering("--json", "products")

        assert ran.code == 0
        assert ran.json == shop.product.get("/products").json()
        assert ran.json[1] == {"product_id": "pen", "name": "Pen", "price": "2.50", "stocks": 10}

    def test_says_so_when_there_are_no_products(self, capsys):
        empty = services()

        code = main(["products"], connect=Connections(empty))

        assert (code, capsys.readouterr().out) == (0, "No products yet.\n")

    def test_asks_only_the_product_service(self, ordering, connections):
        ordering("products")

        assert connections.asked == ["Product Service"]


class TestOrder:
    def test_places_the_order_and_shows_its_lines_and_total(self, ordering, shop):
        ran = ordering("order", "pen:2", "ink:1")

        order_id = shop.orders.orders.orders.popitem()[0]
        assert ran.code == 0
        assert ran.out == (
            f"Order {order_id}: unpaid, placed 2026-03-01 12:00:00+00:00\n"
            "  PRODUCT  QUANTITY  UNIT PRICE\n"
            "  pen             2        2.50\n"
            "  ink             1        1.20\n"
            "Total: 6.20\n"
        )
        assert f"ordering pay {order_id}" in ran.err  # the next step, as a hint beside the output

    def test_json_is_the_placed_order_as_the_api_gives_it(self, ordering, shop):
        ran = ordering("--json", "order", "pen:2")

        assert ran.code == 0
        assert ran.json == shop.order.get(f"/orders/{ran.json['order_id']}").json()
        assert (ran.json["status"], ran.json["total"]) == ("unpaid", "5.00")
        assert ran.err == ""

    def test_lists_each_item_that_cannot_be_served_and_why_and_orders_nothing(self, ordering, shop):
        ran = ordering("order", "pen:1", "ink:5", "nib:1")

        assert ran.code == 1
        assert ran.out == ""
        assert ran.err == (
            "ordering: error: 2 items cannot be served; nothing was ordered\n"
            "  PRODUCT  WANTED  IN STOCK  WHY\n"
            "  ink           5         3  not enough in stock\n"
            "  nib           1         0  no such product\n"
        )
        assert shop.orders.orders.orders == {}

    def test_a_refusal_in_json_is_the_problem_document_on_stdout(self, ordering):
        ran = ordering("--json", "order", "ink:5")

        assert ran.code == 1
        assert ran.json["type"] == "/problems/items-unavailable"
        assert ran.json["items"] == [
            {"product_id": "ink", "quantity": 5, "reason": "insufficient_stock", "in_stock": 3}
        ]
        assert ran.err.startswith("ordering: error: 1 item cannot be served; nothing was ordered\n")

    def test_the_same_idempotency_key_gives_back_the_same_order_not_a_second_one(self, ordering, shop):
        first = ordering("--json", "order", "pen:1", "--idempotency-key", "demo-key-1")

        again = ordering("order", "pen:1", "--idempotency-key", "demo-key-1")

        assert (first.code, again.code) == (0, 0)
        assert f"Order {first.json['order_id']}: unpaid" in again.out
        assert "no new order" in again.out
        assert list(shop.orders.orders.orders) == [first.json["order_id"]]

    def test_names_each_field_the_service_finds_wrong_with_its_rule(self, ordering):
        ran = ordering("order", "pen:1", "--idempotency-key", "has space")

        assert ran.code == 1
        assert ran.err.splitlines() == [
            "ordering: error: Idempotency-Key must be 1 to 128 printable ASCII characters, no spaces",
        ]


class TestItemArguments:
    @pytest.mark.parametrize("argument", ["pen", "pen:", ":2", "pen:x", "pen:+1", "pen:--1", "pen:1.5", "pen:٣"])
    def test_an_item_that_is_not_product_colon_quantity_is_a_usage_error(self, ordering, shop, argument):
        ran = ordering("order", argument)

        assert ran.code == 2
        assert ran.err.endswith(
            f"argument PRODUCT:QUANTITY: {argument!r} is not PRODUCT:QUANTITY (e.g. P1:2)\n"
        )
        assert ran.err.startswith("usage: ordering order")
        assert shop.orders.orders.orders == {}

    @pytest.mark.parametrize("argument", ["pen:0", "pen:-1", "pen:10001"])
    def test_a_quantity_out_of_range_is_a_usage_error(self, ordering, argument):
        ran = ordering("order", argument)

        assert ran.code == 2
        assert "the quantity must be from 1 to 10000" in ran.err

    def test_a_product_id_may_itself_contain_a_colon(self):
        assert item("shelf:3:12") == Item("shelf:3", 12)

    def test_an_order_needs_at_least_one_item(self, ordering):
        ran = ordering("order")

        assert ran.code == 2
        assert "the following arguments are required: PRODUCT:QUANTITY" in ran.err


class TestPayAndCancel:
    def test_pay_records_the_payment(self, ordering, shop):
        order_id = placed_order_id(shop, ("pen", 1))

        ran = ordering("--token", PAYMENTS, "pay", order_id)

        assert (ran.code, ran.out) == (0, f"Order {order_id}: paid\n")
        assert shop.order.get(f"/orders/{order_id}").json()["status"] == "paid"

    def test_an_admin_may_record_a_payment_too(self, ordering, shop):
        order_id = placed_order_id(shop, ("pen", 1))

        ran = ordering("--token", ADMIN, "pay", order_id)

        assert (ran.code, ran.out) == (0, f"Order {order_id}: paid\n")

    def test_pay_in_json_is_the_apis_status_reply(self, ordering, shop):
        order_id = placed_order_id(shop, ("pen", 1))

        ran = ordering("--json", "--token", PAYMENTS, "pay", order_id, "--payment-id", "pay-1")

        assert (ran.code, ran.json) == (0, {"order_id": order_id, "status": "paid"})

    def test_paying_again_with_another_payment_id_is_refused(self, ordering, shop):
        order_id = placed_order_id(shop, ("pen", 1))
        ordering("--token", PAYMENTS, "pay", order_id, "--payment-id", "pay-1")

        ran = ordering("--token", PAYMENTS, "pay", order_id, "--payment-id", "pay-2")

        assert ran.code == 1
        assert ran.err == f"ordering: error: order {order_id!r} is paid: cannot pay with 'pay-2', paid with 'pay-1'\n"

    def test_cancel_cancels_at_the_customers_request(self, ordering, shop):
        order_id = placed_order_id(shop, ("pen", 1))

        ran = ordering("cancel", order_id)

        assert (ran.code, ran.out) == (0, f"Order {order_id}: cancelled (customer)\n")

    def test_cancel_in_json_names_the_reason(self, ordering, shop):
        order_id = placed_order_id(shop, ("pen", 1))

        ran = ordering("--json", "cancel", order_id)

        assert ran.json == {"order_id": order_id, "status": "cancelled", "reason": "customer"}

    def test_paying_a_cancelled_order_is_refused(self, ordering, shop):
        order_id = placed_order_id(shop, ("pen", 1))
        ordering("cancel", order_id)

        ran = ordering("--token", PAYMENTS, "pay", order_id)

        assert ran.code == 1
        assert ran.err == f"ordering: error: order {order_id!r} is cancelled: cannot pay\n"

    @pytest.mark.parametrize(
        ("token", "command"), [(PAYMENTS, "pay"), (CUSTOMER_A, "cancel"), (CUSTOMER_A, "show")]
    )
    def test_an_unknown_order_is_refused_with_its_id(self, ordering, token, command):
        ran = ordering("--token", token, command, "no-such-order")

        assert ran.code == 1
        assert ran.out == ""
        assert ran.err == "ordering: error: no order has id 'no-such-order'\n"


class TestShow:
    def test_shows_the_order_and_what_its_customer_was_told_oldest_first(self, ordering, shop):
        order_id = placed_order_id(shop, ("ink", 2))
        shop.clock.advance(timedelta(seconds=30))
        shop.payments.post("/orders/paid", json={"order_id": order_id})
        shop.deliver_status_messages()

        ran = ordering("show", order_id)

        assert ran.code == 0
        assert ran.out == (
            f"Order {order_id}: paid, placed 2026-03-01 12:00:00+00:00\n"
            "  PRODUCT  QUANTITY  UNIT PRICE\n"
            "  ink             2        1.20\n"
            "Total: 2.40\n"
            "\n"
            "Messages to the customer, oldest first:\n"
            "  WHEN                       STATUS  MESSAGE\n"
            f"  2026-03-01 12:00:00+00:00  unpaid  Your order {order_id} is unpaid: please pay to complete it.\n"
            f"  2026-03-01 12:00:30+00:00  paid    Your order {order_id} has been paid. Thank you!\n"
        )

    def test_says_when_the_customer_has_not_been_told_anything_yet(self, ordering, shop):
        order_id = placed_order_id(shop, ("ink", 1))

        ran = ordering("show", order_id)

        assert ran.out.splitlines()[-1].startswith("Messages to the customer: none yet")

    def test_json_is_one_document_with_the_order_and_its_messages(self, ordering, shop):
        order_id = placed_order_id(shop, ("ink", 1))
        shop.deliver_status_messages()

        ran = ordering("--json", "show", order_id)

        assert ran.json == {
            "order": shop.order.get(f"/orders/{order_id}").json(),
            "messages": shop.message.get("/messages", params={"order_id": order_id}).json(),
        }
        assert [m["status"] for m in ran.json["messages"]] == ["unpaid"]

    def test_asks_the_message_service_nothing_about_an_unknown_order(self, ordering, connections):
        ordering("show", "no-such-order")

        assert connections.asked == ["Order Service"]


class TestTail:
    def test_shows_the_most_recent_orders_newest_first(self, ordering, shop):
        first = placed_order_id(shop, ("pen", 1))
        second = later(shop, ("ink", 1))
        ordering("cancel", first)

        ran = ordering("tail")

        assert ran.code == 0
        assert ran.out.splitlines() == [
            "ORDER    STATUS                TOTAL  PLACED",
            f"{second}  unpaid                 1.20  2026-03-01 12:01:00+00:00",
            f"{first}  cancelled (customer)   2.50  2026-03-01 12:00:00+00:00",
        ]

    def test_limit_keeps_only_the_newest(self, ordering, shop):
        placed_order_id(shop, ("pen", 1))
        newest = later(shop, ("pen", 2))

        ran = ordering("--json", "tail", "--limit", "1")

        assert [o["order_id"] for o in ran.json["orders"]] == [newest]
        assert ran.json["next"] == newest  # the API's page, cursor included

    def test_says_so_when_there_are_no_orders(self, ordering):
        assert ordering("tail").out == "No orders yet.\n"

    @pytest.mark.parametrize("limit", ["0", "101", "ten"])
    def test_a_limit_outside_1_to_100_is_a_usage_error(self, ordering, limit):
        ran = ordering("tail", "--limit", limit)

        assert ran.code == 2
        assert f"{limit!r} is not a number from 1 to 100" in ran.err


class TestWhoTheCallerIs:
    def test_sends_the_token_in_ordering_token_as_a_bearer_with_every_request_public_ones_too(
        self, monkeypatch
    ):
        monkeypatch.setenv("ORDERING_TOKEN", CUSTOMER_A)
        sent: list[str | None] = []

        def record(request: httpx.Request) -> httpx.Response:
            sent.append(request.headers.get("Authorization"))
            return httpx.Response(200, json=[])

        main(["products"], connect=answering(record))

        assert sent == [f"Bearer {CUSTOMER_A}"]

    def test_lists_only_the_orders_of_the_customer_the_token_names(self, ordering, shop):
        order_id = placed_order_id(shop, ("pen", 1))  # customer A's

        as_b = ordering("--token", CUSTOMER_B, "tail")
        as_a = ordering("--token", CUSTOMER_A, "tail")

        assert as_b.out == "No orders yet.\n"
        assert order_id in as_a.out

    def test_another_customer_s_order_is_unknown_to_them(self, ordering, shop):
        order_id = placed_order_id(shop, ("pen", 1))  # customer A's

        ran = ordering("--token", CUSTOMER_B, "show", order_id)

        assert ran.code == 1
        assert ran.err == f"ordering: error: no order has id {order_id!r}\n"

    def test_the_token_option_wins_over_ordering_token(self, ordering, shop, monkeypatch):
        order_id = placed_order_id(shop, ("ink", 1))  # customer A's
        monkeypatch.setenv("ORDERING_TOKEN", CUSTOMER_B)

        ran = ordering("--token", CUSTOMER_A, "show", order_id)

        assert ran.code == 0
        assert ran.out.startswith(f"Order {order_id}: unpaid")

    def test_an_empty_token_option_sends_none(self, monkeypatch):
        monkeypatch.setenv("ORDERING_TOKEN", CUSTOMER_A)
        sent: list[str | None] = []

        def record(request: httpx.Request) -> httpx.Response:
            sent.append(request.headers.get("Authorization"))
            return httpx.Response(200, json=[])

        main(["--token", "", "products"], connect=answering(record))

        assert sent == [None]

    def test_anyone_may_list_the_products_without_a_token(self, shop, capsys):
        code = main(["products"], connect=Connections(shop))

        assert code == 0
        assert "pen      Pen" in capsys.readouterr().out

    def test_an_admin_sees_every_customer_s_orders(self, ordering, shop):
        order_id = placed_order_id(shop, ("pen", 1))  # customer A's

        ran = ordering("--token", ADMIN, "--json", "tail")

        assert [o["order_id"] for o in ran.json["orders"]] == [order_id]

    @pytest.mark.parametrize(
        ("where", "said"),
        [("ORDERING_TOKEN", "ordering: error: ORDERING_TOKEN: "), ("--token", "usage: ordering ")],
    )
    def test_all_of_ordering_token_s_output_is_not_a_token_and_is_a_usage_error(
        self, ordering, connections, monkeypatch, where, said
    ):
        everything = (
            f"A token for customer-a (a customer: no roles), valid until ...\nUse it: ...\n{CUSTOMER_A}"
        )
        monkeypatch.setenv("ORDERING_TOKEN", everything)
        argv = ["--token", everything] if where == "--token" else []

        ran = ordering(*argv, "tail")

        assert ran.code == 2
        assert ran.err.startswith(said)
        assert "it is not one token: it has spaces or line breaks (take only the last line" in ran.err
        assert connections.asked == []


class TestRefusalHints:
    def test_a_request_without_a_token_says_how_to_get_one(self, shop, capsys):
        code = main(["order", "pen:1"], connect=Connections(shop))

        assert code == 1
        assert capsys.readouterr().err.splitlines() == [
            "ordering: error: this operation needs a bearer token (Authorization: Bearer <token>)",
            f"  {NEEDS_A_TOKEN}",
        ]

    def test_a_token_the_services_refuse_says_it_may_have_expired(self, ordering):
        expired = identities.token(identities.CUSTOMER_A, ttl_s=-3600)

        ran = ordering("--token", expired, "tail")

        assert ran.code == 1
        assert ran.err.splitlines() == [
            (
                "ordering: error: the bearer token is not valid: it may have expired, or not be one these services "
                "accept"
            ),
            f"  {TOKEN_NOT_ACCEPTED}",
        ]

    def test_a_customer_recording_a_payment_hears_it_needs_the_role_payments(self, ordering, shop):
        order_id = placed_order_id(shop, ("pen", 1))  # customer A's own order

        ran = ordering("pay", order_id)

        assert ran.code == 1
        assert ran.err.splitlines()[0].startswith(
            f"ordering: error: you may not record a payment of order {order_id!r}"
        )
        assert ran.err.splitlines()[1:] == [f"  {PAYMENT_NEEDS_ROLE}"]
        assert "ordering token --payments" in PAYMENT_NEEDS_ROLE
        assert shop.order.get(f"/orders/{order_id}").json()["status"] == "unpaid"

    def test_in_json_the_refusal_is_the_problem_document_and_the_hint_is_on_stderr(self, shop, capsys):
        code = main(["--json", "tail"], connect=Connections(shop))

        out, err = capsys.readouterr()
        assert code == 1
        assert json.loads(out)["type"] == "/problems/unauthenticated"
        assert err.splitlines()[-1] == f"  {NEEDS_A_TOKEN}"

    def test_any_other_refusal_has_no_token_hint(self, ordering):
        ran = ordering("order", "ink:5")

        assert NEEDS_A_TOKEN not in ran.err
        assert NEEDS_ADMIN not in ran.err


def _an_order_of_customer_a_s_then(shop: Services, act: Callable[[str], object]) -> str:
    order_id = placed_order_id(shop, ("pen", 1))
    act(order_id)
    return order_id


def _paying_a_cancelled_order(shop: Services) -> list[str]:
    cancelled = _an_order_of_customer_a_s_then(
        shop, lambda order_id: shop.order.post("/orders/cancel", json={"order_id": order_id})
    )
    return ["--token", PAYMENTS, "pay", cancelled]


def _paying_again_with_another_payment(shop: Services) -> list[str]:
    paid = _an_order_of_customer_a_s_then(
        shop,
        lambda order_id: shop.payments.post("/orders/paid", json={"order_id": order_id, "payment_id": "pay-1"}),
    )
    return ["--token", PAYMENTS, "pay", paid, "--payment-id", "pay-2"]


def _reusing_an_idempotency_key(shop: Services) -> list[str]:
    pen = {"items": [{"product_id": "pen", "quantity": 1}]}
    shop.order.post("/orders/order", json=pen, headers={"Idempotency-Key": "k-1"})
    return ["order", "pen:2", "--idempotency-key", "k-1"]


# One way to meet each refusal `ordering` can meet, by its problem type: the arguments, once what they need
# is arranged in the shop.
REFUSALS: dict[str, Callable[[Services], list[str]]] = {
    "unknown-order": lambda _shop: ["show", "no-such-order"],
    "items-unavailable": lambda _shop: ["order", "ink:5", "nib:1"],
    "invalid-request": lambda _shop: ["order", "pen:1", "--idempotency-key", "has space"],
    "invalid-transition": _paying_a_cancelled_order,
    "already-paid": _paying_again_with_another_payment,
    "idempotency-key-reused": _reusing_an_idempotency_key,
    "unauthenticated": lambda _shop: ["--token", "", "tail"],
    "invalid-token": lambda _shop: ["--token", identities.token(identities.CUSTOMER_A, ttl_s=-3600), "tail"],
    "forbidden": lambda shop: ["pay", placed_order_id(shop, ("pen", 1))],
}


class TestRefusalsAreSaidOnce:
    """A refusal's line is the problem's detail, the sentence about this request, without the title that
    only names its kind: "Unknown order: no order has id 'o-1'" said one thing twice."""

    @pytest.mark.parametrize("meet", REFUSALS.values(), ids=REFUSALS)
    def test_the_error_line_is_the_problem_s_detail_and_not_its_title_too(self, ordering, shop, meet):
        ran = ordering(*meet(shop), "--json")

        problem = ran.json
        assert ran.code == 1
        assert ran.err.splitlines()[0] == f"ordering: error: {problem['detail']}"
        assert ran.err.casefold().count(problem["title"].casefold()) <= 1

    def test_a_customer_whose_unpaid_orders_hold_too_much_hears_it_once(self, capsys):
        shop = pen_and_ink(hold_limit=HoldLimit(1, 50, timedelta(minutes=30)))
        placed_order_id(shop, ("pen", 1))  # customer A's one unpaid order

        code = main(["order", "pen:1", "--token", CUSTOMER_A], connect=Connections(shop))

        assert code == 1
        assert capsys.readouterr().err == (
            "ordering: error: your unpaid orders already hold 1 order of at most 1 and 1 unit of at most 50: "
            "pay or cancel one, or wait for it to expire\n"
        )

    def test_a_detail_that_only_repeats_the_title_is_said_as_the_title(self, capsys):
        def no_such_route(_request: httpx.Request) -> httpx.Response:
            problem = {
                "type": "/problems/not-found",
                "title": "No such resource",
                "status": 404,
                "detail": "no such resource",
            }
            return httpx.Response(404, json=problem)

        code = main(["products"], connect=answering(no_such_route))

        assert (code, capsys.readouterr().err) == (1, "ordering: error: No such resource\n")

    def test_a_problem_without_a_detail_is_said_as_its_title(self, capsys):
        def titled_only(_request: httpx.Request) -> httpx.Response:
            return httpx.Response(409, json={"type": "/problems/x", "title": "Not now", "status": 409})

        code = main(["products"], connect=answering(titled_only))

        assert (code, capsys.readouterr().err) == (1, "ordering: error: Not now\n")

    def test_each_wrong_field_the_detail_does_not_say_with_its_rule_is_listed_under_it(self, capsys):
        def two_wrong_fields(_request: httpx.Request) -> httpx.Response:
            problem = {
                "type": "/problems/invalid-request",
                "title": "The request has invalid fields",
                "status": 422,
                "detail": "2 fields are wrong",
                "errors": [{"field": "limit", "message": "is too big"}, {"field": "sort", "message": "is unknown"}],
            }
            return httpx.Response(422, json=problem)

        code = main(["tail"], connect=answering(two_wrong_fields))

        assert code == 1
        assert capsys.readouterr().err.splitlines() == [
            "ordering: error: 2 fields are wrong",
            "  limit: is too big",
            "  sort: is unknown",
        ]


@pytest.fixture
def local_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The one-machine setup in a temporary DATA_DIR: no identity provider; where the local key file goes."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    for name in ("AUTH_JWKS_URL", "AUTH_KEY_FILES", "AUTH_LOCAL_KEY_FILE", "AUTH_ISSUER", "AUTH_AUDIENCE"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "local-keys.json"


def accepted(token: str) -> Caller:
    """The caller the services see in the token: verified as they verify it, from the same settings."""
    verifier, _closers = token_verifier(Settings.from_environment())
    return asyncio.run(verifier.verify(token))


class TestToken:
    @pytest.mark.parametrize(
        ("who", "subject", "roles"),
        [
            (["--customer", "alice"], "alice", set()),
            (["--admin"], "admin", {Role.ADMIN}),
            (["--payments"], "payment-provider", {Role.PAYMENTS}),
        ],
        ids=["customer", "admin", "payments"],
    )
    def test_the_last_line_is_a_token_the_services_accept_for_that_subject_and_roles(
        self, ordering, local_key, who, subject, roles
    ):
        ran = ordering("token", *who)

        assert ran.code == 0
        assert accepted(ran.out.splitlines()[-1]) == Caller(subject, frozenset(roles))

    def test_the_lines_before_the_token_say_whom_it_is_for_until_when_and_how_to_use_it(
        self, ordering, local_key
    ):
        ran = ordering("token", "--payments")

        first, use, _token = ran.out.splitlines()
        assert first.startswith("A token for payment-provider (role payments), valid until ")
        assert first.endswith(" UTC.")
        assert use.startswith("Use it: export ORDERING_TOKEN=$(ordering token --payments | tail -1)")

    def test_json_is_the_token_with_its_subject_roles_and_expiry(self, ordering, local_key):
        before = time.time()

        ran = ordering("--json", "token", "--admin", "--ttl", "600")

        assert set(ran.json) == {"token", "customer_id", "roles", "expires_at"}
        assert (ran.json["customer_id"], ran.json["roles"]) == ("admin", ["admin"])
        assert accepted(ran.json["token"]).is_admin
        expires = datetime.fromisoformat(ran.json["expires_at"]).timestamp()
        assert before + 600 - 1 <= expires <= time.time() + 600
        assert ran.err == ""

    def test_is_valid_for_an_hour_unless_told(self, ordering, local_key):
        before = time.time()

        ran = ordering("--json", "token", "--customer", "alice")

        expires = datetime.fromisoformat(ran.json["expires_at"]).timestamp()
        assert before + 3600 - 1 <= expires <= time.time() + 3600

    @pytest.mark.parametrize("ttl", ["0", "2592001", "1h", "-5"])
    def test_a_lifetime_outside_1_second_to_30_days_is_a_usage_error(self, ordering, local_key, ttl):
        ran = ordering("token", "--admin", "--ttl", ttl)

        assert ran.code == 2
        assert "is not a number of seconds from 1 to 2592000 (30 days)" in ran.err
        assert not local_key.exists()

    @pytest.mark.parametrize("who", [[], ["--admin", "--payments"], ["--customer", "alice", "--admin"]])
    def test_is_for_exactly_one_of_a_customer_the_admin_or_the_payment_provider(
        self, ordering, local_key, who
    ):
        ran = ordering("token", *who)

        assert ran.code == 2
        assert ran.err.startswith("usage: ordering token")

    @pytest.mark.parametrize("customer", ["has space", "(unidentified)"])
    def test_a_customer_id_the_services_would_refuse_is_a_usage_error(self, ordering, local_key, customer):
        ran = ordering("token", "--customer", customer)

        assert ran.code == 2
        assert f"argument --customer: {customer!r} is " in ran.err

    def test_makes_the_key_file_the_services_read_when_missing_readable_by_its_owner_only(
        self, ordering, local_key
    ):
        ran = ordering("token", "--customer", "alice")

        assert stat.S_IMODE(local_key.stat().st_mode) == 0o600
        assert ran.err == f"Made the local key {local_key}; the services read it when they start.\n"
        assert accepted(ran.out.splitlines()[-1]).customer_id == "alice"

    def test_signs_with_the_key_the_services_made_at_start(self, ordering, local_key):
        made_by_the_services = LocalKeyFile(local_key).ensure()

        ran = ordering("token", "--customer", "alice")

        assert LocalKeyFile(local_key).ensure() == made_by_the_services
        assert ran.err == ""
        assert accepted(ran.out.splitlines()[-1]).customer_id == "alice"

    def test_uses_the_key_file_auth_local_key_file_names(self, ordering, local_key, tmp_path, monkeypatch):
        elsewhere = tmp_path / "keys" / "mine.json"
        monkeypatch.setenv("AUTH_LOCAL_KEY_FILE", str(elsewhere))

        ran = ordering("token", "--admin")

        assert (ran.code, elsewhere.exists(), local_key.exists()) == (0, True, False)
        assert accepted(ran.out.splitlines()[-1]).is_admin

    @pytest.mark.parametrize(
        "provider",
        [{"AUTH_JWKS_URL": "https://id.example/jwks"}, {"AUTH_KEY_FILES": "/etc/ordering/idp.pem"}],
    )
    def test_refuses_when_the_services_take_an_identity_provider_s_tokens(
        self, ordering, local_key, monkeypatch, provider
    ):
        monkeypatch.setenv("AUTH_ISSUER", "https://id.example/")
        for name, value in provider.items():
            monkeypatch.setenv(name, value)

        ran = ordering("token", "--customer", "alice")

        assert (ran.code, ran.out) == (2, "")
        assert len(ran.err.splitlines()) == 1
        assert ran.err.startswith("ordering: error: ")
        assert "AUTH_JWKS_URL" in ran.err and "AUTH_KEY_FILES" in ran.err
        assert not local_key.exists()

    def test_asks_no_service(self, ordering, connections, local_key):
        ordering("token", "--admin")

        assert connections.asked == []


@define
class Between:
    """A `wait` that records each interval and runs the next step, as if time passed and things happened."""

    steps: list[Callable[[], object]]
    waited: list[float] = field(factory=list)

    def __call__(self, interval_s: float) -> None:
        self.waited.append(interval_s)
        if self.steps:
            self.steps.pop(0)()


class TestTailFollow:
    def test_prints_a_line_when_an_orders_status_changes(self, ordering, shop):
        order_id = placed_order_id(shop, ("pen", 1))
        wait = Between([lambda: shop.payments.post("/orders/paid", json={"order_id": order_id})])

        ran = ordering("tail", "--follow", "--interval", "0.5", pacing=Pacing(wait, lambda: AT, looks=3))

        assert ran.code == 0
        assert ran.out.splitlines()[-1] == f"12:30:05  {order_id}  unpaid -> paid"
        assert ran.out.count("->") == 1  # nothing changed in the third look
        assert wait.waited == [0.5, 0.5]
        assert "Ctrl-C stops" in ran.err

    def test_prints_a_line_for_each_new_order_oldest_first(self, ordering, shop):
        placed_order_id(shop, ("pen", 1))
        new: list[str] = []
        wait = Between([lambda: new.extend([later(shop, ("ink", 1)), later(shop, ("pen", 2))])])

        ran = ordering("tail", "--follow", pacing=Pacing(wait, lambda: AT, looks=2))

        assert ran.out.splitlines()[-2:] == [
            f"12:30:05  {new[0]}  placed, unpaid, total 1.20",
            f"12:30:05  {new[1]}  placed, unpaid, total 5.00",
        ]

    def test_starts_with_the_newest_orders_as_tail_shows_them(self, ordering, shop):
        order_id = placed_order_id(shop, ("pen", 1))

        ran = ordering("tail", "--follow", pacing=Pacing(Between([]), lambda: AT, looks=1))

        assert ran.out == ordering("tail").out
        assert order_id in ran.out

    def test_in_json_prints_one_order_object_per_line(self, ordering, shop):
        order_id = placed_order_id(shop, ("pen", 1))
        wait = Between([lambda: shop.order.post("/orders/cancel", json={"order_id": order_id})])

        ran = ordering("--json", "tail", "--follow", pacing=Pacing(wait, lambda: AT, looks=2))

        lines = [json.loads(line) for line in ran.out.splitlines()]
        assert [(o["order_id"], o["status"]) for o in lines] == [
            (order_id, "unpaid"),
            (order_id, "cancelled"),
        ]
        assert lines[1] == shop.order.get(f"/orders/{order_id}").json()
        assert ran.err == ""

    def test_ctrl_c_stops_it_with_exit_0_and_no_traceback(self, ordering, shop):
        order_id = placed_order_id(shop, ("pen", 1))

        def interrupted(_interval_s: float) -> None:
            raise KeyboardInterrupt

        ran = ordering("tail", "--follow", pacing=Pacing(interrupted, lambda: AT, looks=None))

        assert ran.code == 0
        assert order_id in ran.out
        assert "Traceback" not in ran.err + ran.out

    def test_stops_with_exit_3_when_the_order_service_goes_away(self, ordering, connections, monkeypatch):
        def order_service_stops() -> None:
            monkeypatch.setattr(connections.made["Order Service"], "request", refuse_connection)

        ran = ordering("tail", "--follow", pacing=Pacing(Between([order_service_stops]), lambda: AT, looks=3))

        assert ran.code == 3
        assert ran.err.splitlines()[-1].startswith("ordering: error: cannot reach the Order Service")


def refuse_connection(*_args: Any, **_kwargs: Any) -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused")


def answering(handler: Callable[[httpx.Request], httpx.Response]) -> Callable[[Service], httpx.Client]:
    """A `connect` whose every service answers with `handler`."""
    return lambda service: httpx.Client(base_url=service.url, transport=httpx.MockTransport(handler))


class TestUnavailableServices:
    def test_a_service_nobody_listens_for_is_named_with_its_url_and_exit_3(self, capsys):
        url = f"http://127.0.0.1:{localkafka.free_port()}"

        code = main(["--product-url", url, "products"])  # the real httpx client

        assert code == 3
        assert capsys.readouterr().err == (
            f"ordering: error: cannot reach the Product Service at {url} (connection refused); "
            "is `make run` running?\n"
        )

    def test_a_service_that_fails_is_exit_3_with_its_problem(self, capsys):
        def fails(_request: httpx.Request) -> httpx.Response:
            problem = {
                "type": "/problems/internal-error",
                "title": "The service failed",
                "status": 500,
                "detail": "it has been logged",
            }
            return httpx.Response(500, json=problem, headers={"content-type": "application/problem+json"})

        code = main(["--order-url", "http://127.0.0.1:8001", "pay", "o-1"], connect=answering(fails))

        assert code == 3
        assert capsys.readouterr().err == (
            "ordering: error: the Order Service at http://127.0.0.1:8001 answered 500: it has been logged\n"
        )

    def test_an_order_the_product_service_cannot_be_asked_about_is_exit_3(self, capsys):
        shop = services(catalog=UnreachableCatalog())

        code = main(["--token", CUSTOMER_A, "order", "pen:1"], connect=Connections(shop))

        assert code == 3
        assert capsys.readouterr().err == (
            "ordering: error: the Order Service at http://127.0.0.1:8001 answered 503: "
            "the product catalog could not be asked: connection refused\n"
        )

    def test_a_service_too_slow_to_answer_is_exit_3(self, capsys):
        def too_slow(request: httpx.Request) -> httpx.Response:
            raise httpx.ReadTimeout("timed out", request=request)

        code = main(["tail"], connect=answering(too_slow))

        assert code == 3
        assert "did not answer within 10 s" in capsys.readouterr().err

    def test_something_that_is_not_the_ordering_api_is_exit_3(self, capsys):
        def a_web_page(_request: httpx.Request) -> httpx.Response:
            return httpx.Response(404, text="<html>Not Found</html>")

        code = main(["products"], connect=answering(a_web_page))

        assert code == 3
        assert (
            "answered 404 with something that is not JSON; is that the right URL?" in capsys.readouterr().err
        )


# Every command with what it takes besides, for the specifications that hold for all of them.
EVERY_COMMAND = {
    "products": ["products"],
    "order": ["order", "pen:1", "--idempotency-key", "k-1"],
    "pay": ["pay", "o-1", "--payment-id", "pay-1"],
    "cancel": ["cancel", "o-1"],
    "show": ["show", "o-1"],
    "tail": ["tail", "--limit", "3", "--follow"],
    "token": ["token", "--customer", "alice", "--ttl", "60"],
}
GLOBAL_OPTIONS = [
    "--json",
    "--token",
    "t0ken",
    "--order-url",
    "http://orders.test:1",
    "--product-url",
    "http://products.test:2",
    "--message-url",
    "http://messages.test:3",
]


class TestGlobalOptions:
    """`--json`, `--token` and where the services are go before the command or after it, the same."""

    @pytest.mark.parametrize("command", EVERY_COMMAND.values(), ids=EVERY_COMMAND)
    def test_every_global_option_means_the_same_after_the_command_as_before_it(self, command):
        before = arguments.parser().parse_args([*GLOBAL_OPTIONS, *command])

        after = arguments.parser().parse_args([*command, *GLOBAL_OPTIONS])

        assert after == before
        assert (after.json, after.token, after.order_url, after.product_url, after.message_url) == (
            True,
            "t0ken",
            "http://orders.test:1",
            "http://products.test:2",
            "http://messages.test:3",
        )

    @pytest.mark.parametrize("command", EVERY_COMMAND.values(), ids=EVERY_COMMAND)
    def test_left_out_on_both_sides_they_keep_their_defaults(self, command):
        parsed = arguments.parser().parse_args(command)

        assert (parsed.json, parsed.token, parsed.order_url, parsed.product_url, parsed.message_url) == (
            False,
            None,
            None,
            None,
            None,
        )

    def test_the_json_flag_means_the_same_after_the_command(self, ordering, shop):
        after = ordering("products", "--json")
        before = ordering("--json", "products")

        assert (after.code, after.out) == (before.code, before.out)
        assert after.json == shop.product.get("/products").json()

    def test_a_token_after_the_command_is_the_one_sent(self, ordering, shop):
        order_id = placed_order_id(shop, ("pen", 1))

        ran = ordering("pay", order_id, "--token", PAYMENTS)

        assert (ran.code, ran.out) == (0, f"Order {order_id}: paid\n")

    def test_given_on_both_sides_the_one_after_the_command_wins(self, ordering, shop):
        order_id = placed_order_id(shop, ("pen", 1))

        ran = ordering("--token", CUSTOMER_A, "pay", order_id, "--token", PAYMENTS)

        assert (ran.code, ran.out) == (0, f"Order {order_id}: paid\n")

    def test_a_service_s_url_after_the_command_is_where_the_request_goes(self, capsys):
        asked: list[str] = []

        def record(request: httpx.Request) -> httpx.Response:
            asked.append(str(request.url))
            return httpx.Response(200, json={"orders": [], "next": None})

        main(["tail", "--order-url", "http://orders.test:9/"], connect=answering(record))

        assert asked == ["http://orders.test:9/orders?sort=newest&limit=10"]

    def test_a_bad_value_after_the_command_is_a_usage_error_of_that_command(self, ordering, connections):
        ran = ordering("tail", "--order-url", "localhost:8001")

        assert ran.code == 2
        assert ran.err.startswith("usage: ordering tail")
        assert "argument --order-url: 'localhost:8001' is not an http:// or https:// URL" in ran.err
        assert connections.asked == []

    @pytest.mark.parametrize("command", EVERY_COMMAND)
    def test_each_command_s_help_lists_them(self, ordering, command):
        ran = ordering(command, "--help")

        listed = ran.out.split("global options (before or after the command):\n", 1)[1]
        for option in ("--json", "--token", "--order-url", "--product-url", "--message-url"):
            assert f"  {option}" in listed


class TestUsageAndHelp:
    def test_version_is_the_installed_distribution_s(self, ordering):
        ran = ordering("--version")

        assert (ran.code, ran.out) == (0, f"ordering {version('ordering')}\n")

    def test_help_explains_the_exit_codes_with_an_example(self, ordering):
        ran = ordering("--help")

        assert ran.code == 0
        assert "ordering order P1:2 P3:1" in ran.out
        for code in ("0 ", "1 ", "2 ", "3 "):
            assert f"\n  {code}" in ran.out

    @pytest.mark.parametrize("command", ["products", "order", "pay", "cancel", "show", "tail", "token"])
    def test_each_command_explains_itself_with_an_example(self, ordering, command):
        ran = ordering(command, "--help")

        assert ran.code == 0
        assert f"example:\n  ordering {command}" in ran.out

    def test_no_command_is_a_usage_error(self, ordering):
        ran = ordering()

        assert ran.code == 2
        assert "the following arguments are required: COMMAND" in ran.err

    def test_a_url_that_is_not_http_is_a_usage_error(self, ordering):
        assert ordering("--order-url", "localhost:8001", "tail").code == 2

    def test_a_bad_setting_in_the_environment_is_named(self, ordering, monkeypatch):
        monkeypatch.setenv("ORDER_PORT", "eighty")

        ran = ordering("tail")

        assert ran.code == 2
        assert ran.err.startswith("ordering: error: ORDER_PORT='eighty' is not a port number")

    def test_the_services_are_where_their_own_settings_put_them(self, monkeypatch, capsys):
        monkeypatch.setenv("ORDER_PORT", "18001")
        asked: list[str] = []

        def record(request: httpx.Request) -> httpx.Response:
            asked.append(str(request.url))
            return httpx.Response(200, json={"orders": [], "next": None})

        main(["tail", "--limit", "3"], connect=answering(record))

        assert asked == ["http://127.0.0.1:18001/orders?sort=newest&limit=3"]

    def test_ctrl_c_during_a_command_exits_130_quietly(self, capsys):
        def interrupted(_request: httpx.Request) -> httpx.Response:
            raise KeyboardInterrupt

        code = main(["products"], connect=answering(interrupted))

        assert code == 130
        assert capsys.readouterr().err == ""

    def test_a_reader_that_stops_reading_ends_it_quietly(self, ordering, shop, monkeypatch):
        class ClosedPipe:
            def write(self, _text: str) -> int:
                raise BrokenPipeError

            def flush(self) -> None:
                raise BrokenPipeError

        monkeypatch.setattr(sys, "stdout", ClosedPipe())

        ran = ordering("products")

        assert ran.code == 0
