"""The figures a chaos run reports, from what the clients heard and how each fault went: answers by kind,
5xx split into the 503s with Retry-After during a dependency's outage and everything else, recovery time
per kind of fault, and the one JSON document the run prints at its end. In the cluster form also: the 201s
per Order Service instance, the relay takeovers and the Kafka node losses, each timed from its kill."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from chaos.checks import Check
from chaos.ledger import Answer, FaultOutcome, Placement

# A 503 this long after a fault's repair is still that fault's: the first requests after a restart wait
# for connections, producers and the Product Service's client to come back.
OUTAGE_GRACE_S = 10.0


def answers(placements: Iterable[Placement]) -> list[Answer]:
    return [a for p in placements for a in (*p.answers, *p.action_answers)]


def outage_windows(outcomes: Sequence[FaultOutcome]) -> list[tuple[float, float]]:
    return [
        (o.injected_at, (o.ready_at or o.restored_at or o.injected_at) + OUTAGE_GRACE_S) for o in outcomes
    ]


def http_figures(placements: Sequence[Placement], outcomes: Sequence[FaultOutcome]) -> dict[str, Any]:
    everything = answers(placements)
    windows = outage_windows(outcomes)

    def in_outage(answer: Answer) -> bool:
        return any(start <= answer.at <= end for start, end in windows)

    server_errors = [a for a in everything if a.status is not None and a.status >= 500]
    expected = [a for a in server_errors if a.status == 503 and a.retry_after and in_outage(a)]
    return {
        "requests": len(everything),
        "by_status": {str(k): v for k, v in sorted(Counter(a.status or 0 for a in everything).items())},
        "no_answer": sum(1 for a in everything if a.status is None),
        "5xx": {
            "total": len(server_errors),
            "503_with_retry_after_during_outage": len(expected),
            "503_other": sum(1 for a in server_errors if a.status == 503) - len(expected),
            "500": sum(1 for a in server_errors if a.status == 500),
            "other": sum(1 for a in server_errors if a.status not in (500, 503)),
        },
    }


def order_figures(placements: Sequence[Placement], lost_answers: int, dropped: int) -> dict[str, Any]:
    accepted = [p for p in placements if p.order_id]
    return {
        "pushed": len(placements),
        "accepted_201": len(accepted),
        "refused": sum(1 for p in placements if p.refused),
        "no_final_answer": sum(1 for p in placements if p.abandoned),
        "placed_but_answer_lost": lost_answers,
        "retried_keys": sum(1 for p in placements if len(p.answers) > 1),
        "paid_by_clients": sum(1 for p in accepted if p.action == "pay"),
        "cancelled_by_clients": sum(1 for p in accepted if p.action == "cancel"),
        "tickets_dropped": dropped,
    }


def first_201_after(placements: Sequence[Placement], moment: float) -> float | None:
    times = [a.at for p in placements for a in p.answers if a.status == 201 and a.at >= moment]
    return min(times, default=None)


def recovery(placements: Sequence[Placement], outcomes: Sequence[FaultOutcome]) -> dict[str, Any]:
    """Per kind: seconds from the repair (restart, heal, successor) until every /readyz is 200 and an order
    is accepted again; each occurrence, and the worst. None where it never recovered."""
    per_kind: dict[str, list[float | None]] = {}
    for outcome in outcomes:
        seconds: float | None = None
        if outcome.restored_at is not None and outcome.ready_at is not None:
            flowing = first_201_after(placements, outcome.restored_at)
            if flowing is not None:
                seconds = round(max(outcome.ready_at, flowing) - outcome.restored_at, 2)
        per_kind.setdefault(outcome.kind, []).append(seconds)
    return {
        kind: {"each_s": each, "max_s": max((s for s in each if s is not None), default=None)}
        for kind, each in sorted(per_kind.items())
    }


def check_faults(outcomes: Sequence[FaultOutcome], recovered: dict[str, Any]) -> Check:
    """Every fault was put in place and repaired, the system recovered from each, and each fault's own
    check (the paused relay fenced, nothing published after its successor) held."""
    failed = [{"number": o.number, "kind": o.kind, **o.details} for o in outcomes if not o.ok]
    never = [kind for kind, figures in recovered.items() if None in figures["each_s"]]
    return Check("faults_recovered", not failed and not never, {"failed": failed, "never_recovered": never})


def check_server_errors(http: dict[str, Any]) -> Check:
    """A dependency's outage is a 503 with Retry-After; a 500 (or any other 5xx) is a defect."""
    errors = http["5xx"]
    ok = errors["500"] == 0 and errors["other"] == 0
    return Check("no_500s", ok, {"500": errors["500"], "other": errors["other"]})


