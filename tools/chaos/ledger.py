"""What the clients did and heard: one `Placement` per Idempotency-Key, every answer to every try kept.

Plain records, filled in by traffic.py and judged by checks.py, so that the judging can be tested without
a system: an answer is its HTTP status (None when there was none: refused, reset, timed out), whether a
503 said `Retry-After`, and what the body said that matters (the order id of a 201, the order's status
after a payment or a cancellation, the problem type of a refusal).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The answers after which trying again with the same request cannot change anything.
REFUSED = frozenset({400, 401, 403, 404, 409, 422, 429})
IN_FLIGHT = "/problems/idempotency-key-in-flight"


@dataclass
class Answer:
    at: float  # time.monotonic() when the answer (or the failure) came
    status: int | None  # None: no answer at all
    retry_after: bool = False
    order_id: str | None = None
    order_status: str | None = None
    reason: str | None = None
    problem: str | None = None
    via: str | None = None  # the URL of the Order Service process asked

    @property
    def final(self) -> bool:
        """Whether this answer settles the request: a success, or a refusal that a retry would repeat."""
        if self.status is None:
            return False
        if self.status == 409 and self.problem == IN_FLIGHT:
            return False  # the same key is still being served (or its holder crashed): ask again later
        return self.status < 300 or self.status in REFUSED


@dataclass
class Placement:
    """One order a customer tried to place under one Idempotency-Key, and what they did with it."""

    customer: str
    key: str
    items: tuple[tuple[str, int], ...]
    answers: list[Answer] = field(default_factory=list)
    action: str | None = None  # "pay", "cancel", or None: left unpaid
    action_answers: list[Answer] = field(default_factory=list)

    @property
    def order_ids(self) -> set[str]:
        """Every order id a 201 for this key named: one, or none (more is a duplicate)."""
        return {a.order_id for a in self.answers if a.status == 201 and a.order_id}

    @property
    def order_id(self) -> str | None:
        ids = sorted(self.order_ids)
        return ids[0] if ids else None

    @property
    def refused(self) -> bool:
        return self.order_id is None and any(a.final and a.status != 201 for a in self.answers)

    @property
    def abandoned(self) -> bool:
        """No 201 and no refusal: the order may exist (its answer was lost to a fault) or may not."""
        return self.order_id is None and not self.refused

    @property
    def action_outcome(self) -> Answer | None:
        """The answer that settled the payment or cancellation; None if none did (its answer was lost)."""
        return next((a for a in self.action_answers if a.final), None)


def expected_states(placement: Placement) -> frozenset[str] | None:
    """The final states (`status` or `cancelled:reason`) the order may be in, given what its client did and
    heard; None when the client got no 201 (checks.py then matches the order by elimination)."""
    if placement.order_id is None:
        return None
    out_of_stock = "cancelled:out_of_stock"  # stock is the truth: even a paid order may end so
    outcome = placement.action_outcome
    if placement.action is None:
        return frozenset({"unpaid", out_of_stock})
    if outcome is None:  # the call's answer was lost: it may or may not have happened
        done = "paid" if placement.action == "pay" else "cancelled:customer"
        return frozenset({"unpaid", done, out_of_stock})
    if outcome.status == 200:
        said = outcome.order_status if outcome.order_status != "cancelled" else f"cancelled:{outcome.reason}"
        if said == "paid":
            return frozenset({"paid", out_of_stock})
        return frozenset({said or "?"})
    if placement.action == "pay" and outcome.status == 409:
        return frozenset({out_of_stock})  # paying a cancelled order: only the stock could have cancelled it
    return frozenset()  # any other answer to a call on our own order is itself wrong


@dataclass
class FaultOutcome:
    """One fault as it happened: when it was put in place, when the repair began (a restart, a heal, a
    successor started), when every service answered /readyz again, and what its own checks found."""

    number: int
    kind: str
    injected_at: float
    restored_at: float | None = None
    ready_at: float | None = None
    ok: bool = True  # False when the fault's own check failed (the paused relay published, or no recovery)
    details: dict[str, object] = field(default_factory=dict)
