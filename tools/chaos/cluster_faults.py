"""The cluster form's faults: which instance or node each kill takes, and the two times it measures.

A service's kill takes one of its instances. For the Order and Product Services it is the one whose relay
publishes (`ordering_outbox_relay_leads` 1), on purpose: the case where another must take the lease over.
For the Message Service, which has no relay, instances take turns. A Kafka kill takes, the first time, the
node whose controller leads the quorum (LocalKafkaCluster.active_controller()), then the others in turn.

Measured from the kill, while the victim is held dead and started again:

- relay takeover (the Order Service's leader killed): until a surviving instance says
  `ordering_outbox_relay_leads 1` AND an order placed on a survivor after the kill has its `unpaid` message
  at the Message Service. For the Product Service (whose events the Message Service does not relay) only
  the first half: until a survivor leads.
- node-loss recovery (a Kafka node killed): until an order placed after the kill has its `unpaid` message;
  and, when the node's controller led, until another node's controller leads.

The probe orders are real orders, judged with the others (traffic.py `probe`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from chaos import observe
from chaos.system import ChaosSystem
from chaos.traffic import Traffic
from ordering_core.customers import Role

RELAY_LEADS = "ordering_outbox_relay_leads"
MEASURE_TIMEOUT_S = 90.0
PROBE_EVERY_S = 0.5
RELAYING = ("order", "product")


class ClusterFaults:
    def __init__(self, system: ChaosSystem, traffic: Traffic, http: httpx.AsyncClient) -> None:
        self._system = system
        self._traffic = traffic
        self._http = http
        self._admin = system.bearer("chaos-admin", Role.ADMIN)
        self._turns: dict[str, int] = {}

    # -- the victims ----------------------------------------------------------------------------------

    async def victim(self, service: str) -> tuple[str, bool]:
        """The instance to kill, and whether its relay leads (then it is the one chosen)."""
        names = self._system.names[service]
        if service in RELAYING:
            leader = await self.leader(names)
            if leader is not None:
                return leader, True
        return names[self._turn(service) % len(names)], False

    async def leader(self, names: list[str]) -> str | None:
        readings = await asyncio.gather(*(observe.metrics(self._http, self._system.url(n)) for n in names))
        return next((n for n, r in zip(names, readings, strict=True) if r and r.get(RELAY_LEADS) == 1), None)

    def node_to_kill(self) -> tuple[int, bool]:
        """The Kafka node to kill, and whether its controller leads: the leader first, then the others."""
        cluster = self._system.cluster
        if cluster is None:
            raise RuntimeError("node kills need the run's own cluster (--kafka-nodes 3)")
        controller = cluster.active_controller()
        turn = self._turn("kafka")
        if turn == 0 and controller is not None:
            return controller, True
        others = [node.node_id for node in cluster.nodes if node.node_id != controller]
        return others[turn % len(others)], False

    def _turn(self, what: str) -> int:
        self._turns[what] = self._turns.get(what, -1) + 1
        return self._turns[what]

    # -- the measures -------------------------------------------------------------------------------------

    async def takeover(self, service: str, killed: str, since: float) -> dict[str, Any]:
        """Relay takeover after `killed` (the leader) died at `since`: seconds until a survivor leads, until
        an order placed on a survivor after the kill was told `unpaid`, and the larger (`takeover_s`)."""
        survivors = [n for n in self._system.names[service] if n != killed]

        async def survivor_leads() -> bool:
            return await self.leader(survivors) is not None

        lead = asyncio.ensure_future(_seconds_until(survivor_leads, since))
        told: float | None = None
        order_url = self._system.url(survivors[0] if service == "order" else self._system.names["order"][0])
        if service == "order":
            told = await self._propagated(lambda: order_url, since)
        led = await lead
        figures: dict[str, Any] = {
            "survivor_leads_after_s": led,
            "new_leader": await self.leader(survivors),
        }
        if service == "order":
            figures["probe_told_unpaid_after_s"] = told
            figures["takeover_s"] = None if led is None or told is None else max(led, told)
        else:
            figures["takeover_s"] = led  # the Message Service hears nothing the Product Service relays
        return figures

    async def node_loss(self, node_id: int, controller: bool, since: float) -> dict[str, Any]:
        """Seconds from a node's kill until an order placed after it was told `unpaid` (`recovery_s`); when
        its controller led, until another node's controller leads."""
        cluster = self._system.cluster
        if cluster is None:
            raise RuntimeError("node kills need the run's own cluster")
        figures: dict[str, Any] = {}
        elected: asyncio.Future[float | None] | None = None
        # The first other node seen leading: read again later, the restarted node may have won an election since.
        new_leader: list[int] = []
        if controller:

            async def another_leads() -> bool:
                now = await asyncio.to_thread(cluster.active_controller)
                if now is None or now == node_id:
                    return False
                new_leader.append(now)
                return True

            elected = asyncio.ensure_future(_seconds_until(another_leads, since))
        order_names = self._system.names["order"]
        turn = iter(range(10_000))
        figures["recovery_s"] = await self._propagated(
            lambda: self._system.url(order_names[next(turn) % len(order_names)]), since
        )
        if elected is not None:
            figures["controller_elected_after_s"] = await elected
            figures["new_controller"] = new_leader[0] if new_leader else None
        return figures

    async def _propagated(self, order_url: Callable[[], str], since: float) -> float | None:
        """Place probe orders (on `order_url()` each time) until one is accepted, then wait until the Message
        Service has told its customer `unpaid`; seconds from `since`, or None past MEASURE_TIMEOUT_S."""
        deadline = since + MEASURE_TIMEOUT_S
        order_id: str | None = None
        for _ in range(int(MEASURE_TIMEOUT_S / PROBE_EVERY_S)):  # bounded, as is the deadline
            if time.monotonic() > deadline:
                return None
            placement = await self._traffic.probe(order_url())
            if placement is None:
                return None  # the run's traffic has ended
            if placement.order_id is not None:
                order_id = placement.order_id
                break
            await asyncio.sleep(PROBE_EVERY_S)
        if order_id is None:
            return None
        told = order_id

        async def unpaid_told() -> bool:
            return "unpaid" in await self._told(told)

        return await _seconds_until(unpaid_told, since, deadline - time.monotonic())

    async def _told(self, order_id: str) -> list[str]:
        for name in self._system.names["message"]:  # any instance that answers
            try:
                answer = await self._http.get(
                    f"{self._system.url(name)}/messages", params={"order_id": order_id}, headers=self._admin,
                    timeout=3.0,
                )
            except httpx.HTTPError:
                continue
            if answer.status_code == 200:
                return [str(message.get("status")) for message in answer.json()]
        return []


async def _seconds_until(
    condition: Callable[[], Awaitable[bool]], since: float, timeout_s: float = MEASURE_TIMEOUT_S
) -> float | None:
    """Seconds from `since` until `condition()` first held (asked every 0.1 s), or None past the timeout."""
    if await observe.wait_until(condition, max(timeout_s, 0.0), every_s=0.1):
        return round(time.monotonic() - since, 2)
    return None
