"""What `ordering dlq` accepts: its three actions and their arguments (arguments.py adds it to the parser)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from entrypoints.cli.values import dead_letter_ref, dead_letter_topic


def add_dlq(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    _command: Callable[..., argparse.ArgumentParser],
) -> None:
    """`ordering dlq list | show | replay`, made with arguments.py's `_command` (passed in: that module
    imports this one)."""
    dlq = _command(
        commands,
        "dlq",
        "Dead letters, for an admin: what the services' consumers set aside and why, and sending it back to its "
        "topic after a fix.",
        "ordering dlq list --topic update-stock",
        "docs/operations.md, \"Dead letters\", says when and how. A reference is <topic>.dlq:<partition>:<offset>, "
        "as `ordering dlq list` prints it.",
    )
    actions = dlq.add_subparsers(title="actions", dest="dlq_action", metavar="ACTION", required=True)
    listing = _command(
        actions,
        "list",
        "List the dead letters of every service (or of one topic): reference, topic, reason, when, order, and "
        "whether it was replayed.",
        "ordering dlq list --topic update-stock",
    )
    listing.add_argument("--topic", type=dead_letter_topic, metavar="TOPIC", help="only this topic's dead letters")
    show = _command(
        actions,
        "show",
        "Show one dead letter whole: its reason, key, headers and value.",
        "ordering dlq show update-stock.dlq:0:12",
    )
    show.add_argument("ref", type=dead_letter_ref, metavar="REF")
    replay = _command(
        actions,
        "replay",
        "Send dead letters back to the topic they were read from, with their key and headers and a header "
        "saying they were replayed. Replaying one twice, or one already applied, changes nothing.",
        "ordering dlq replay update-stock.dlq:0:12",
        "Name them by reference (sent again even if replayed before), or give --topic for every dead letter "
        "of that topic not replayed yet.",
    )
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("refs", type=dead_letter_ref, nargs="*", default=[], metavar="REF")
    which.add_argument(
        "--topic", type=dead_letter_topic, metavar="TOPIC", help="every dead letter of this topic not replayed yet"
    )
