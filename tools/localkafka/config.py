"""What one node is told: its server.properties, its logging, its JVM flags and a new cluster id."""

from __future__ import annotations

import uuid
from base64 import urlsafe_b64encode
from pathlib import Path

# Kafka's own scripts default to a 1 GiB heap; a test broker on a 2-core, shared machine needs far less.
DEFAULT_HEAP = "-Xms128m -Xmx512m"
# The flags Kafka's bin/kafka-run-class.sh passes.
JVM_FLAGS = [
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:MaxInlineLevel=15",
    "-Djava.awt.headless=true",
]

BROKER_LOG4J = """\
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
"""

TOOL_LOG4J = """\
status = warn
appender.err.type = Console
appender.err.name = ERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = %p %m%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = ERR
"""


def replication_factor(nodes: int) -> int:
    """Copies of each partition on a cluster of `nodes`: 3, Kafka's own default, once there are 3 to hold them."""
    return min(3, nodes)


def min_insync_replicas(replicas: int) -> int:
    """How many copies must have a write before acks=all succeeds: 2 of 3 survives one node lost without
    refusing writes; with fewer copies, one (as a single node must)."""
    return 2 if replicas >= 3 else 1


def server_properties(
    *, port: int, controller_port: int, data_dir: Path, node_id: int = 1, voters: str = ""
) -> str:
    """One broker+controller node on 127.0.0.1, listening on `port`, its controller on `controller_port`.

    `voters` is the cluster's `controller.quorum.voters` (`1@127.0.0.1:9093,2@...`); empty: this node alone."""
    voters = voters or f"{node_id}@127.0.0.1:{controller_port}"
    replicas = replication_factor(voters.count("@"))
    min_isr = min_insync_replicas(replicas)
    return "\n".join(
        [
            "process.roles=broker,controller",
            f"node.id={node_id}",
            # A static voter set: storage is then formatted without --standalone, and the
            # controller port may change between starts (the voter set is not stored).
            f"controller.quorum.voters={voters}",
            f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
            "inter.broker.listener.name=PLAINTEXT",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            f"log.dirs={data_dir}",
            # Topics are created on purpose, with their partition counts; a typo must not make one.
            "auto.create.topics.enable=false",
            "num.partitions=1",
            # A topic made without a replication factor gets every copy the cluster can hold, and a write
            # acknowledged by all (acks=all: our producers are transactional) is on min_isr nodes at least.
            f"default.replication.factor={replicas}",
            f"min.insync.replicas={min_isr}",
            # The internal topics likewise: on one node they cannot have 3 replicas, and without these
            # consumer groups and InitProducerId (transactions) fail. Few partitions make the first
            # group/transaction fast.
            f"offsets.topic.replication.factor={replicas}",
            "offsets.topic.num.partitions=5",
            f"transaction.state.log.replication.factor={replicas}",
            f"transaction.state.log.min.isr={min_isr}",
            "transaction.state.log.num.partitions=5",
            f"share.coordinator.state.topic.replication.factor={replicas}",
            f"share.coordinator.state.topic.min.isr={min_isr}",
            "group.initial.rebalance.delay.ms=0",
            # Two cores shared with the services and the tests.
            "num.network.threads=2",
            "num.io.threads=4",
            "",
        ]
    )


def new_cluster_id() -> str:
    """What `kafka-storage.sh random-uuid` prints: 16 random bytes, url-safe base64, no padding.

    Like Kafka's Uuid.randomUuid, never one starting with "-": the storage tool would read it as an option.
    """
    while True:
        cluster_id = urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id
