"""What `ordering` accepts: the commands, their options, the help a person reads, and the exit codes.

argparse owns usage errors (exit 2, its own message); everything it cannot check, the services do.
Locally we check only what a typo gets wrong (`P1:2`, a URL, a page size), so a person hears about it
before any request is sent.
"""

from __future__ import annotations

import argparse
import textwrap
from enum import IntEnum

from attrs import frozen

MAX_QUANTITY = 10_000  # openapi.yaml's Quantity; the service says the same, this only answers sooner
MAX_LIMIT = 100  # openapi.yaml's page size for GET /orders
DEFAULT_LIMIT = 10
DEFAULT_INTERVAL_S = 1.0


class ExitCode(IntEnum):
    OK = 0
    REFUSED = 1  # the service answered 4xx: it understood the request and said no
    USAGE = 2  # argparse's own code for a bad command line; also a bad setting in the environment
    UNAVAILABLE = 3  # a service could not be reached, or failed (5xx), or is not the ordering API
    INTERRUPTED = 130  # Ctrl-C during a one-shot command (128 + SIGINT, as shells report it)


@frozen
class Item:
    """One `PRODUCT:QUANTITY` argument of `ordering order`."""

    product_id: str
    quantity: int


def item(argument: str) -> Item:
    # rpartition: an id may itself contain ':' (openapi.yaml's Id allows it); the quantity comes last.
    product_id, colon, quantity = argument.rpartition(":")
    if not (colon and product_id and quantity.isascii() and quantity.isdigit()):
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
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(
            f"{argument!r} is not a number of seconds (more than 0, at most 3600)"
        )
    return value


def url(argument: str) -> str:
    if not argument.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"{argument!r} is not an http:// or https:// URL")
    return argument.rstrip("/")


_DESCRIPTION = """\
Place, pay and cancel orders and watch what happens, from the command line: a client of the Order,
Product and Message Services' HTTP APIs (openapi.yaml). Start the system first with `make run`.
"""

_EPILOG = """\
examples:
  ordering products
  ordering order P1:2 P3:1
  ordering pay order-1
  ordering show order-1
  ordering tail --follow
  ordering --json products | jq -r '.[].product_id'

where the services are (each option overrides the setting the services themselves read):
  --order-url    http://127.0.0.1:$ORDER_PORT    (8001)
  --product-url  $PRODUCT_SERVICE_URL            (http://127.0.0.1:8002)
  --message-url  http://127.0.0.1:$MESSAGE_PORT  (8003)

exit codes:
  0    done
  1    the service refused the request (4xx): its reason is printed, with each wrong field
  2    usage error: a bad command line, or a bad setting in the environment
  3    a service could not be reached, or failed (5xx), or did not answer like the ordering API
  130  interrupted by Ctrl-C (`tail --follow` stops with 0)
"""


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="ordering",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument(
        "--json", action="store_true", help="print the API's JSON instead of tables (for scripts)"
    )
    top.add_argument("--order-url", type=url, metavar="URL", help="the Order Service")
    top.add_argument("--product-url", type=url, metavar="URL", help="the Product Service")
    top.add_argument("--message-url", type=url, metavar="URL", help="the Message Service")
    commands = top.add_subparsers(title="commands", dest="command", metavar="COMMAND", required=True)
    _products(commands)
    _order(commands)
    _pay(commands)
    _cancel(commands)
    _show(commands)
    _tail(commands)
    return top


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, summary: str, example: str
) -> argparse.ArgumentParser:
    return commands.add_parser(
        name,
        help=summary,
        description=textwrap.fill(summary, 79),
        epilog=f"example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _products(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    _command(commands, "products", "List the products: id, name, price and stock.", "ordering products")


def _order(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    order = _command(
        commands,
        "order",
        "Place an order. It is unpaid until `ordering pay`; if any item cannot be served, nothing is "
        "ordered and each such item is listed with the reason.",
        "ordering order P1:2 P3:1 --idempotency-key 3f1c9a52-order-42",
    )
    order.add_argument(
        "items", type=item, nargs="+", metavar="PRODUCT:QUANTITY", help="a product id and how many, e.g. P1:2"
    )
    order.add_argument(
        "--idempotency-key",
        metavar="KEY",
        help="repeat the command with the same key and items to get the same order, never a second one",
    )


def _pay(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pay = _command(
        commands,
        "pay",
        "Record the payment of an unpaid order. Paying again with the same payment id changes nothing.",
        "ordering pay order-1 --payment-id pay-7781",
    )
    pay.add_argument("order_id", metavar="ORDER_ID")
    pay.add_argument(
        "--payment-id", metavar="ID", help="the payment's id at the payment provider (default: the order id)"
    )


def _cancel(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cancel = _command(
        commands,
        "cancel",
        "Cancel an unpaid order at the customer's request; its stock goes back on the shelf.",
        "ordering cancel order-1",
    )
    cancel.add_argument("order_id", metavar="ORDER_ID")


def _show(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    show = _command(
        commands,
        "show",
        "Show an order and the messages its customer was told, oldest first.",
        "ordering show order-1",
    )
    show.add_argument("order_id", metavar="ORDER_ID")


def _tail(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tail = _command(
        commands,
        "tail",
        "Show the status of the most recent orders, newest first. With --follow, keep watching them and "
        "print a line whenever an order appears or its status changes, until Ctrl-C.",
        "ordering tail --limit 5 --follow --interval 0.5",
    )
    tail.add_argument(
        "--limit",
        type=page_size,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"how many orders (1 to {MAX_LIMIT}; default {DEFAULT_LIMIT})",
    )
    tail.add_argument("--follow", "-f", action="store_true", help="keep watching until Ctrl-C")
    tail.add_argument(
        "--interval",
        type=seconds,
        default=DEFAULT_INTERVAL_S,
        metavar="SECONDS",
        help=f"with --follow, how often to look (default {DEFAULT_INTERVAL_S:g})",
    )
