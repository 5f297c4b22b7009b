"""What each value on the command line must be: argparse `type=` functions, one per kind of value.

Locally we check only what a typo gets wrong (`P1:2`, a URL, a page size), so a person hears about it
before any request is sent; everything else, the services check. Each function returns the value or
raises `argparse.ArgumentTypeError`, whose message argparse prints after the option's name.
"""

from __future__ import annotations

import argparse

from attrs import frozen

from adapters.messaging.dead_letters import DeadLetterRef, MalformedRef
from entrypoints.cli.tokens import MAX_TTL_S
from entrypoints.consumers import consumer_of
from ordering_core.customers import UNIDENTIFIED_CUSTOMER
from ordering_core.errors import InvalidValue
from ordering_core.values import MAX_CUSTOMER_ID_LENGTH, require_customer_id

MAX_QUANTITY = 10_000  # openapi.yaml's Quantity; the service says the same, this only answers sooner
MAX_LIMIT = 100  # openapi.yaml's page size for GET /orders
MAX_INTERVAL_S = 3600


@frozen
class Item:
    """One `PRODUCT:QUANTITY` argument of `ordering order`."""

    product_id: str
    quantity: int


def item(argument: str) -> Item:
    # rpartition: an id may itself contain ':' (openapi.yaml's Id allows it); the quantity comes last.
    product_id, colon, quantity = argument.rpartition(":")
    # A signed quantity is a quantity out of range (P1:-1 as P1:0), not a typo in the form.
    digits = quantity.removeprefix("-")
    if not (colon and product_id and digits.isascii() and digits.isdigit()):
        raise argparse.ArgumentTypeError(f"{argument!r} is not PRODUCT:QUANTITY (e.g. P1:2)")
    if not 1 <= int(quantity) <= MAX_QUANTITY:
        raise argparse.ArgumentTypeError(f"{argument!r}: the quantity must be from 1 to {MAX_QUANTITY}")
    return Item(product_id, int(quantity))


def page_size(argument: str) -> int:
    if not (argument.isascii() and argument.isdigit() and 1 <= int(argument) <= MAX_LIMIT):
        raise argparse.ArgumentTypeError(f"{argument!r} is not a number from 1 to {MAX_LIMIT}")
    return int(argument)


def seconds(argument: str) -> float:
    try:
        value = float(argument)
    except ValueError:
        value = 0.0
    if not 0 < value <= MAX_INTERVAL_S:
        raise argparse.ArgumentTypeError(
            f"{argument!r} is not a number of seconds (more than 0, at most {MAX_INTERVAL_S})"
        )
    return value


def time_to_live(argument: str) -> int:
    if not (argument.isascii() and argument.isdigit() and 1 <= int(argument) <= MAX_TTL_S):
        raise argparse.ArgumentTypeError(
            f"{argument!r} is not a number of seconds from 1 to {MAX_TTL_S} (30 days)"
        )
    return int(argument)


def customer_id(argument: str) -> str:
    try:
        require_customer_id("--customer", argument)
    except InvalidValue:
        raise argparse.ArgumentTypeError(
            f"{argument!r} is not a customer id (1 to {MAX_CUSTOMER_ID_LENGTH} printable ASCII characters, "
            "no spaces)"
        ) from None
    if argument == UNIDENTIFIED_CUSTOMER:
        raise argparse.ArgumentTypeError(f"{argument!r} is reserved for the orders placed before customers")
    return argument


def bearer_token(argument: str) -> str:
    """One token: `--token "$(ordering token --admin)"` without `| tail -1` would send the human lines too."""
    if any(character.isspace() for character in argument.strip()):
        raise argparse.ArgumentTypeError(
            "it is not one token: it has spaces or line breaks (take only the last line of `ordering token`)"
        )
    return argument.strip()


def url(argument: str) -> str:
    if not argument.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"{argument!r} is not an http:// or https:// URL")
    return argument.rstrip("/")


def dead_letter_topic(argument: str) -> str:
    """A topic some service consumes, named as it (`update-stock`) or as its dead letters (`update-stock.dlq`)."""
    if consumer_of(argument.removesuffix(".dlq")) is None:
        raise argparse.ArgumentTypeError(
            f"{argument!r} is not a topic any service consumes: update-stock, restore-canceled-item, "
            "stock-reservation-rejected or order-status (or the same with .dlq)"
        )
    return argument


def dead_letter_ref(argument: str) -> str:
    """`<topic>.dlq:<partition>:<offset>`, of a topic some service consumes."""
    try:
        ref = DeadLetterRef.parse(argument)
    except MalformedRef as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    dead_letter_topic(ref.topic)
    return argument


def owner_of(topic: str) -> str:
    """The service that answers for `topic`'s dead letters: "order", "product" or "message" (a checked topic)."""
    service = consumer_of(topic.removesuffix(".dlq"))
    if service is None:
        raise ValueError(f"no service consumes {topic!r}")
    return service
