"""Putting each planned fault in place at its moment, repairing it, and timing the recovery.

One fault at a time, in the schedule's order (a fault that overruns delays the next, and says so). Blocking
work (killing and reaping a process, starting one and waiting until it is ready) runs on a thread, so the
load and the stock watcher go on meanwhile.

The paused Order Service (`PAUSE_ORDER`) is the zombie case: an instance stops answering (SIGSTOP, past the
consumer session timeout, 6 s), an orchestrator starts a successor on the same DATA_DIR and another port and
sends it the traffic, and then the old one wakes up (SIGCONT). Kafka must fence the old relay's producer:
once it tries to publish, its `ordering_outbox_relay_fenced` is 1 and it published nothing since it was
paused. So that "nothing since" is exact, the load is held for the instant the old relay's count is read
(its outbox empty, its count still) and the process is stopped. Then it is killed.

In the cluster form (several instances of each service, three Kafka nodes) a kill takes one instance or one
node, chosen and measured by cluster_faults.py: the relay's leader, the controller's node.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

import httpx

import localkafka
from chaos import observe
from chaos.cluster_faults import ClusterFaults
from chaos.ledger import FaultOutcome
from chaos.plan import KILLED_SERVICE, Kind, PlannedFault
from chaos.proxy import FaultyLink
from chaos.system import ChaosSystem, pause, resume, say
from chaos.traffic import Traffic

READY_TIMEOUT_S = 120.0
FENCE_TIMEOUT_S = 30.0
PUBLISHED = "ordering_events_published_total"
FENCED = "ordering_outbox_relay_fenced"
BACKLOG = "ordering_outbox_backlog"


class Injector:
    def __init__(self, system: ChaosSystem, link: FaultyLink, traffic: Traffic, http: httpx.AsyncClient) -> None:
        self._system = system
        self._link = link
        self._traffic = traffic
        self._http = http
        self._cluster = ClusterFaults(system, traffic, http) if system.several or system.cluster else None
        self.outcomes: list[FaultOutcome] = []

    async def run(self, schedule: Sequence[PlannedFault], started_at: float) -> None:
        for fault in schedule:
            late_s = time.monotonic() - (started_at + fault.at_s)
            if late_s > 0.5:
                say(f"chaos: fault {fault.number} ({fault.kind}) starts {late_s:.1f} s late: the last one overran")
            await asyncio.sleep(max(0.0, started_at + fault.at_s - time.monotonic()))
            outcome = FaultOutcome(fault.number, fault.kind.value, time.monotonic())
            self.outcomes.append(outcome)
            try:
                await self._inject(fault, outcome)
            except Exception as error:  # noqa: BLE001 - a fault that could not be repaired is a finding
                outcome.ok = False
                outcome.details["error"] = f"{type(error).__name__}: {error}"
            if outcome.ready_at is None:
                await self._await_ready(outcome)
            say(f"chaos: fault {fault.number} {fault.kind} repaired; ready after "
                f"{_since(outcome.restored_at, outcome.ready_at)} s {_brief(outcome)}")

    async def _inject(self, fault: PlannedFault, outcome: FaultOutcome) -> None:
        say(f"chaos: fault {fault.number}: {fault.kind} for {fault.hold_s:g} s"
            + (f", {fault.latency_s:g} s latency" if fault.latency_s else ""))
        if fault.kind in KILLED_SERVICE:
            await self._kill_service(KILLED_SERVICE[fault.kind], fault.hold_s, outcome)
        elif fault.kind is Kind.KILL_BROKER:
            await self._kill_broker(fault.hold_s, outcome)
        elif fault.kind is Kind.PAUSE_ORDER:
            await self._pause_order(fault.hold_s, outcome)
        else:
            await self._degrade_link(fault, outcome)

    async def _kill_service(self, service: str, hold_s: float, outcome: FaultOutcome) -> None:
        if self._cluster is None or not self._system.several:
            name, leads = service, False
        else:
            name, leads = await self._cluster.victim(service)
            outcome.details.update(instance=name, relay_leader=leads)
        outcome.details["pid"] = await asyncio.to_thread(self._system.kill, name)
        outcome.injected_at = time.monotonic()
        measure = (
            asyncio.ensure_future(self._cluster.takeover(service, name, outcome.injected_at))
            if self._cluster is not None and leads else None
        )
        await self._restart_after(hold_s, outcome, lambda: self._system.restart(name), measure, "takeover_s")

    async def _kill_broker(self, hold_s: float, outcome: FaultOutcome) -> None:
        node: int | None = None
        controller = False
        measure = None
        if self._cluster is not None and self._system.cluster is not None:
            node, controller = await asyncio.to_thread(self._cluster.node_to_kill)
            outcome.details.update(node=node, controller=controller)
        outcome.details["pid"] = await asyncio.to_thread(self._system.kill_broker, node)
        outcome.injected_at = time.monotonic()
        if self._cluster is not None and node is not None:
            measure = asyncio.ensure_future(self._cluster.node_loss(node, controller, outcome.injected_at))
        await self._restart_after(
            hold_s, outcome, lambda: self._system.restart_broker(node), measure, "recovery_s"
        )

    async def _restart_after(
        self,
        hold_s: float,
        outcome: FaultOutcome,
        restart: Callable[[], object],
        measure: asyncio.Future[dict[str, object]] | None,
        key: str,
    ) -> None:
        """Keep the killed process down for `hold_s`, restart it, then (whatever happened) take the cluster
        measure's figures, if one runs, into the fault's details under `key`."""
        try:
            await asyncio.sleep(hold_s)
            outcome.restored_at = time.monotonic()
            await asyncio.to_thread(restart)
        finally:
            if measure is not None:
                await self._measured(measure, key, outcome)

    @staticmethod
    async def _measured(measure: asyncio.Future[dict[str, object]], key: str, outcome: FaultOutcome) -> None:
        """The cluster measure's figures into the fault's details; a measure that never came is a failure."""
        figures = await measure
        outcome.details.update(figures)
        if figures.get(key) is None:
            outcome.ok = False
            outcome.details["note"] = f"no {key} within the measure's time"

    async def _degrade_link(self, fault: PlannedFault, outcome: FaultOutcome) -> None:
        if fault.kind is Kind.SLOW_PRODUCT:
            self._link.slow(fault.latency_s)
            outcome.details["latency_s"] = fault.latency_s
        else:
            self._link.cut()
        outcome.injected_at = time.monotonic()
        await asyncio.sleep(fault.hold_s)
        self._link.heal()
        outcome.restored_at = time.monotonic()

    async def _pause_order(self, hold_s: float, outcome: FaultOutcome) -> None:
        old_url = self._system.url("order")
        old = self._system.processes["order"]
        try:
            before = await self._quiet_count(old_url)
            pause(old)
        finally:
            self._traffic.reopen()  # the clients go on sending to the paused instance, and time out
        outcome.injected_at = time.monotonic()
        outcome.details.update(pid=old.pid, published_before=before)
        try:
            await asyncio.sleep(min(2.0, hold_s / 2))  # an orchestrator notices the instance does not answer
            outcome.restored_at = time.monotonic()
            await self._start_successor()
            outcome.ready_at = time.monotonic()  # the successor serves: the flow no longer waits for the zombie
            await asyncio.sleep(max(0.0, outcome.injected_at + hold_s - time.monotonic()))
        finally:
            resume(old)
        outcome.details["paused_s"] = round(time.monotonic() - outcome.injected_at, 1)
        try:
            await self._judge_zombie(old_url, before, outcome)
        finally:
            old.kill()
            await asyncio.to_thread(old.wait, 15)

    async def _start_successor(self) -> None:
        """A new Order Service on the same DATA_DIR and another port; the traffic goes to it from now on."""
        port = localkafka.free_port()
        successor = self._system.launch("order", port)
        try:
            await asyncio.to_thread(self._system.wait_ready, "order", successor, port)
        finally:
            self._system.replace_order_service(successor, port)
            self._traffic.order_url = self._system.url("order")

    async def _quiet_count(self, url: str) -> float | None:
        """Hold the load until the relay has nothing left to send and its count stands still; that count."""
        quiet = await self._traffic.quiesce()
        last: float | None = None
        for _ in range(40):  # bounded: 10 s
            values = await observe.metrics(self._http, url)
            if quiet and values is not None and values.get(BACKLOG, 1) == 0:
                if values.get(PUBLISHED) == last:
                    return last
                last = values.get(PUBLISHED)
            await asyncio.sleep(0.25)
        return None  # never still: the check below cannot be exact and says so

    async def _judge_zombie(self, old_url: str, before: float | None, outcome: FaultOutcome) -> None:
        """The woken instance must be fenced once it tries to publish; orders sent to it make it try."""
        deadline = time.monotonic() + FENCE_TIMEOUT_S
        values: dict[str, float] | None = None
        probes = 0
        while time.monotonic() < deadline:
            values = await observe.metrics(self._http, old_url)
            if values is not None and values.get(FENCED) == 1:
                break
            probes += 1
            await self._traffic.probe(old_url)
            await asyncio.sleep(0.5)
        fenced = values is not None and values.get(FENCED) == 1
        after = values.get(PUBLISHED) if values is not None else None
        outcome.details.update(
            fenced=fenced, published_after=after, probe_orders=probes,
            old_readyz_outbox=await self._outbox_check(old_url),
        )
        if before is None:
            outcome.details["note"] = "the relay never stood still before the pause: the count was not exact"
        outcome.ok = outcome.ok and fenced and (before is None or after == before)

    async def _outbox_check(self, url: str) -> str:
        """What the instance's /readyz says of its outbox ("ok", or why not)."""
        try:
            readiness = (await self._http.get(f"{url}/readyz", timeout=5.0)).json()
        except (httpx.HTTPError, ValueError):
            return "no answer"
        return str(readiness.get("checks", {}).get("outbox", "?"))[:160]

    async def _await_ready(self, outcome: FaultOutcome) -> None:
        urls = [self._system.url(service) for service in self._system.processes]

        async def every_service_ready() -> bool:
            return all(await asyncio.gather(*(observe.ready(self._http, url) for url in urls)))

        if await observe.wait_until(every_service_ready, READY_TIMEOUT_S):
            outcome.ready_at = time.monotonic()
        else:
            outcome.ok = False
            outcome.details["not_ready_within_s"] = READY_TIMEOUT_S


def _since(start: float | None, end: float | None) -> str:
    return "?" if start is None or end is None else f"{end - start:.1f}"


def _brief(outcome: FaultOutcome) -> str:
    shown = {k: v for k, v in outcome.details.items() if k not in ("pid",)}
    return ("" if outcome.ok else "FAILED ") + (str(shown) if shown else "")
