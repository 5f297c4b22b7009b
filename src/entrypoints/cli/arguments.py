"""What `ordering` accepts: the commands, their options, the help a person reads, and the exit codes.

argparse owns usage errors (exit 2, its own message); what each value must be is in values.py, and
everything argparse cannot check, the services do.

The global options (`--json`, `--token`, where the services are) mean the same before the command and
after it: `ordering products --json` is `ordering --json products`.
"""

from __future__ import annotations

import argparse
import textwrap
from enum import IntEnum

from adapters.distribution import installed_version
from entrypoints.cli import dead_letter_arguments
from entrypoints.cli.tokens import ADMIN_SUBJECT, DEFAULT_TTL_S, MAX_TTL_S, PAYMENTS_SUBJECT
from entrypoints.cli.values import (
    MAX_LIMIT,
    bearer_token,
    customer_id,
    item,
    page_size,
    seconds,
    time_to_live,
    url,
)

DEFAULT_LIMIT = 10
DEFAULT_INTERVAL_S = 1.0


class ExitCode(IntEnum):
    OK = 0
    REFUSED = 1  # the service answered 4xx: it understood the request and said no
    # argparse's own code for a bad command line; also a bad setting in the environment, and `ordering token`
    # where no local token can be made (an identity provider is configured, the key file is unusable)
    USAGE = 2
    UNAVAILABLE = 3  # a service could not be reached, or failed (5xx), or is not the ordering API
    INTERRUPTED = 130  # Ctrl-C during a one-shot command (128 + SIGINT, as shells report it)


_DESCRIPTION = """\
Place, pay and cancel orders and watch what happens, from the command line: a client of the Order,
Product and Message Services' HTTP APIs (openapi.yaml). Start the system first with `make run`.
"""