def accepted_by_instance(placements: Sequence[Placement], ports: Mapping[str, int]) -> dict[str, int]:
    """The 201s each Order Service process gave, by its name (`order-1`), as the clients counted them."""
    by_url = {f"http://127.0.0.1:{port}": name for name, port in ports.items()}
    counted = Counter(by_url.get(a.via or "", a.via or "?") for p in placements for a in p.answers if a.status == 201)
    return dict(sorted(counted.items()))


TAKEOVER_KEYS = ("instance", "takeover_s", "survivor_leads_after_s", "probe_told_unpaid_after_s", "new_leader")
NODE_LOSS_KEYS = ("node", "controller", "recovery_s", "controller_elected_after_s", "new_controller")


def cluster_figures(
    placements: Sequence[Placement], outcomes: Sequence[FaultOutcome], ports: Mapping[str, int]
) -> dict[str, Any]:
    """The relay takeover of each killed relay leader (seconds from the kill until a survivor leads and, for
    the Order Service, an order placed on a survivor after the kill was told `unpaid`), the recovery from
    each Kafka node's loss (from the kill until an order placed after it was told `unpaid`), and the 201s
    per Order Service instance."""
    takeovers = [
        {"kind": o.kind, **{k: o.details.get(k) for k in TAKEOVER_KEYS}}
        for o in outcomes if o.details.get("relay_leader")
    ]
    node_losses = [
        {"kind": o.kind, **{k: o.details.get(k) for k in NODE_LOSS_KEYS}} for o in outcomes if "node" in o.details
    ]
    return {
        "accepted_201_by_order_instance": accepted_by_instance(placements, ports),
        "relay_takeover": takeovers,
        "kafka_node_loss": node_losses,
    }


def cluster_lines(cluster: dict[str, Any] | None) -> list[str]:
    """The cluster form's figures as lines for a person (stderr, a test's log)."""
    if not cluster:
        return []
    lines = [f"chaos: 201s per Order Service instance: {cluster['accepted_201_by_order_instance']}"]
    lines += [
        f"chaos: relay takeover after {t['kind']} of the leader {t['instance']}: {t['takeover_s']} s "
        f"(a survivor leads after {t['survivor_leads_after_s']} s, new leader {t['new_leader']}"
        + (f", an order placed on it told unpaid after {t['probe_told_unpaid_after_s']} s)"
           if t["kind"] == "kill_order" else ")")
        for t in cluster["relay_takeover"]
    ]
    lines += [
        f"chaos: Kafka node {n['node']} killed{' (its controller led)' if n['controller'] else ''}: an order "
        f"placed after it told unpaid after {n['recovery_s']} s"
        + (f"; node {n['new_controller']} leads after {n['controller_elected_after_s']} s" if n["controller"] else "")
        for n in cluster["kafka_node_loss"]
    ]
    return lines


def document(
    head: dict[str, Any],
    orders: dict[str, Any],
    faults: Sequence[FaultOutcome],
    http: dict[str, Any],
    recovered: dict[str, Any],
    checks: Sequence[Check],
    cluster: dict[str, Any] | None = None,
) -> dict[str, Any]:
    failed = [c.name for c in checks if not c.ok]
    stock = next((c for c in checks if c.name == "stock_conserved"), None)
    return {
        **head,
        **({"cluster": cluster} if cluster is not None else {}),
        "orders": orders,
        "faults_injected": dict(Counter(o.kind for o in faults)),
        "oversold_units": stock.figures["oversold_units"] if stock else None,
        "lost_effects": sum(c.lost for c in checks),
        "duplicated_effects": sum(c.duplicated for c in checks),
        "http": http,
        "recovery": recovered,
        "faults": [_fault(o) for o in faults],
        "checks": {c.name: {"ok": c.ok, **c.figures} for c in checks},
        "defects": failed,
        "ok": not failed,
    }


def _fault(outcome: FaultOutcome) -> dict[str, Any]:
    """One fault as the document shows it: how long it lasted and how long the services took to be ready."""

    def seconds(start: float | None, end: float | None) -> float | None:
        return None if start is None or end is None else round(end - start, 2)

    return {
        "number": outcome.number,
        "kind": outcome.kind,
        "ok": outcome.ok,
        "held_s": seconds(outcome.injected_at, outcome.restored_at),
        "ready_after_repair_s": seconds(outcome.restored_at, outcome.ready_at),
        **outcome.details,
    }
