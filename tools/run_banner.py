"""The banner `make run` (tools/run.py) prints on stderr once everything is up, and the tokens it shows.

Where everything is, how to sign in, and commands to paste. The tokens are signed with the local key the
services verify with, so only once the services are ready (they make the key file at start); with an
identity provider configured (AUTH_JWKS_URL, AUTH_KEY_FILES) nothing here can sign one, and the banner says
where to get them instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from attrs import frozen

from entrypoints.cli.tokens import ADMIN_SUBJECT, PAYMENTS_SUBJECT, TokenUnavailable, mint
from entrypoints.settings import Settings
from ordering_core.customers import Role

DEMO_CUSTOMER = "demo-customer"  # the banner's customer token's subject
BANNER_TOKEN_TTL_S = 12 * 3600  # a working day of trying things; `ordering token` makes more


@frozen
class Tokens:
    """The banner's tokens, signed with the local key the services verify with."""

    customer: str
    payments: str
    admin: str


def banner_tokens(settings: Settings) -> Tokens | None:
    """A customer's, the payment provider's and an admin's token; None where only a provider signs them."""
    try:
        return Tokens(
            customer=mint(settings, DEMO_CUSTOMER, ttl_s=BANNER_TOKEN_TTL_S).token,
            payments=mint(settings, PAYMENTS_SUBJECT, [Role.PAYMENTS], ttl_s=BANNER_TOKEN_TTL_S).token,
            admin=mint(settings, ADMIN_SUBJECT, [Role.ADMIN], ttl_s=BANNER_TOKEN_TTL_S).token,
        )
    except TokenUnavailable:
        if settings.external_identity_provider:
            return None
        raise


def banner(
    urls: dict[str, str],
    bootstrap: str,
    data_dir: Path | str,
    tokens: Tokens | None,
    demo_off: str | None,
    others: Mapping[str, str] | None = None,
) -> str:
    """What a person needs to start: where everything is, how to sign in, tokens and commands to paste.

    `urls`: each service's first instance; `others`: the URL of each further one by its id, `order-2`;
    `data_dir`: where the data is (a folder, or which PostgreSQL)."""
    order, product, message = (urls[name] for name in ("order", "product", "message"))
    more = _other_instances(others or {})
    if demo_off is None:
        page = (
            f" Open {order}/ for the demo page: one click on Demo sign-in there\n"
            " signs you in as a new customer; its Pay button acts as the payment provider."
        )
    else:
        page = (
            f" Open {order}/ for the demo page; sign in there by pasting a token\n"
            f" (demo sign-in is off: {demo_off})."
        )
    if tokens is None:
        try_it = """
 The services take tokens from your identity provider (AUTH_JWKS_URL, AUTH_KEY_FILES): get a customer's
 token there, then, in another terminal:
   export ORDERING_TOKEN=<the token>
   .venv/bin/ordering products
"""
    else:
        try_it = f"""
 Tokens, valid 12 h (make more with .venv/bin/ordering token); in another terminal:
   export CUSTOMER_TOKEN={tokens.customer}   # {DEMO_CUSTOMER}, a customer
   export PAYMENTS_TOKEN={tokens.payments}   # {PAYMENTS_SUBJECT}, role payments
   export ADMIN_TOKEN={tokens.admin}   # {ADMIN_SUBJECT}, role admin
 then:
   export ORDERING_TOKEN=$CUSTOMER_TOKEN
   .venv/bin/ordering products
   .venv/bin/ordering order P1:2 P3:1
   .venv/bin/ordering --token "$PAYMENTS_TOKEN" pay <id>
   .venv/bin/ordering tail -f
 or with curl:
   curl -s {product}/products
   curl -s -X POST {order}/orders/order -H "Authorization: Bearer $CUSTOMER_TOKEN" \\
        -H 'content-type: application/json' -d '{{"items":[{{"product_id":"P1","quantity":2}}]}}'
   curl -s -X POST {order}/orders/paid -H "Authorization: Bearer $PAYMENTS_TOKEN" \\
        -H 'content-type: application/json' -d '{{"order_id":"<id>"}}'
   curl -s '{message}/messages?order_id=<id>' -H "Authorization: Bearer $CUSTOMER_TOKEN"
"""
    return f"""
================================================================================
 ordering is running            (Ctrl-C stops it)
   Order Service    {order}      API: {order}/openapi.yaml
   Product Service  {product}
   Message Service  {message}
{more}   Kafka            {bootstrap}        data: {data_dir}

{page}
 Metrics: <service>/metrics. Logs: below, one JSON object per line on stdout
 (this banner is on stderr), for jq:   make run | jq 'select(.level != "info")'
{try_it}================================================================================
"""


def _other_instances(others: Mapping[str, str]) -> str:
    """A line per further instance (INSTANCES): its id and where it listens; the first ones are above."""
    return "".join(f"   {instance:<16} {url}\n" for instance, url in others.items())
