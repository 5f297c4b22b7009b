"""Several broker+controller nodes on 127.0.0.1 that form one KRaft cluster: each node its own folder
(`home/node-<id>`), ports and JVM, all of them voters of the controller quorum, so the cluster keeps serving
while one node of three is down, and elects another controller when the one that leads is lost.

The nodes are formatted with one cluster id and a static voter set (`controller.quorum.voters`, no
--standalone; config.py), and start as one: a node answers only once a majority of the controllers is up,
so every JVM is launched before the cluster is waited for.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import config
from .cluster import wait_until_ready
from .errors import BrokerSetupError
from .jars import fetch_jars
from .node import DEFAULT_HOME, LocalKafka
from .ports import free_port

MAX_NODES = 9


class LocalKafkaCluster:
    """`nodes` nodes under `home`, node i (from 1) on `ports[i - 1]` = (client port, controller port);
    without `ports`, on free ones (a test's cluster)."""

    def __init__(self, home: Path, nodes: int = 3, *, ports: Sequence[tuple[int, int]] | None = None) -> None:
        if not 1 <= nodes <= MAX_NODES:
            raise BrokerSetupError(f"a local cluster has 1 to {MAX_NODES} nodes, not {nodes}: set KAFKA_NODES")
        chosen = list(ports) if ports is not None else _free_port_pairs(nodes)
        if len(chosen) != nodes:
            raise BrokerSetupError(f"{nodes} nodes need {nodes} pairs of ports, not {len(chosen)}")
        self.home = home
        voters = ",".join(f"{i}@127.0.0.1:{controller}" for i, (_, controller) in enumerate(chosen, 1))
        homes = [home / f"node-{i}" for i in range(1, nodes + 1)]
        # One id for all: a node formatted with another cluster's id refuses to join. A node whose storage
        # is gone (or new) is formatted with the id the others have.
        stored = [LocalKafka(h).stored_cluster_id() for h in homes]
        cluster_id = next((found for found in stored if found), None) or config.new_cluster_id()
        self.nodes = tuple(
            LocalKafka(h, port=port, controller_port=controller, node_id=i, voters=voters, cluster_id=cluster_id)
            for i, (h, (port, controller)) in enumerate(zip(homes, chosen, strict=True), 1)
        )

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(node.bootstrap_servers for node in self.nodes)

    @property
    def replicas(self) -> int:
        """How many copies of each partition the project's topics get here (3 on three nodes)."""
        return config.replication_factor(len(self.nodes))

    def node(self, node_id: int) -> LocalKafka:
        return self.nodes[node_id - 1]

    def running_pids(self) -> dict[int, int | None]:
        return {node.node_id: node.running_pid() for node in self.nodes}

    # -- the whole cluster --

    def start(self, timeout_s: float = 60.0) -> float:
        """Start every node not running yet and wait until all of them are in the cluster's metadata; returns
        the seconds it took. On failure, the nodes this call started are stopped again."""
        started = time.monotonic()
        launched = self._launch_every_node()
        try:
            for node, process in launched:
                node.wait_until_listening(process, started + timeout_s)
            self._wait_for_every_node(started + timeout_s)
        except BaseException:
            for node, process in launched:
                node.abandon(process)
            raise
        return time.monotonic() - started

    def _launch_every_node(self) -> list[tuple[LocalKafka, subprocess.Popen[bytes]]]:
        # In parallel: each new node's storage format is a JVM of a few seconds. The jars are fetched first,
        # once (a fetch is not safe to run twice at a time).
        fetch_jars()
        with ThreadPoolExecutor(max_workers=len(self.nodes)) as pool:
            futures = [(node, pool.submit(node.launch)) for node in self.nodes]
        launched, errors = [], []
        for node, future in futures:
            try:
                process = future.result()
            except BrokerSetupError as error:
                errors.append(error)
                continue
            if process is not None:
                launched.append((node, process))
        if errors:
            for node, process in launched:
                node.abandon(process)
            raise errors[0]
        return launched

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop every node, all at once (one by one, the last would wait for a quorum that is gone);
        False when none was running."""
        with ThreadPoolExecutor(max_workers=len(self.nodes)) as pool:
            stopped = list(pool.map(lambda node: node.stop(timeout_s), self.nodes))
        return any(stopped)

    # -- one node: for tests that take one away and bring it back --

    def stop_node(self, node_id: int, timeout_s: float = 30.0) -> bool:
        """A clean shutdown of one node (it hands its partitions' leadership over first)."""
        return self.node(node_id).stop(timeout_s)

    def kill_node(self, node_id: int) -> bool:
        """SIGKILL one node: a crash; the others notice only when its heartbeats stop."""
        return self.node(node_id).kill()

    def start_node(self, node_id: int, timeout_s: float = 60.0) -> float:
        """Start one node again from its storage and wait until the cluster lists it; returns the seconds."""
        started = time.monotonic()
        node = self.node(node_id)
        process = node.launch()
        if process is not None:
            try:
                node.wait_until_listening(process, started + timeout_s)
                self._wait_for_every_node(started + timeout_s)
            except BaseException:
                node.abandon(process)
                raise
        return time.monotonic() - started

    def active_controller(self) -> int | None:
        """The node id of the controller that leads the quorum now, as the running nodes last recorded it.

        Kafka's clients cannot say: in KRaft, the controller id a broker hands them is any live broker. Each
        voter writes who leads in which epoch to `quorum-state` in its metadata log; the newest epoch any
        running node knows names the leader (None before an election, or with every node down)."""
        newest: tuple[int, int] | None = None
        for node in self.nodes:
            if node.running_pid() is None:
                continue
            state = _quorum_state(node)
            if state is not None and state[1] >= 0 and (newest is None or state[0] > newest[0]):
                newest = state
        return newest[1] if newest else None

    def _wait_for_every_node(self, deadline: float) -> None:
        wait_until_ready(self.bootstrap_servers, max(deadline - time.monotonic(), 1.0), brokers=len(self.nodes))


def _quorum_state(node: LocalKafka) -> tuple[int, int] | None:
    """(leader epoch, leader id) from the node's quorum-state file; None if not written (yet)."""
    try:
        state = json.loads((node.data_dir / "__cluster_metadata-0" / "quorum-state").read_text())
    except (FileNotFoundError, ValueError):
        return None
    return int(state.get("leaderEpoch", -1)), int(state.get("leaderId", -1))


def _free_port_pairs(nodes: int) -> list[tuple[int, int]]:
    # The OS may offer a port twice in a row once its probe socket is closed: keep asking until all differ.
    ports: list[int] = []
    for _ in range(100 * nodes):
        port = free_port()
        if port not in ports:
            ports.append(port)
        if len(ports) == 2 * nodes:
            return [(ports[2 * i], ports[2 * i + 1]) for i in range(nodes)]
    raise BrokerSetupError(f"could not find {2 * nodes} free ports on 127.0.0.1")


def nodes_from_environment() -> int:
    """KAFKA_NODES: 1 (the default) is the single broker of LocalKafka; 3 a cluster that survives one loss."""
    return int(os.environ.get("KAFKA_NODES", "1"))


def nodes_stored_in(home: Path) -> int:
    """How many nodes a cluster under `home` was started with (0: none), so stop and status find them all."""
    return sum(1 for i in range(1, MAX_NODES + 1) if (home / f"node-{i}").is_dir())


def cluster_from_environment(nodes: int) -> LocalKafkaCluster:
    """The cluster KAFKA_HOME, KAFKA_PORT and KAFKA_CONTROLLER_PORT describe: node i on KAFKA_PORT + 2(i-1)
    and KAFKA_CONTROLLER_PORT + 2(i-1) (9092/9093, 9094/9095, 9096/9097), node 1 where a single broker is."""
    port = int(os.environ.get("KAFKA_PORT", "9092"))
    controller = int(os.environ.get("KAFKA_CONTROLLER_PORT", port + 1))
    home = Path(os.environ.get("KAFKA_HOME", DEFAULT_HOME)).resolve()
    return LocalKafkaCluster(home, nodes, ports=[(port + 2 * i, controller + 2 * i) for i in range(nodes)])
