"""Who may call what, walked over every operation openapi.yaml declares, on the three apps.

- The apps and the spec declare the same access for every operation: public (`security: []`), signed in
  (the document's default, bearer), or admin (`x-required-role: admin`); and the same operations.
- Every protected operation refuses a request without a token, and one with a token that is not valid, with
  RFC 6750's 401; an admin operation refuses a customer with 403. An operation added later is protected
  unless the spec says `security: []`, and this test then proves the app refuses it too.
- Public operations answer without a token.
"""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from http_contract import METHODS, OpenApi
from http_services import Services, pen_and_ink

import identities
from adapters.http.access import Access
from adapters.http.demo_page import DemoSignIn
from entrypoints.in_process import Counter

SPEC = OpenApi.load().document
SERVICE_BY_PORT = {"8001": "order", "8002": "product", "8003": "message"}
EVERY_SERVICE = ("order", "product", "message")
EXAMPLE_PATH_VALUES = {"{order_id}": "o-1", "{product_id}": "pen"}


def declared_access(operation: dict[str, Any]) -> Access:
    security = operation.get("security", SPEC["security"])
    if security == []:
        return Access.PUBLIC
    assert security == [{"bearer": []}], security
    return Access.ADMIN if operation.get("x-required-role") == "admin" else Access.SIGNED_IN


def services_of(item: dict[str, Any]) -> tuple[str, ...]:
    servers = item.get("servers")
    if servers is None:
        return EVERY_SERVICE  # the operations every service answers
    return tuple(SERVICE_BY_PORT[server["url"].rsplit(":", 1)[1]] for server in servers)


def operations() -> list[tuple[str, str, str, Access]]:
    """(service, METHOD, path template, access) for every operation of the spec, on each service serving it."""
    return [
        (service, method.upper(), template, declared_access(item[method]))
        for template, item in SPEC["paths"].items()
        for method in METHODS
        if method in item
        for service in services_of(item)
    ]


PROTECTED = [(s, m, t) for s, m, t, access in operations() if access is not Access.PUBLIC]
ADMIN_ONLY = [(s, m, t) for s, m, t, access in operations() if access is Access.ADMIN]
PUBLIC = [(s, m, t) for s, m, t, access in operations() if access is Access.PUBLIC]


def concrete(template: str) -> str:
    path = template
    for placeholder, value in EXAMPLE_PATH_VALUES.items():
        path = path.replace(placeholder, value)
    return path


def send(system: Services, service: str, method: str, template: str, headers: dict[str, str]) -> Any:
    client = system.client(service, headers)
    body = {} if method in ("POST", "PUT") else None
    return client.request(method, concrete(template), json=body, params={"order_id": "o-1"})


def expired_token() -> str:
    past = int(time.time()) - 3600
    claims = {"iss": identities.ISSUER, "aud": identities.AUDIENCE, "sub": "customer-a", "exp": past}
    return jwt.encode(claims, identities.KEY.key, algorithm="HS256", headers={"kid": identities.KEY.kid})


GENERIC_DETAIL = "the bearer token is not valid: it may have expired, or not be one these services accept"
INVALID_TOKENS = {
    "not a JWT": "not-a-token",
    "expired": expired_token(),
    "signed by another key": jwt.encode(
        {"iss": identities.ISSUER, "aud": identities.AUDIENCE, "sub": "a", "exp": int(time.time()) + 60},
        b"someone-else's-secret-of-32-bytes",
        algorithm="HS256",
        headers={"kid": identities.KEY.kid},
    ),
    "alg none": jwt.encode(
        {"iss": identities.ISSUER, "aud": identities.AUDIENCE, "sub": "a", "exp": int(time.time()) + 60},
        None,
        algorithm="none",
    ),
}


class TestTheAppsAndTheSpecAgree:
    def test_every_operation_has_the_access_the_spec_declares_and_no_app_has_another(self) -> None:
        system = pen_and_ink(demo_sign_in=DemoSignIn(identities.Issuer(), Counter("demo")))
        served = {
            (service, method, path): access
            for service, app in system.apps.items()
            for (method, path), access in app.state.access.items()
        }

        declared = {(s, m, t): access for s, m, t, access in operations()}

        assert served == declared

    def test_the_walk_covers_the_protected_operations_of_all_three_services(self) -> None:
        assert {service for service, _, _ in PROTECTED} == set(EVERY_SERVICE)
        assert len(PROTECTED) == 17
        assert len(ADMIN_ONLY) == 11  # two product operations, and three dead-letter ones on each service


@pytest.mark.parametrize(("service", "method", "template"), PROTECTED)
class TestEveryProtectedOperation:
    def test_refuses_a_request_without_a_token_with_a_bearer_challenge(
        self, service: str, method: str, template: str
    ) -> None:
        answer = send(pen_and_ink(), service, method, template, headers={})

        assert answer.status_code == 401
        assert answer.json()["type"] == "/problems/unauthenticated"
        assert answer.headers["WWW-Authenticate"] == 'Bearer realm="ordering"'

    def test_refuses_another_scheme_than_bearer(self, service: str, method: str, template: str) -> None:
        answer = send(pen_and_ink(), service, method, template, headers={"Authorization": "Basic YTpi"})

        assert answer.status_code == 401
        assert answer.json()["type"] == "/problems/unauthenticated"

    @pytest.mark.parametrize("token", INVALID_TOKENS.values(), ids=INVALID_TOKENS.keys())
    def test_refuses_a_token_that_is_not_valid_without_saying_why(
        self, service: str, method: str, template: str, token: str
    ) -> None:
        answer = send(pen_and_ink(), service, method, template, headers={"Authorization": f"Bearer {token}"})

        assert answer.status_code == 401
        assert answer.json()["type"] == "/problems/invalid-token"
        assert answer.headers["WWW-Authenticate"] == 'Bearer realm="ordering", error="invalid_token"'
        # The same words whatever is wrong: why goes to the log, not to whoever holds the token.
        assert answer.json()["detail"] == GENERIC_DETAIL


@pytest.mark.parametrize(("service", "method", "template"), ADMIN_ONLY)
class TestEveryAdminOperation:
    def test_refuses_a_customer(self, service: str, method: str, template: str) -> None:
        answer = send(pen_and_ink(), service, method, template, headers=identities.bearer("customer-a"))

        assert answer.status_code == 403
        assert answer.json()["type"] == "/problems/forbidden"
        assert answer.headers["WWW-Authenticate"] == 'Bearer realm="ordering", error="insufficient_scope"'

    def test_refuses_the_payment_provider(self, service: str, method: str, template: str) -> None:
        answer = send(pen_and_ink(), service, method, template, headers=identities.payments())

        assert answer.status_code == 403


@pytest.mark.parametrize(("service", "method", "template"), PUBLIC)
class TestEveryPublicOperation:
    def test_answers_without_a_token(self, service: str, method: str, template: str) -> None:
        answer = send(pen_and_ink(), service, method, template, headers={})

        assert answer.status_code != 401
