"""What `make run` (tools/run.py) does once everything is up: keep it up until Ctrl-C.

A service's process that dies (a crash, an out-of-memory kill, `kill -9`) is started again, each instance on
its own when a service has several, and so is the Kafka broker this run started, or each node of its cluster
that died. The pause before a restart doubles with each death in a row, 1, 2, 4, 8, 16 s, then 30 s
each time; a process that stayed up for STABLE_S before it died starts the count afresh. One that keeps
dying is restarted every 30 s for as long as the run lasts, and each death is said: a fix (an edited file,
a freed port, a broker back) is picked up without restarting the rest, while nothing crash-loops fast enough
to flood the log.

Each death and restart is said twice: on stderr, with the rest of what the script says, and on stdout as a
line of the log stream in its shape (service_logs.notice: level `warning`, `"logger": "run"`, the `pid`), so
that `make run | jq` and a saved log show it beside the lines the service wrote before it died (with its
`instance` among several, a node's `node` id). A service that is ready again after a restart says so at level
`info`.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from typing import TextIO

from attrs import define, frozen

import localkafka
import service_logs
from run_console import RunError, say

FIRST_DELAY_S = 1.0
MAX_DELAY_S = 30.0
STABLE_S = 60.0  # up at least this long: its next death is a first one again
BROKER = "kafka"  # the `service` of the stream's lines about the broker


@define
class Backoff:
    """The pause before the next restart: doubling with each death in a row, capped; reset by a long life."""

    first_s: float = FIRST_DELAY_S
    max_s: float = MAX_DELAY_S
    stable_s: float = STABLE_S
    deaths_in_a_row: int = 0

    def after_death(self, up_for_s: float) -> float:
        if up_for_s >= self.stable_s:
            self.deaths_in_a_row = 0
        self.deaths_in_a_row += 1
        return min(self.first_s * 2 ** (self.deaths_in_a_row - 1), self.max_s)


@define
class _Watch:
    """One supervised process: when it started, when to start it again once it has died."""

    started_at: float
    backoff: Backoff
    restart_at: float | None = None  # None while it runs
    restarts: int = 0
    ready_said: bool = True  # after a restart: whether "ready again" was said


@frozen
class BrokerNode:
    """One JVM of the Kafka this run started: its single broker, or a node of its cluster."""

    what: str  # how the lines name it: `the Kafka broker`, `Kafka node 2`
    node: localkafka.LocalKafka
    restart: Callable[[], float]  # start it again and wait until it serves; the seconds it took
    fields: Mapping[str, object]  # what the stream's lines about it carry besides `service`


def broker_nodes(broker: localkafka.LocalKafka | localkafka.LocalKafkaCluster | None) -> list[BrokerNode]:
    if broker is None:
        return []
    if isinstance(broker, localkafka.LocalKafka):
        return [BrokerNode("the Kafka broker", broker, broker.start, {})]
    return [
        BrokerNode(f"Kafka node {node.node_id}", node, partial(_start_node, broker, node.node_id),
                   {"node": node.node_id})
        for node in broker.nodes
    ]


def _start_node(cluster: localkafka.LocalKafkaCluster, node_id: int) -> float:
    # start_node waits until the cluster lists every node: with another one down too it would wait in vain,
    # then give up on this one. The cluster's start brings back every node that is down, and waits for all.
    others_down = any(pid is None for other, pid in cluster.running_pids().items() if other != node_id)
    return cluster.start() if others_down else cluster.start_node(node_id)


@contextmanager
def _stop_signals_held() -> Iterator[None]:
    """Ctrl-C or SIGTERM waits until the block is done, then stops the run as it would have: a service
    started but not yet in the dict run.py stops at the end would be left running. (Blocking the signals
    would not do: another thread receives them, and Python still runs the handler on this one.)"""
    held: list[int] = []
    stops = (signal.SIGINT, signal.SIGTERM)
    before = {stop: signal.signal(stop, lambda number, _frame: held.append(number)) for stop in stops}
    try:
        yield
    finally:
        for stop, handler in before.items():
            signal.signal(stop, handler)
        if held:  # over any other way the block ended: stopping comes first
            raise KeyboardInterrupt


def how_it_ended(status: int) -> str:
    """`exited with status 1`, or `was killed by SIGKILL` for a negative Popen.returncode."""
    if status < 0:
        try:
            return f"was killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"was killed by signal {-status}"
    return f"exited with status {status}"


class Supervisor:
    """Restarts the service processes in `services` (the dict run.py stops at the end: kept current here),
    and the broker or the cluster's nodes this run started, when they die. `check()` is one look; run.py
    calls it twice a second.

    A process's name is its service's (`order`), or an instance's (`order-2`) when `instances` maps the
    names of several processes to their service."""

    def __init__(
        self,
        services: dict[str, subprocess.Popen[bytes]],
        start: Callable[[str], subprocess.Popen[bytes]],
        ready: Callable[[str], bool],
        broker: localkafka.LocalKafka | localkafka.LocalKafkaCluster | None,
        log: TextIO = sys.stdout,
        clock: Callable[[], float] = time.monotonic,
        instances: Mapping[str, str] | None = None,
    ) -> None:
        self.services = services
        self._start = start
        self._ready = ready
        self._nodes = broker_nodes(broker)
        self._instances = instances or {}
        self._log = log
        self._clock = clock
        now = clock()
        self._watches = {name: _Watch(now, Backoff()) for name in services}
        self._node_watches = [_Watch(now, Backoff()) for _ in self._nodes]

    def check(self) -> None:
        for node, watch in zip(self._nodes, self._node_watches, strict=True):
            self._check_broker(node, watch)
        for name in self.services:
            self._check_service(name)

    def _check_service(self, name: str) -> None:
        watch, process = self._watches[name], self.services[name]
        now = self._clock()
        if watch.restart_at is None:
            if process.poll() is None:
                if not watch.ready_said and self._ready(name):
                    watch.ready_said = True
                    self._tell(name, "info", f"the {name} service is ready again", pid=process.pid)
                return
            delay = watch.backoff.after_death(now - watch.started_at)
            watch.restart_at = now + delay
            self._tell(
                name, "warning",
                f"the {name} service {how_it_ended(process.returncode)}; restarting it in {delay:g} s",
                pid=process.pid, exit_status=process.returncode, restart_in_s=delay,
            )
            return
        if now < watch.restart_at:
            return
        try:
            with _stop_signals_held():
                restarted = self.services[name] = self._start(name)
        except RunError as error:  # its port is taken, say: another death, another pause
            delay = watch.backoff.after_death(0.0)
            watch.restart_at = now + delay
            self._tell(name, "warning", f"could not restart the {name} service ({error}); "
                       f"trying again in {delay:g} s", restart_in_s=delay)
            return
        watch.restarts += 1
        watch.started_at, watch.restart_at, watch.ready_said = now, None, False
        self._tell(name, "warning", f"restarted the {name} service (restart {watch.restarts})",
                   pid=restarted.pid, restarts=watch.restarts)

    def _check_broker(self, broker: BrokerNode, watch: _Watch) -> None:
        now = self._clock()
        node = broker.node
        if watch.restart_at is None:
            if node.running_pid() is not None:
                return
            delay = watch.backoff.after_death(now - watch.started_at)
            watch.restart_at = now + delay
            self._tell(BROKER, "warning", f"{broker.what} this run started has stopped (its log: "
                       f"{node.log_file}); restarting it in {delay:g} s", restart_in_s=delay, **broker.fields)
            return
        if now < watch.restart_at and node.running_pid() is None:  # not yet, unless another's restart did it
            return
        try:
            seconds = broker.restart()  # the services' clients reconnect by themselves once it answers
        except localkafka.BrokerSetupError as error:
            delay = watch.backoff.after_death(0.0)
            watch.restart_at = self._clock() + delay
            self._tell(BROKER, "warning", f"could not restart {broker.what} ({error}); "
                       f"trying again in {delay:g} s", restart_in_s=delay, **broker.fields)
            return
        watch.restarts += 1
        watch.started_at, watch.restart_at = self._clock(), None
        self._tell(BROKER, "warning", f"restarted {broker.what} in {seconds:.1f} s (restart {watch.restarts})",
                   pid=node.running_pid(), restarts=watch.restarts, **broker.fields)

    def _tell(self, name: str, level: str, message: str, **fields: object) -> None:
        say(f"run: {message}")
        if name == BROKER:
            service = BROKER
        else:
            service = service_logs.service_name(self._instances.get(name, name))
            fields = {"instance": name, **fields} if name in self._instances else fields
        service_logs.write(service_logs.notice(service, level, message, datetime.now(UTC), **fields), self._log)
