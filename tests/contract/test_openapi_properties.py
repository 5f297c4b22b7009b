"""Schemathesis drives each service from openapi.yaml, in-process: no server error, no answer the spec lacks.

Each app gets the operations tagged with its service plus the `Operations` every service serves. Per operation
schemathesis runs the spec's examples, its coverage cases (each schema's boundaries and near misses, methods
the path does not have) and fuzzing with valid and invalid data. Every answer must pass schemathesis's
conformance checks (status code, media type, headers, body schema) and `http_contract`'s own, which also
checks `date-time`s, and that a request to no declared operation answers a 404 or 405 problem.

Each request meets a freshly seeded shop: pen (50 on the shelf) and ink (5), and for the Order and Message
Services an unpaid, a paid and a cancelled order whose messages were delivered. While fuzzing, half the cases
have every `product_id`, `order_id` and `quantity` they carry (in the path, the query or the body) taken from
the shop, so reads, restocks, renames, payments, cancellations and orders meet existing resources too and an
order can be placed (201), not only refused.

Every case is sent by one of the callers a service meets (tests/identities.py): the customer whose orders the
shop holds, another customer, the payment provider, an admin, nobody, or a token that is not one. So the
protected operations answer 401, 403 and 404 as declared as well as their successes.

Bounded and repeatable: a fixed seed, derandomized, no example database. Fuzzing makes a quarter of the
Hypothesis profile's `max_examples` per operation: 25 under `make test`, 500 under `make soak`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import httpx
import schemathesis
from http_contract import SPEC_PATH, OpenApi
from http_services import Services, pen_and_ink, placed_order_id
from hypothesis import settings
from hypothesis import strategies as st
from schemathesis import Case, CheckContext, Response
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import identities


def shop() -> Services:
    return pen_and_ink(pens=50, ink=5)


def shop_with_orders() -> Services:
    system = shop()
    placed_order_id(system, ("pen", 1))
    paid, cancelled = placed_order_id(system, ("pen", 2)), placed_order_id(system, ("pen", 3))
    assert system.payments.post("/orders/paid", json={"order_id": paid}).status_code == 200
    assert system.order.post("/orders/cancel", json={"order_id": cancelled}).status_code == 200
    system.deliver_status_messages()
    return system


def declared_by_openapi_yaml(ctx: CheckContext, response: Response, case: Case) -> None:
    """http_contract's checker, the oracle of every other HTTP test, on schemathesis's response."""
    request = httpx.Request(response.request.method or "GET", response.request.url or "")
    headers = [(name, value) for name, values in response.headers.items() for value in values]
    OpenApi.load().check(
        httpx.Response(response.status_code, headers=headers, content=response.content, request=request)
    )


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    declared_by_openapi_yaml,
]

# Fuzzing examples per operation follow the Hypothesis profile (tests/conftest.py); the coverage phase adds
# a fixed set of cases per operation on top of them.
spec = schemathesis.openapi.from_path(
    SPEC_PATH,
    config=schemathesis.Config.from_dict(
        {
            "seed": 20260301,
            "generation": {
                "max-examples": max(1, settings().max_examples // 4),
                "deterministic": True,
                "database": "none",
            },
        }
    ),
)

SEEDED_FIELDS = ("product_id", "order_id", "quantity")
CALLERS: tuple[dict[str, str], ...] = (
    identities.bearer(identities.CUSTOMER_A),
    identities.bearer(identities.CUSTOMER_B),
    identities.payments(),
    identities.admin(),
    {},
    {"Authorization": "Bearer not.a-token"},
)


@cache
def seeded_values() -> dict[str, tuple[Any, ...]]:
    """What a seeded shop serves, by the field that names it (ids are deterministic: every shop has these)."""
    system = shop_with_orders()
    return {
        "product_id": tuple(sorted(system.products.products.products)),
        "order_id": tuple(sorted(system.orders.orders.orders)),
        "quantity": (1, 2, 3),
    }


@spec.hook
def flatmap_case(context: schemathesis.HookContext, case: Case) -> st.SearchStrategy[Case]:
    """The case as generated, or with every `product_id`, `order_id` and `quantity` in it from the shop; sent
    by one of the `CALLERS`."""
    slots = [*_slots(case.path_parameters), *_slots(case.query), *_slots(case.body)]
    cases = st.just(case)
    if slots:

        def seeded(values: tuple[Any, ...]) -> Case:
            for (_, put), value in zip(slots, values, strict=True):
                put(value)
            return case

        values = st.tuples(*(st.sampled_from(seeded_values()[name]) for name, _ in slots))
        cases = cases | values.map(seeded)
    return st.tuples(cases, st.sampled_from(CALLERS)).map(lambda both: _sent_by(*both))


def _sent_by(case: Case, caller: dict[str, str]) -> Case:
    headers = {name: value for name, value in (case.headers or {}).items() if name.lower() != "authorization"}
    case.headers = {**headers, **caller}
    return case


def _slots(value: Any) -> list[tuple[str, Callable[[Any], None]]]:
    """(field, setter) for every key in SEEDED_FIELDS anywhere in a JSON-like value."""
    if isinstance(value, list):
        return [slot for item in value for slot in _slots(item)]
    if not isinstance(value, dict):
        return []
    slots = [(key, _setter(value, key)) for key in value if key in SEEDED_FIELDS]
    return slots + [slot for item in value.values() for slot in _slots(item)]


def _setter(container: dict[str, Any], key: str) -> Callable[[Any], None]:
    return lambda value: container.__setitem__(key, value)


def answer(case: Case, app: Any) -> None:
    case.call_and_validate(app=app, checks=CHECKS)


@spec.include(tag=["Product Service", "Operations"]).parametrize()
def test_product_service_answers_every_request_as_declared(case: Case) -> None:
    answer(case, shop().product.app)


@spec.include(tag=["Order Service", "Operations"]).parametrize()
def test_order_service_answers_every_request_as_declared(case: Case) -> None:
    answer(case, shop_with_orders().order.app)


@spec.include(tag=["Message Service", "Operations", "Dead letters"]).parametrize()
def test_message_service_answers_every_request_as_declared(case: Case) -> None:
    answer(case, shop_with_orders().message.app)
