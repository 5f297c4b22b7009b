"""The commands: each asks the services what it needs and prints the answer, for a person or as JSON.

A command returns normally only on success; a refusal or an unreachable service leaves it as the
exception `api.py` raised, for `program.py` to report in one place.

`tail --follow` is a loop a test can drive: `Pacing` brings the wait between looks, the clock that stamps
each line, and how many looks to take, so a test takes three looks with no sleeping, and changes the
system in between from its `wait`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from attrs import frozen

from entrypoints.cli import tables, tokens
from entrypoints.cli.api import ServiceClient, Services
from entrypoints.cli.values import owner_of
from entrypoints.settings import Settings


def _local_now() -> datetime:
    return datetime.now().astimezone()


@frozen
class Pacing:
    """How `tail --follow` spends its time; the defaults are the real ones."""

    wait: Callable[[float], None] = time.sleep
    clock: Callable[[], datetime] = _local_now
    # How many looks in all, the first included; None: until Ctrl-C.
    looks: int | None = None


@frozen
class Output:
    """Tables and sentences for a person, or the API's JSON for a script (`--json`), on stdout."""

    as_json: bool

    def show(self, document: Any, lines: Callable[[Any], Sequence[str]]) -> None:
        if self.as_json:
            print(json.dumps(document, indent=2, ensure_ascii=False))
        else:
            print("\n".join(lines(document)))

    def stream(self, document: Any, line: str) -> None:
        """One item of a stream: a JSON object on its own line, or the line for a person; at once."""
        print(json.dumps(document, ensure_ascii=False) if self.as_json else line, flush=True)

    def note(self, text: str) -> None:
        """A hint for a person, on stderr so that it is never mistaken for output; none for scripts."""
        if not self.as_json:
            print(text, file=sys.stderr, flush=True)

    def problem(self, document: Any) -> None:
        """A script reads a refusal as JSON too (a person gets it on stderr, from program.py)."""
        if self.as_json:
            print(json.dumps(document, indent=2, ensure_ascii=False))


def products(services: Services, args: argparse.Namespace, output: Output) -> None:
    output.show(services.product.get("/products").body, tables.products)


def order(services: Services, args: argparse.Namespace, output: Output) -> None:
    body = {"items": [{"product_id": i.product_id, "quantity": i.quantity} for i in args.items]}
    key = args.idempotency_key
    answer = services.order.post("/orders/order", body, headers={"Idempotency-Key": key} if key else None)
    replayed = answer.headers.get("Idempotent-Replayed") == "true"

    def lines(placed: Mapping[str, Any]) -> list[str]:
        said = (
            ["(The answer to the earlier request with this idempotency key: no new order.)"]
            if replayed
            else []
        )
        return [*tables.order(placed), *said]

    output.show(answer.body, lines)
    output.note(
        f"Next: ordering pay {answer.body['order_id']}   (or: ordering cancel {answer.body['order_id']})"
    )


def pay(services: Services, args: argparse.Namespace, output: Output) -> None:
    body = {"order_id": args.order_id}
    if args.payment_id is not None:
        body["payment_id"] = args.payment_id
    answer = services.order.post("/orders/paid", body)
    output.show(answer.body, _status_line)


def cancel(services: Services, args: argparse.Namespace, output: Output) -> None:
    answer = services.order.post("/orders/cancel", {"order_id": args.order_id})
    output.show(answer.body, _status_line)


def show(services: Services, args: argparse.Namespace, output: Output) -> None:
    # The order first: an unknown order is a 404 worth saying, while the Message Service would only
    # answer that it has heard nothing of it.
    found = services.order.get(f"/orders/{quote(args.order_id, safe='')}").body
    told = services.message.get("/messages", params={"order_id": args.order_id}).body
    output.show(
        {"order": found, "messages": told},
        lambda both: [*tables.order(both["order"]), "", *tables.messages(both["messages"])],
    )


def tail(services: Services, args: argparse.Namespace, output: Output, pacing: Pacing) -> None:
    if args.follow:
        follow(services, args.limit, args.interval, output, pacing)
    else:
        output.show(_newest_page(services, args.limit), lambda page: tables.orders(page["orders"]))


