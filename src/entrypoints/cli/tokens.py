"""Who `ordering` is to the services: `ordering token`, and what to say when a token or a role is missing.

The services only verify tokens. On one machine no identity provider issues them, so the services make a
local key file at start (AUTH_LOCAL_KEY_FILE, by default DATA_DIR/local-keys.json) and `ordering token` signs
with that same file, found by the same settings: a token printed here is one they accept. With a provider
configured (AUTH_JWKS_URL, AUTH_KEY_FILES) they would not, so none is made (`TokenUnavailable`).

The token is the last line printed, so `ordering token --admin | tail -1` is the token alone; the lines
before it are for a person. `make run` signs its banner's tokens with `mint` too.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from attrs import frozen

from adapters.identity.local import LocalKeyError
from entrypoints.cli.api import Problem
from entrypoints.identity import local_issuer
from entrypoints.settings import Settings
from ordering_core.customers import Role

# The subjects of the tokens with roles: names a person recognises in a log line or an order listing.
ADMIN_SUBJECT = "admin"
PAYMENTS_SUBJECT = "payment-provider"
DEFAULT_TTL_S = 3600
MAX_TTL_S = 30 * 24 * 3600  # long enough for a demo that runs for weeks; a token cannot be revoked

# The line under a 401 or 403: what would do. The refusal above it has said what is missing, so these do
# not say it again.
NEEDS_A_TOKEN = "set ORDERING_TOKEN (ordering token --customer you) or pass --token"
TOKEN_NOT_ACCEPTED = "a new one, signed with the services' key: ordering token --customer you"
PAYMENT_NEEDS_ROLE = "a token that may: ordering token --payments"
NEEDS_ADMIN = "a token that may: ordering token --admin"
NEEDS_AN_ADMIN_TOKEN = "set ORDERING_TOKEN (ordering token --admin) or pass --token"


class TokenUnavailable(Exception):
    """No token the services would accept can be signed here; the message says why."""


@frozen
class Minted:
    token: str
    customer_id: str
    roles: tuple[Role, ...]
    expires_at: datetime

    def json(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "customer_id": self.customer_id,
            "roles": [role.value for role in self.roles],
            "expires_at": self.expires_at.isoformat(),
        }


def mint(
    settings: Settings, customer_id: str, roles: Iterable[Role] = (), *, ttl_s: int, now: float | None = None
) -> Minted:
    """A token signed with the local key the services read, making the key file if it is missing."""
    try:
        issuer = local_issuer(settings)
    except ValueError as error:
        raise TokenUnavailable(str(error)) from None
    issued = int(time.time() if now is None else now)
    granted = tuple(sorted(set(roles)))
    try:
        token = issuer.token(customer_id, roles=granted, ttl_s=ttl_s, now=issued)
    except LocalKeyError as error:
        raise TokenUnavailable(str(error)) from None
    return Minted(token, customer_id, granted, datetime.fromtimestamp(issued + ttl_s, UTC))


def subject_and_roles(customer: str | None, *, admin: bool, payments: bool) -> tuple[str, tuple[Role, ...]]:
    """Whom `ordering token --customer ID | --admin | --payments` is for (argparse lets exactly one through)."""
    if admin:
        return ADMIN_SUBJECT, (Role.ADMIN,)
    if payments:
        return PAYMENTS_SUBJECT, (Role.PAYMENTS,)
    if customer is None:
        raise ValueError("one of --customer, --admin or --payments is required")
    return customer, ()


def lines(minted: Minted, again: Sequence[str]) -> list[str]:
    """For a person: whom it is for, until when, how to use it; then the token, last, for `tail -1`."""
    roles = ", ".join(f"role {role.value}" for role in minted.roles) or "a customer: no roles"
    command = shlex.join(["ordering", *again])
    return [
        f"A token for {minted.customer_id} ({roles}), valid until {minted.expires_at:%Y-%m-%d %H:%M:%S} UTC.",
        f"Use it: export ORDERING_TOKEN=$({command} | tail -1)   or: ordering --token <the line below> ...",
        minted.token,
    ]


def hint(problem: Problem, command: str, token_sent: bool) -> list[str]:
    """What would get past a refusal for want of a token (401) or a role (403); nothing for other refusals."""
    if problem.status == 401:
        if token_sent:
            return [TOKEN_NOT_ACCEPTED]
        return [NEEDS_AN_ADMIN_TOKEN if command == "dlq" else NEEDS_A_TOKEN]  # dead letters are admins' only
    if problem.status == 403:
        return [PAYMENT_NEEDS_ROLE if command == "pay" else NEEDS_ADMIN]
    return []
