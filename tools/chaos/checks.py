"""The verdicts of a chaos run, from plain data: what the clients heard (ledger.py) against the final state.

Each check returns a `Check`: its name, whether it passed, and the figures that say why. An effect is *lost*
when something that happened left no trace (an order a 201 named is missing, a customer was not told a
status, stock went back that no cancellation released); *duplicated* when it left two (a second order for
one Idempotency-Key, an order nobody placed, a status told twice, stock taken twice).

An order the Order Service has but no client got a 201 for is not a defect when its answer was lost to a
fault: its customer has a key that never got a final answer (`Placement.abandoned`) for the same items.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from attrs import frozen

from chaos.ledger import Placement, expected_states

HOLDING = ("unpaid", "paid")  # the statuses whose orders hold their stock


@frozen
class Check:
    name: str
    ok: bool
    figures: Mapping[str, Any]
    lost: int = 0
    duplicated: int = 0


def state(order: Mapping[str, Any]) -> str:
    return f"cancelled:{order.get('reason')}" if order["status"] == "cancelled" else str(order["status"])


def items_of(order: Mapping[str, Any]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted((item["product_id"], item["quantity"]) for item in order["items"]))


def match_lost_answers(
    placements: Iterable[Placement],
    unknown: Mapping[str, Mapping[str, Any]],
    customer_orders: Mapping[str, set[str]],
) -> tuple[dict[str, str], list[str]]:
    """Each order no 201 named, paired with an abandoned key of its customer for the same items:
    (key -> order id, order ids left unexplained)."""
    pools: dict[str, list[Placement]] = {}
    for placement in placements:
        if placement.abandoned:
            pools.setdefault(placement.customer, []).append(placement)
    matched: dict[str, str] = {}
    explained: set[str] = set()
    for customer, pool in pools.items():
        for order_id in sorted(customer_orders.get(customer, set()) & unknown.keys()):
            wanted = items_of(unknown[order_id])
            twin = next((p for p in pool if tuple(sorted(p.items)) == wanted), None)
            if twin is not None:
                pool.remove(twin)
                matched[twin.key] = order_id
                explained.add(order_id)
    return matched, sorted(unknown.keys() - explained)


def check_orders(
    placements: list[Placement], orders: list[dict[str, Any]], customer_orders: Mapping[str, set[str]]
) -> Check:
    """Every 201 order exists, in a state its client's acts allow; one order per key; no order from nowhere."""
    by_id = {order["order_id"]: order for order in orders}
    named = {order_id for p in placements for order_id in p.order_ids}
    missing = sorted(p.order_id for p in placements if p.order_id and p.order_id not in by_id)
    twice = sorted(p.key for p in placements if len(p.order_ids) > 1)
    unknown = {order_id: order for order_id, order in by_id.items() if order_id not in named}
    matched, unexplained = match_lost_answers(placements, unknown, customer_orders)
    wrong = []
    for p in placements:
        allowed = expected_states(p)
        if p.order_id in by_id and allowed is not None and state(by_id[p.order_id]) not in allowed:
            wrong.append({"order_id": p.order_id, "state": state(by_id[p.order_id]), "allowed": sorted(allowed)})
    wrong += [
        {"order_id": order_id, "state": state(unknown[order_id]), "allowed": ["unpaid", "cancelled:out_of_stock"]}
        for order_id in matched.values()
        if state(unknown[order_id]) not in ("unpaid", "cancelled:out_of_stock")
    ]
    ok = not (missing or twice or unexplained or wrong)
    figures = {
        "accepted_201": sum(1 for p in placements if p.order_id),
        "orders_in_service": len(orders),
        "answer_lost_but_placed": len(matched),
        "missing": missing[:20],
        "keys_with_two_orders": twice[:20],
        "orders_nobody_placed": unexplained[:20],
        "inconsistent_states": wrong[:20],
        "states": dict(Counter(state(order) for order in orders)),
    }
    return Check("orders_consistent", ok, figures, lost=len(missing), duplicated=len(twice) + len(unexplained))


def check_stock(
    initial: Mapping[str, int],
    final: Mapping[str, int],
    orders: list[dict[str, Any]],
    negative_seen: list[tuple[str, int]],
) -> Check:
    """For each product: initial = final + units held by unpaid and paid orders; never below zero."""
    held = dict.fromkeys(initial, 0)
    for order in orders:
        if order["status"] in HOLDING:
            for product_id, quantity in items_of(order):
                held[product_id] = held.get(product_id, 0) + quantity
    gaps = {p: initial[p] - final.get(p, 0) - held[p] for p in initial}
    gaps = {p: gap for p, gap in gaps.items() if gap}
    oversold = sum(max(0, held[p] - initial[p]) + max(0, -final.get(p, 0)) for p in initial)
    oversold += max((-stock for _, stock in negative_seen), default=0)
    figures = {
        "initial_units": sum(initial.values()),
        "units_on_shelf": sum(final.get(p, 0) for p in initial),
        "units_held": sum(held.values()),
        "gaps_by_product": gaps,
        "oversold_units": oversold,
        "negative_observations": len(negative_seen),
    }
    taken_twice = sum(gap for gap in gaps.values() if gap > 0)  # less on the shelf than the orders explain
    given_back = sum(-gap for gap in gaps.values() if gap < 0)  # more on the shelf: a reservation lost
    return Check("stock_conserved", not gaps and oversold == 0, figures, lost=given_back, duplicated=taken_twice)


def told_sequence(messages: Sequence[Mapping[str, Any]]) -> list[str]:
    return [state(message) for message in messages]


def expected_sequences(final_state: str) -> list[list[str]]:
    if final_state == "unpaid":
        return [["unpaid"]]
    if final_state == "paid":
        return [["unpaid", "paid"]]
    sequences = [["unpaid", final_state]]
    if final_state == "cancelled:out_of_stock":
        sequences.append(["unpaid", "paid", final_state])  # paid before the stock ran out
    return sequences


def check_messages(orders: list[dict[str, Any]], told: Mapping[str, Sequence[Mapping[str, Any]]]) -> Check:
    """Each order's customer was told each status once, in the order the statuses happened."""
    wrong: list[dict[str, Any]] = []
    lost = duplicated = 0
    for order in orders:
        sequence = told_sequence(told.get(order["order_id"], []))
        allowed = expected_sequences(state(order))
        if sequence in allowed:
            continue
        wrong.append({"order_id": order["order_id"], "told": sequence, "state": state(order)})
        duplicated += len(sequence) - len(set(sequence))
        lost += min(len(set(expected) - set(sequence)) for expected in allowed)
    figures = {"orders": len(orders), "messages": sum(len(m) for m in told.values()), "wrong": wrong[:20]}
    return Check("messages_once_in_order", not wrong, figures, lost=lost, duplicated=duplicated)


def check_outbox(unsent_rows: int) -> Check:
    return Check("no_outbox_row_stuck", unsent_rows == 0, {"unsent_rows": unsent_rows})


def check_dead_letters(records: list[tuple[str, str, str]], our_orders: set[str], whole_cluster: bool) -> Check:
    """None of our orders' records set aside; with the run's own broker, none at all."""
    ours = [r for r in records if r[1] in our_orders]
    counted = records if whole_cluster else ours
    figures = {
        "records": len(counted),
        "by_topic": dict(Counter(topic for topic, _, _ in counted)),
        "reasons": sorted({reason for _, _, reason in counted})[:10],
        "scope": "every record (the run's own broker)" if whole_cluster else "records keyed by the run's orders",
    }
    return Check("no_dead_letters", not counted, figures)
