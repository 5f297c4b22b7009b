"""The command line of the local broker, run with tools/ on PYTHONPATH (the Makefile and the image set it):

    python -m localkafka start [--nodes N]   fetch the jars (once), format storage (once), start, create topics
    python -m localkafka stop     stop the broker (every node) this project started (SIGTERM, then SIGKILL)
    python -m localkafka status   say whether it runs, and where (each node)
    python -m localkafka fetch    only fetch the jars (once), e.g. before tests start a broker

With KAFKA_BOOTSTRAP_SERVERS set, nothing is fetched or started: `start` only makes sure the topics exist
on that cluster. Other settings (environment): KAFKA_NODES (1; 3: a cluster, node i in KAFKA_HOME/node-i on
KAFKA_PORT + 2(i-1) and KAFKA_CONTROLLER_PORT + 2(i-1)), KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT
(KAFKA_PORT + 1), KAFKA_HOME (var/kafka: storage, logs, pid file), KAFKA_PARTITIONS (3),
KAFKA_START_TIMEOUT_S (60), KAFKA_HEAP_OPTS.

Every failure is one line naming the cause and the fix, exit status 1, and no broker left half-started.
"""

from __future__ import annotations

import os
import sys

from .cluster import ensure_topics, project_topics, wait_until_ready
from .errors import BrokerSetupError, shown
from .jars import KAFKA_VERSION, fetch_jars
from .local_cluster import (
    LocalKafkaCluster,
    cluster_from_environment,
    nodes_from_environment,
    nodes_stored_in,
)
from .node import LocalKafka, from_environment

COMMANDS = {"start", "stop", "status", "fetch"}


def main(argv: list[str]) -> int:
    try:
        command, nodes = _parse(argv[1:])
    except ValueError:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    try:
        if external:
            return _external(command, external)
        if command == "fetch":
            print(f"kafka: Apache Kafka {KAFKA_VERSION} jars in {shown(fetch_jars())}")
        elif command == "start":
            _start(nodes if nodes is not None else nodes_from_environment())
        elif command == "stop":
            stopped = [target.stop() for target in _stored()]  # every one, not up to the first
            print("kafka: stopped" if any(stopped) else "kafka: not running")
        else:
            return _status()
    except BrokerSetupError as error:
        print(f"kafka: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("kafka: interrupted; nothing left running", file=sys.stderr)
        return 130
    return 0


def _parse(args: list[str]) -> tuple[str, int | None]:
    """The command, and --nodes N (or --nodes=N) if given; ValueError for anything else."""
    usage = ValueError(f"not a command line of localkafka: {' '.join(args)!r}")
    if not args or args[0] not in COMMANDS:
        raise usage
    rest = " ".join(args[1:]).replace("--nodes=", "--nodes ").split()
    if not rest:
        return args[0], None
    if args[0] != "start" or len(rest) != 2 or rest[0] != "--nodes" or not rest[1].isdigit():
        raise usage
    return args[0], int(rest[1])


def local_target(nodes: int) -> LocalKafka | LocalKafkaCluster:
    """What `start` starts for `nodes` (KAFKA_NODES): the single broker KAFKA_HOME describes for 1, else a
    cluster of that many nodes there; BrokerSetupError while the other shape runs from that folder.
    tools/run.py starts the same one."""
    if nodes == 1:
        _refuse_if_running(_stored_cluster(), "a cluster of nodes")
        return from_environment()
    _refuse_if_running(from_environment(), "a single broker")
    return cluster_from_environment(nodes)


def _start(nodes: int) -> None:
    target = local_target(nodes)
    if isinstance(target, LocalKafka):
        single = target
        was_running = single.running_pid() is not None
        seconds = single.start(_start_timeout())
        how = "already running" if was_running else f"started in {seconds:.1f} s"
        print(f"kafka: Apache Kafka {KAFKA_VERSION} {how}, pid {single.running_pid()}, "
              f"at {single.bootstrap_servers} (logs: {shown(single.log_file)})")
        _report_topics(single.bootstrap_servers, replicas=1)
        return
    cluster = target
    was_running = all(cluster.running_pids().values())
    seconds = cluster.start(_start_timeout())
    how = "already running" if was_running else f"started in {seconds:.1f} s"
    pids = ", ".join(str(pid) for pid in cluster.running_pids().values())
    print(f"kafka: Apache Kafka {KAFKA_VERSION}, {nodes} nodes {how}, pids {pids}, at {cluster.bootstrap_servers} "
          f"(logs: {shown(cluster.home)}/node-*/logs/broker.log)")
    _report_topics(cluster.bootstrap_servers, replicas=cluster.replicas)


def _refuse_if_running(other: LocalKafka | LocalKafkaCluster | None, what: str) -> None:
    # Both shapes listen on KAFKA_PORT: the second would fail on a taken port; say which one and the fix.
    pids = _pids(other) if other is not None else []
    if other is not None and pids:
        raise BrokerSetupError(
            f"{what} from {shown(other.home)} is running (pids {', '.join(map(str, pids))}): "
            "run `make kafka-stop` first, or set KAFKA_HOME to another folder"
        )


def _pids(target: LocalKafka | LocalKafkaCluster) -> list[int]:
    found = [target.running_pid()] if isinstance(target, LocalKafka) else list(target.running_pids().values())
    return [pid for pid in found if pid is not None]


def _stored_cluster() -> LocalKafkaCluster | None:
    home = from_environment().home
    return cluster_from_environment(nodes_stored_in(home)) if nodes_stored_in(home) else None


def _stored() -> list[LocalKafka | LocalKafkaCluster]:
    """Whatever KAFKA_HOME holds: the single broker, and a cluster if one was ever started there."""
    cluster = _stored_cluster()
    return [from_environment(), *([cluster] if cluster else [])]


def _status() -> int:
    single = from_environment()
    pid = single.running_pid()
    if pid:
        print(f"kafka: running, pid {pid}, at {single.bootstrap_servers}")
        return 0
    cluster = _stored_cluster()
    if cluster is None or not _pids(cluster):
        print("kafka: not running")
        return 1
    leader = cluster.active_controller()
    for node_id, node_pid in cluster.running_pids().items():
        where = cluster.node(node_id).bootstrap_servers
        state = f"running, pid {node_pid}" if node_pid else "not running"
        role = " (active controller)" if node_id == leader else ""
        print(f"kafka: node {node_id} {state}, at {where}{role}")
    return 0


def _start_timeout() -> float:
    return float(os.environ.get("KAFKA_START_TIMEOUT_S", "60"))


def _external(command: str, bootstrap_servers: str) -> int:
    if command == "start":
        wait_until_ready(bootstrap_servers, _start_timeout())
        print(f"kafka: using the cluster at {bootstrap_servers} (KAFKA_BOOTSTRAP_SERVERS); nothing started")
        _report_topics(bootstrap_servers, replicas=None)
    else:
        print(f"kafka: KAFKA_BOOTSTRAP_SERVERS={bootstrap_servers} is set: nothing to {command} here")
    return 0


def _report_topics(bootstrap_servers: str, replicas: int | None) -> None:
    """`replicas` None: as many copies as the cluster's brokers allow, up to 3 (another cluster's size)."""
    topics = project_topics()
    created = ensure_topics(bootstrap_servers, topics, replicas=replicas)
    listed = ", ".join(f"{t.name}({t.partitions})" for t in topics)
    print(f"kafka: topics ready ({len(created)} created): {listed}")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
