"""What every service does alike: probes, the spec, correlation ids, errors outside any operation, lifespan.

Every response is also checked against openapi.yaml by the client itself (`http_contract.ContractClient`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from importlib.metadata import version
from typing import Any

import pytest
import yaml
from http_contract import SPEC_PATH, TestClient
from http_services import Clock, Ids, Services, services
from starlette.applications import Starlette
from starlette.requests import Request

import identities
from adapters.http.probes import probe_routes
from adapters.http.problems import ApiError, for_domain_error
from adapters.http.service import read_json
from adapters.memory.catalog import InMemoryProductCatalog
from adapters.memory.orders import InMemoryOrderUnitOfWork
from adapters.memory.products import InMemoryProductUnitOfWork
from adapters.memory.views import InMemoryOrderViews
from entrypoints import order_app
from ordering_core import OrderingError, errors
from ordering_core.ports import run_here

SERVICES = ["order", "product", "message"]


def client(system: Services, name: str) -> TestClient:
    return getattr(system, name)  # type: ignore[no-any-return]


async def fine() -> str | None:
    return None


async def broker_down() -> str | None:
    return "no broker at 127.0.0.1:9092"


async def crashing() -> str | None:
    raise ConnectionRefusedError("database is locked")


@pytest.mark.parametrize("name", SERVICES)
class TestEveryService:
    def test_is_alive_and_says_which_version_it_runs(self, name: str) -> None:
        answer = client(services(), name).get("/healthz")

        assert (answer.status_code, answer.json()) == (200, {"status": "ok", "version": version("ordering")})

    def test_is_ready_when_every_check_passes(self, name: str) -> None:
        answer = client(services(readiness={"database": fine, "kafka": fine}), name).get("/readyz")

        assert answer.status_code == 200
        assert answer.json() == {"status": "ready", "checks": {"database": "ok", "kafka": "ok"}}

    def test_is_not_ready_while_a_check_fails_and_names_it(self, name: str) -> None:
        answer = client(services(readiness={"database": fine, "kafka": broker_down}), name).get("/readyz")

        assert answer.status_code == 503
        assert answer.json()["type"] == "/problems/not-ready"
        assert answer.json()["detail"] == "not ready: kafka"
        assert answer.json()["checks"] == {"database": "ok", "kafka": "no broker at 127.0.0.1:9092"}

    def test_serves_the_spec_it_is_held_to(self, name: str) -> None:
        answer = client(services(), name).get("/openapi.yaml")

        assert answer.headers["content-type"].startswith("application/yaml")
        assert answer.content == SPEC_PATH.read_bytes()

    def test_keeps_a_valid_correlation_id_and_replaces_anything_else(self, name: str) -> None:
        system = services()

        kept = client(system, name).get("/healthz", headers={"X-Correlation-Id": "trace-7"})
        replaced = client(system, name).get("/healthz", headers={"X-Correlation-Id": "<script>"})
        empty = client(system, name).get("/healthz", headers={"X-Correlation-Id": ""})
        made = client(system, name).get("/healthz")

        assert kept.headers["x-correlation-id"] == "trace-7"
        assert (replaced.status_code, replaced.headers["x-correlation-id"]) == (200, f"{name}-1")
        assert (empty.status_code, empty.headers["x-correlation-id"]) == (200, f"{name}-2")
        assert made.headers["x-correlation-id"] == f"{name}-3"

    def test_without_a_correlation_id_a_w3c_traceparent_s_trace_id_is_taken(self, name: str) -> None:
        trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
        traceparent = f"00-{trace_id}-00f067aa0ba902b7-01"
        system = services()

        joined = client(system, name).get("/healthz", headers={"traceparent": traceparent})
        both = client(system, name).get(
            "/healthz", headers={"traceparent": traceparent, "X-Correlation-Id": "trace-7"}
        )
        invalid = client(system, name).get("/healthz", headers={"traceparent": f"00-{'0' * 32}-00f067aa0ba902b7-01"})

        assert joined.headers["x-correlation-id"] == trace_id
        assert both.headers["x-correlation-id"] == "trace-7"
        assert invalid.headers["x-correlation-id"] == f"{name}-1"

    def test_an_unknown_path_is_a_404_problem_with_a_correlation_id(self, name: str) -> None:
        answer = client(services(), name).get("/nowhere", headers={"X-Correlation-Id": "trace-8"})

        assert answer.status_code == 404
        assert answer.json()["type"] == "/problems/not-found"
        assert answer.headers["x-correlation-id"] == "trace-8"

    def test_a_wrong_method_is_a_405_problem_naming_the_allowed_ones(self, name: str) -> None:
        answer = client(services(), name).delete("/healthz")

        assert answer.status_code == 405
        assert answer.json()["type"] == "/problems/method-not-allowed"
        assert set(answer.headers["allow"].split(", ")) == {"GET", "HEAD"}


class TestMethods:
    """Any method a path does not have, OPTIONS included, is a 405 whose `Allow` names all the path has."""

    @pytest.mark.parametrize("method", ["OPTIONS", "PATCH", "DELETE"])
    def test_allow_names_every_method_of_a_path_served_by_several_routes(self, method: str) -> None:
        answer = services().product.request(method, "/products/pen")

        assert answer.status_code == 405
        assert answer.headers["allow"] == "GET, HEAD, PUT"

    def test_a_static_path_is_not_read_as_a_parameter_for_its_other_methods(self) -> None:
        answer = services().product.get("/products/availability")

        assert (answer.status_code, answer.headers["allow"]) == (405, "POST")

    @pytest.mark.parametrize(
        ("name", "path", "allow"),
        [
            ("order", "/orders/order", {"POST"}),
            ("order", "/orders/o-1", {"GET", "HEAD"}),
            ("message", "/messages", {"GET", "HEAD"}),
            ("product", "/openapi.yaml", {"GET", "HEAD"}),
        ],
    )
    def test_options_answers_405_with_allow(self, name: str, path: str, allow: set[str]) -> None:
        answer = client(services(), name).options(path)

        assert (answer.status_code, set(answer.headers["allow"].split(", "))) == (405, allow)
        assert answer.json()["type"] == "/problems/method-not-allowed"


class TestReadiness:
    def test_a_check_that_raises_is_a_reason_not_a_crash(self) -> None:
        answer = services(readiness={"database": crashing}).order.get("/readyz")

        assert answer.status_code == 503
        assert answer.json()["checks"] == {"database": "ConnectionRefusedError: database is locked"}

    def test_a_check_that_hangs_is_cut_off_at_its_deadline(self) -> None:
        async def hangs() -> str | None:
            await asyncio.Event().wait()
            return None

        app = Starlette(routes=probe_routes({"kafka": hangs}, check_timeout_s=0.05))

        answer = TestClient(app).get("/readyz")

        assert answer.status_code == 503
        assert answer.json()["checks"] == {"kafka": "no answer within 0.05 s"}

    def test_with_no_checks_the_service_is_ready(self) -> None:
        assert services().message.get("/readyz").json() == {"status": "ready", "checks": {}}


class TestRequestBodies:
    def test_reading_stops_at_the_first_chunk_past_64_kib(self) -> None:
        received = 0

        async def receive() -> dict[str, Any]:
            nonlocal received
            received += 1
            return {
                "type": "http.request",
                "body": b" " * 1024,
                "more_body": True,
            }  # a client that never stops

        request = Request({"type": "http", "method": "POST", "path": "/", "headers": []}, receive)

        with pytest.raises(ApiError) as refused:
            asyncio.run(read_json(request))

        assert refused.value.kind.uri == "/problems/body-too-large"
        assert received == 65


class TestServerErrors:
    def test_a_failure_of_the_service_is_a_500_problem_that_reveals_nothing(self) -> None:
        class BrokenViews(InMemoryOrderViews):
            def order(self, order_id: str) -> Any:
                raise RuntimeError("secret connection string")

        orders = InMemoryOrderUnitOfWork()
        app = order_app.create_app(
            uow=lambda: orders,
            offload=run_here,
            views=BrokenViews(orders),
            catalog=InMemoryProductCatalog(InMemoryProductUnitOfWork()),
            idempotency=orders.keys,
            verifier=identities.verifier(),
            new_id=Ids("order"),
            clock=Clock(),
            readiness={},
        )

        answer = TestClient(app, raise_server_exceptions=False, headers=identities.bearer()).get("/orders/o-1")

        assert answer.status_code == 500
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"] == "/problems/internal-error"
        assert "secret" not in answer.text


class TestLifespan:
    def test_runs_the_background_work_the_composition_root_gives_it(self) -> None:
        events: list[str] = []

        @asynccontextmanager
        async def relay(_app: Any) -> AsyncIterator[None]:
            events.append("started")
            yield
            events.append("stopped")

        system = services(lifespan=relay)

        with system.order:
            events.append("served")

        assert events == ["started", "served", "stopped"]


class TestErrorTree:
    def test_every_domain_error_has_a_problem_type_of_its_own(self) -> None:
        examples = {
            errors.InvalidValue("quantity", "must be positive", 0): "/problems/invalid-request",
            errors.UnknownOrder("o-1"): "/problems/unknown-order",
            errors.UnknownProduct("p-1"): "/problems/unknown-product",
            errors.OrderUnavailable([]): "/problems/items-unavailable",
            errors.CatalogUnavailable("down"): "/problems/product-service-unavailable",
            errors.InvalidTransition("o-1", "paid", "cancel"): "/problems/invalid-transition",
            errors.AlreadyPaid("o-1", "pay-1", "pay-2"): "/problems/already-paid",
            errors.NotPermitted("o-1", "record a payment of", "the payment provider does"): "/problems/forbidden",
            errors.HoldLimitReached("c-1", "3 orders", timedelta(minutes=5)): "/problems/too-many-unpaid-orders",
            errors.StockNotEditable("p-1", 7, 50): "/problems/stock-not-editable",
        }

        answered = {error: yaml.safe_load(for_domain_error(error).body)["type"] for error in examples}

        assert answered == examples
        assert {type(error) for error in examples} == _subclasses(OrderingError)

    def test_an_error_added_to_the_tree_later_is_still_a_problem(self) -> None:
        class Novel(OrderingError):
            pass

        response = for_domain_error(Novel("something new"))

        assert (response.status_code, yaml.safe_load(response.body)["type"]) == (400, "/problems/refused")


def _subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        if sub.__module__ == errors.__name__:
            found |= {sub, *_subclasses(sub)}
    return found