def follow(services: Services, limit: int, interval_s: float, output: Output, pacing: Pacing) -> None:
    """The newest orders, then a line per order that appears or changes status, until Ctrl-C.

    Only the `limit` newest orders are watched: an order that drops out of them is not followed further.
    """
    try:
        newest = _newest_page(services, limit)["orders"]
        if output.as_json:
            for known in newest:
                output.stream(known, "")
        else:
            output.show(newest, tables.orders)
        output.note(f"Following the {limit} newest orders every {interval_s:g} s; Ctrl-C stops.")
        looks = 1
        while pacing.looks is None or looks < pacing.looks:
            pacing.wait(interval_s)
            newest = _report_changes(_by_id(newest), _newest_page(services, limit)["orders"], output, pacing)
            looks += 1
    except KeyboardInterrupt:
        return  # how a person ends it: not an error


def _report_changes(
    seen: Mapping[str, Mapping[str, Any]], newest: list[Any], output: Output, pacing: Pacing
) -> list[Any]:
    at = pacing.clock()
    for now in reversed(newest):  # oldest first: lines come in the order things happened
        before = seen.get(now["order_id"])
        if before is None or tables.status(before) != tables.status(now):
            output.stream(now, tables.change(at, now, before))
    return newest


def token(settings: Settings, args: argparse.Namespace, output: Output) -> None:
    """A token signed with the local key; `TokenUnavailable` where the services would not accept one."""
    customer_id, roles = tokens.subject_and_roles(args.customer, admin=args.admin, payments=args.payments)
    key_file = settings.auth_local_key_file
    had_key = key_file.exists()
    minted = tokens.mint(settings, customer_id, roles, ttl_s=args.ttl)
    if not had_key:  # services already running elsewhere (another DATA_DIR) would not know this key
        output.note(f"Made the local key {key_file}; the services read it when they start.")
    again = [
        "token",
        *(["--admin"] if args.admin else ["--payments"] if args.payments else ["--customer", customer_id]),
    ]
    if args.ttl != tokens.DEFAULT_TTL_S:
        again += ["--ttl", str(args.ttl)]
    output.show(minted.json(), lambda _document: tokens.lines(minted, again))


def dlq(services: Services, args: argparse.Namespace, output: Output) -> None:
    """`ordering dlq list | show | replay`: each service answers for the dead letters of what it consumes."""
    if args.dlq_action == "list":
        # Each service is connected on first use: name only those asked.
        asked = [_owner(services, args.topic)] if args.topic else [services.order, services.product, services.message]
        params = {"topic": args.topic} if args.topic else None
        listed = [
            dead for service in asked for dead in service.get("/dead-letters", params=params).body["dead_letters"]
        ]
        output.show({"dead_letters": listed}, lambda document: tables.dead_letters(document["dead_letters"]))
    elif args.dlq_action == "show":
        found = _owner(services, args.ref.split(":")[0]).get(f"/dead-letters/{quote(args.ref, safe='')}").body
        output.show(found, tables.dead_letter)
    elif args.topic:
        answer = _owner(services, args.topic).post("/dead-letters/replay", {"topic": args.topic})
        replayed = answer.body["replayed"]
        output.show({"replayed": replayed}, lambda document: tables.replayed(document["replayed"]))
    else:
        by_owner: dict[str, list[str]] = {}
        for ref in dict.fromkeys(args.refs):
            by_owner.setdefault(owner_of(ref.split(":")[0]), []).append(ref)
        replayed = [
            dead
            for owner, refs in by_owner.items()
            for dead in getattr(services, owner).post("/dead-letters/replay", {"refs": refs}).body["replayed"]
        ]
        output.show({"replayed": replayed}, lambda document: tables.replayed(document["replayed"]))


def _owner(services: Services, topic: str) -> ServiceClient:
    client: ServiceClient = getattr(services, owner_of(topic))
    return client


def _newest_page(services: Services, limit: int) -> Any:
    return services.order.get("/orders", params={"sort": "newest", "limit": limit}).body


def _by_id(orders: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {o["order_id"]: o for o in orders}


def _status_line(reply: Mapping[str, Any]) -> list[str]:
    return [f"Order {reply['order_id']}: {tables.status(reply)}"]
