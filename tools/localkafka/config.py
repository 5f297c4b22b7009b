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


def server_properties(*, port: int, controller_port: int, data_dir: Path) -> str:
    """One broker+controller node on 127.0.0.1, listening on `port`, its controller on `controller_port`."""
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            # A static voter set: storage is then formatted without --standalone, and the
            # controller port may change between starts (the voter set is not stored).
            f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
            "inter.broker.listener.name=PLAINTEXT",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            f"log.dirs={data_dir}",
            # Topics are created on purpose, with their partition counts; a typo must not make one.
            "auto.create.topics.enable=false",
            "num.partitions=1",
            # One node: internal topics cannot have 3 replicas. Without these, consumer groups and
            # InitProducerId (transactions) fail. Few partitions make the first group/transaction fast.
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=5",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "transaction.state.log.num.partitions=5",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
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
