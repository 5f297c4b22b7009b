"""Bearer tokens for the tests: one HS256 key, a verifier that trusts it, and tokens for any caller.

    verifier()                          what the apps under test check tokens with
    token("customer-b")                 a customer's token; token("ops", Role.ADMIN) an admin's
    bearer("customer-b")                the Authorization header carrying it

The tokens are real JWTs, signed and checked by the same code the services run (adapters.identity); only the
key is the tests' own.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import jwt

from adapters.identity.keys import StaticKeys, VerificationKey
from adapters.identity.verifier import TokenRules, TokenVerifier
from ordering_core.customers import Role

ISSUER = "ordering-tests"
AUDIENCE = "ordering"
KEY = VerificationKey(kid="tests-1", algorithm="HS256", key=b"tests-only-secret-of-32-bytes-ok!")
RULES = TokenRules(issuer=ISSUER, audience=AUDIENCE)

CUSTOMER_A = "customer-a"
CUSTOMER_B = "customer-b"
PAYMENT_PROVIDER = "payment-provider"
ADMIN = "back-office"


def verifier() -> TokenVerifier:
    return TokenVerifier(StaticKeys([KEY]), RULES)


def token(customer_id: str = CUSTOMER_A, *roles: Role, ttl_s: float = 3600) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": customer_id,
        "iat": now,
        "exp": now + int(ttl_s),
        "roles": [role.value for role in roles],
    }
    return jwt.encode(claims, KEY.key, algorithm="HS256", headers={"kid": KEY.kid})


def bearer(customer_id: str = CUSTOMER_A, *roles: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(customer_id, *roles)}"}


def payments() -> dict[str, str]:
    return bearer(PAYMENT_PROVIDER, Role.PAYMENTS)


def admin() -> dict[str, str]:
    return bearer(ADMIN, Role.ADMIN)


class Issuer:
    """Signs with the tests' key, as the local issuer signs with the local one (for the demo sign-in)."""

    def token(self, customer_id: str, *, roles: Iterable[Role] = (), ttl_s: float = 3600) -> str:
        return token(customer_id, *roles, ttl_s=ttl_s)