_EPILOG = f"""\
examples:
  export ORDERING_TOKEN=$(ordering token --customer alice | tail -1)
  ordering products
  ordering order P1:2 P3:1
  ordering pay order-1 --token "$(ordering token --payments | tail -1)"
  ordering show order-1
  ordering tail --follow
  ordering products --json | jq -r '.[].product_id'
  ordering dlq list --token "$(ordering token --admin | tail -1)"

global options: --json, --token, --order-url, --product-url and --message-url go before the command or
  after it, with the same meaning: `ordering products --json` is `ordering --json products`.

who you are: every request carries a bearer token (Authorization: Bearer), from --token or $ORDERING_TOKEN.
  Anyone may list the products. A customer's token orders, cancels, shows and tails their own orders;
  recording a payment needs the role payments (the payment provider's word) or admin. On one machine
  `ordering token` signs one with the services' local key:
    ordering token --customer ID   a customer (any id: a new one is a new customer)
    ordering token --payments      {PAYMENTS_SUBJECT!r}, role payments
    ordering token --admin         {ADMIN_SUBJECT!r}, role admin: sees and acts on every order, and on
                                   dead letters (ordering dlq)
  With an identity provider (AUTH_JWKS_URL, AUTH_KEY_FILES), get the token from it instead.

where the services are (each option overrides the setting the services themselves read):
  --order-url    http://127.0.0.1:$ORDER_PORT    (8001)
  --product-url  $PRODUCT_SERVICE_URL            (http://127.0.0.1:8002)
  --message-url  http://127.0.0.1:$MESSAGE_PORT  (8003)

exit codes:
  0    done
  1    the service refused the request (4xx): its reason is printed, with each wrong field, and for
       a missing token or role what would do
  2    usage error: a bad command line, or a bad setting in the environment; `ordering token` where
       the services take an identity provider's tokens
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
    _global_options(top, after_the_command=False)
    top.add_argument("--version", action="version", version=f"%(prog)s {installed_version()}")
    commands = top.add_subparsers(title="commands", dest="command", metavar="COMMAND", required=True)
    _products(commands)
    _order(commands)
    _pay(commands)
    _cancel(commands)
    _show(commands)
    _tail(commands)
    _token(commands)
    dead_letter_arguments.add_dlq(commands, _command)
    return top


def _global_options(parser: argparse.ArgumentParser, *, after_the_command: bool) -> None:
    """The options every command takes, on the top parser and again on each command's, so that a person
    may put them before the command or after it, as they would with git or docker."""
    # After the command no defaults: argparse copies every attribute a command's parser sets onto the result,
    # so a default there (False, None) would undo the same option given before the command.
    off: object = argparse.SUPPRESS if after_the_command else False
    unset: object = argparse.SUPPRESS if after_the_command else None
    options = parser.add_argument_group("global options (before or after the command)")
    options.add_argument(
        "--json", action="store_true", default=off, help="print the API's JSON instead of tables (for scripts)"
    )
    options.add_argument(
        "--token",
        type=bearer_token,
        default=unset,
        metavar="TOKEN",
        help="the bearer token to send (default: $ORDERING_TOKEN; an empty one sends none)",
    )
    options.add_argument("--order-url", type=url, default=unset, metavar="URL", help="the Order Service")
    options.add_argument("--product-url", type=url, default=unset, metavar="URL", help="the Product Service")
    options.add_argument("--message-url", type=url, default=unset, metavar="URL", help="the Message Service")


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    summary: str,
    example: str,
    details: str = "",
) -> argparse.ArgumentParser:
    """A command whose `summary` is listed in `ordering --help`, and which explains itself with `details`
    too in `ordering <name> --help`; it takes the global options too."""
    command = commands.add_parser(
        name,
        help=summary,
        description=textwrap.fill(f"{summary} {details}".strip(), 79),
        epilog=f"example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _global_options(command, after_the_command=True)
    return command


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
        "Record the payment of an unpaid order: needs a token with the role payments or admin.",
        "ordering pay order-1 --payment-id pay-7781",
        "A payment is the payment provider's word, not the customer's (ordering token --payments makes such "
        "a token on one machine). Paying again with the same payment id changes nothing.",
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
        "Show an order and the messages its customer was told, oldest first: one of your own orders, or any "
        "with an admin's token.",
        "ordering show order-1",
    )
    show.add_argument("order_id", metavar="ORDER_ID")


def _tail(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tail = _command(
        commands,
        "tail",
        "Show the status of your most recent orders (with an admin's token, everyone's), newest first. With "
        "--follow, keep watching them and print a line whenever an order appears or its status changes, "
        "until Ctrl-C.",
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


def _token(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    token = _command(
        commands,
        "token",
        "Print a bearer token signed with the services' local key, for the one-machine setup (make run).",
        "ordering token --customer alice --ttl 86400",
        "A customer's, the payment provider's or an admin's. The lines before the token say whom it is for "
        "and until when; the last line is the token alone, so `| tail -1` takes it. The key file "
        "(AUTH_LOCAL_KEY_FILE, else DATA_DIR/local-keys.json) is made if it is missing, as the services "
        "make it at start. With an identity provider configured (AUTH_JWKS_URL, AUTH_KEY_FILES) the services "
        "would not accept such a token: get one from the provider.",
    )
    who = token.add_mutually_exclusive_group(required=True)
    who.add_argument("--customer", type=customer_id, metavar="ID", help="a customer's token: their orders")
    who.add_argument(
        "--payments",
        action="store_true",
        help=f"the payment provider's ({PAYMENTS_SUBJECT!r}, role payments): records payments",
    )
    who.add_argument(
        "--admin", action="store_true", help=f"an admin's ({ADMIN_SUBJECT!r}, role admin): every order"
    )
    token.add_argument(
        "--ttl",
        type=time_to_live,
        default=DEFAULT_TTL_S,
        metavar="SECONDS",
        help=f"how long it is valid (1 to {MAX_TTL_S}, i.e. 30 days; default {DEFAULT_TTL_S})",
    )

