"""The fault schedule: which fault, when, and for how long, drawn from one seed so that a run can be repeated.

The active part of the run (after the warm-up, before the cool-down) is cut into as many equal slots as
there are faults; each fault starts at a random moment in the first half of its slot, so that faults never
overlap (each has the second half to recover in) and their moments still differ from run to run. The first
faults take each kind once, in a shuffled order, so that a run of at least as many faults as kinds injects
every kind; the rest are drawn at random.

Which kinds fit depends on the form of the run: the faults that swap or slow the one Order Service
(`PAUSE_ORDER`, `SLOW_PRODUCT`, `PARTITION_PRODUCT`) need one instance of each service; `fitting_kinds` says
which, and `all` means those. On a cluster of three Kafka nodes `KILL_BROKER` kills one node: the first
time the one whose controller leads, then another, in turn (faults.py).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from enum import StrEnum

from attrs import frozen


class Kind(StrEnum):
    KILL_ORDER = "kill_order"  # kill -9 of the Order Service, then a restart
    KILL_PRODUCT = "kill_product"
    KILL_MESSAGE = "kill_message"
    KILL_BROKER = "kill_broker"  # kill -9 of the Kafka broker, then a restart on the same storage
    PAUSE_ORDER = "pause_order"  # SIGSTOP past the session timeout, a successor started, then SIGCONT
    SLOW_PRODUCT = "slow_product"  # latency added between the Order Service and the Product Service
    PARTITION_PRODUCT = "partition_product"  # the Order Service cannot reach the Product Service at all


KILLED_SERVICE = {Kind.KILL_ORDER: "order", Kind.KILL_PRODUCT: "product", Kind.KILL_MESSAGE: "message"}

# How long each kind keeps its fault in place, in seconds (low, high): a service stays dead about as long
# as a supervisor takes to notice and restart it; the broker long enough for every client to notice.
HOLD_S: dict[Kind, tuple[float, float]] = {
    Kind.KILL_ORDER: (0.5, 3.0),
    Kind.KILL_PRODUCT: (0.5, 3.0),
    Kind.KILL_MESSAGE: (0.5, 3.0),
    Kind.KILL_BROKER: (2.0, 8.0),
    Kind.PAUSE_ORDER: (10.0, 10.0),  # replaced by the run's --pause-s
    Kind.SLOW_PRODUCT: (8.0, 15.0),
    Kind.PARTITION_PRODUCT: (4.0, 10.0),
}
# The kinds that need one instance of each service: a successor on the same DATA_DIR, the one link.
SINGLE_INSTANCE_KINDS = frozenset({Kind.PAUSE_ORDER, Kind.SLOW_PRODUCT, Kind.PARTITION_PRODUCT})

# The latency a slowed link adds, in seconds: below the Order Service's 2 s wait for the Product Service
# (PRODUCT_SERVICE_TIMEOUT_S) mostly, above it sometimes, so both a slow success and a 503 happen.
LATENCY_S = (0.2, 2.5)


class PlanError(ValueError):
    """The options describe no schedule that fits: say which and why."""


@frozen
class PlannedFault:
    number: int  # 1-based, in the order of the schedule
    kind: Kind
    at_s: float  # seconds after the load started
    hold_s: float  # how long the fault stays in place before it is repaired
    latency_s: float = 0.0  # for SLOW_PRODUCT only


def plan(
    seed: int,
    *,
    duration_s: float,
    faults: int,
    kinds: Sequence[Kind],
    warmup_s: float,
    cooldown_s: float,
    pause_s: float,
) -> tuple[PlannedFault, ...]:
    """`faults` faults of `kinds`, in order of time, all inside (warmup_s, duration_s - cooldown_s)."""
    if faults < 0 or (faults and not kinds):
        raise PlanError("--faults must be 0 or more, with at least one kind")
    active_s = duration_s - warmup_s - cooldown_s
    if faults and active_s <= 0:
        raise PlanError(f"--duration {duration_s:g} leaves no time for faults after the warm-up and cool-down")
    chooser = random.Random(seed)  # noqa: S311 - a reproducible schedule, not a secret
    order = list(dict.fromkeys(kinds))
    chooser.shuffle(order)
    chosen = [order[n] if n < len(order) else chooser.choice(order) for n in range(faults)]
    slot_s = active_s / faults if faults else 0.0
    return tuple(
        _fault(chooser, n + 1, kind, warmup_s + n * slot_s + chooser.uniform(0, slot_s / 2), pause_s)
        for n, kind in enumerate(chosen)
    )


def _fault(chooser: random.Random, number: int, kind: Kind, at_s: float, pause_s: float) -> PlannedFault:
    low, high = HOLD_S[kind]
    hold_s = pause_s if kind is Kind.PAUSE_ORDER else round(chooser.uniform(low, high), 2)
    latency_s = round(chooser.uniform(*LATENCY_S), 2) if kind is Kind.SLOW_PRODUCT else 0.0
    return PlannedFault(number, kind, round(at_s, 2), hold_s, latency_s)


def fitting_kinds(*, instances: int = 1) -> tuple[Kind, ...]:
    """The kinds a run with `instances` processes of each service can inject, in the enum's order."""
    return tuple(kind for kind in Kind if not (kind in SINGLE_INSTANCE_KINDS and instances > 1))


def parse_kinds(text: str, *, instances: int = 1) -> tuple[Kind, ...]:
    """`kill_order,slow_product` (or `all`) as kinds; a name that is not one, or a kind the form cannot
    inject, is a PlanError naming the ones it can."""
    fitting = fitting_kinds(instances=instances)
    if text.strip() == "all":
        return fitting
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in {kind.value for kind in Kind}]
    if unknown or not names:
        raise PlanError(f"unknown fault kind {', '.join(unknown) or '(none)'}: use {', '.join(fitting)} or all")
    unfit = [name for name in names if Kind(name) not in fitting]
    if unfit:
        raise PlanError(
            f"{', '.join(unfit)} cannot be injected with --instances {instances}: "
            f"use {', '.join(fitting)} or all"
        )
    return tuple(Kind(name) for name in names)
