"""Any cluster, ours or the one KAFKA_BOOTSTRAP_SERVERS names: whether it answers, the project's topics on
it (partitions: KAFKA_PARTITIONS; copies: as many as its brokers allow, up to 3), and where each copy is."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .config import min_insync_replicas, replication_factor
from .errors import BrokerSetupError

if TYPE_CHECKING:
    from adapters.messaging.broker import TopicSpec


def project_topics(partitions: int | None = None) -> tuple[TopicSpec, ...]:
    """The topics the services use, as adapters.messaging.topics declares them (the one list of them), with
    `partitions` each (default: KAFKA_PARTITIONS, else the declared count). More partitions leave room for
    more consumers of a group; a topic that exists keeps its count (adding some would move keys, and with
    them the order of one order's events)."""
    from attrs import evolve

    from adapters.messaging.topics import ALL_TOPICS, PARTITIONS

    count = partitions if partitions is not None else int(os.environ.get("KAFKA_PARTITIONS", PARTITIONS))
    if count < 1:
        raise BrokerSetupError(f"KAFKA_PARTITIONS must be 1 or more, not {count}")
    return tuple(evolve(topic, partitions=count) for topic in ALL_TOPICS)


def _admin(bootstrap_servers: str):  # -> confluent_kafka.admin.AdminClient
    from confluent_kafka.admin import AdminClient

    # log_level 3 (errors only): a broker still starting makes librdkafka print connection warnings.
    return AdminClient({"bootstrap.servers": bootstrap_servers, "log_level": 3})


def wait_until_ready(bootstrap_servers: str, timeout_s: float, brokers: int = 1) -> None:
    """Wait until the cluster answers a metadata request (its listeners are up and a controller leads) that
    lists `brokers` brokers at least."""
    from confluent_kafka import KafkaException

    admin = _admin(bootstrap_servers)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            metadata = admin.list_topics(timeout=min(2.0, max(deadline - time.monotonic(), 0.1)))
            if len(metadata.brokers) >= brokers:
                return
        except KafkaException:
            pass
        if time.monotonic() > deadline:
            raise BrokerSetupError(
                f"no Kafka broker answered at {bootstrap_servers} within {timeout_s:.0f} s: "
                "check the address, or that the broker is running"
            )


def ensure_topics(
    bootstrap_servers: str, topics: Iterable[TopicSpec], timeout_s: float = 30.0, *, replicas: int | None = None
) -> list[str]:
    """Create the topics that do not exist yet, wait until every partition is served; returns those created.

    Each new topic gets `replicas` copies (default: one per broker the cluster's metadata lists, at most 3)
    and a min.insync.replicas to match (2 of 3), so an acknowledged write survives the loss of one node."""
    from adapters.kafka.broker import KafkaBroker
    from adapters.messaging.broker import MessagingError

    copies = replicas or replication_factor(_broker_count(bootstrap_servers, timeout_s))
    broker = KafkaBroker(bootstrap_servers, timeout_s=timeout_s, replication_factor=copies)
    try:
        created = broker.create_topics(topics)
    except MessagingError as error:
        raise BrokerSetupError(f"the topics are not ready on {bootstrap_servers}: {error}") from error
    finally:
        broker.close()  # hygiene: a client left open keeps calling a cluster that may stop (it says so on stderr)
    _set_min_insync_replicas(bootstrap_servers, created, min_insync_replicas(copies), timeout_s)
    return created


def _broker_count(bootstrap_servers: str, timeout_s: float) -> int:
    from confluent_kafka import KafkaException

    try:
        return len(_admin(bootstrap_servers).list_topics(timeout=timeout_s).brokers)
    except KafkaException as error:
        raise BrokerSetupError(f"no Kafka broker answered at {bootstrap_servers}: {error.args[0]}") from error


def _set_min_insync_replicas(bootstrap_servers: str, topics: list[str], count: int, timeout_s: float) -> None:
    # On the topic itself, not left to the broker's default: another cluster's default may differ (a value
    # above the copies a topic has refuses every acks=all write). Topics that existed are left alone.
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

    if not topics:
        return
    entry = ConfigEntry("min.insync.replicas", str(count), incremental_operation=AlterConfigOpType.SET)
    resources = [ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=[entry]) for name in topics]
    admin = _admin(bootstrap_servers)  # kept until the answers are in: a dropped client fails its futures
    futures = admin.incremental_alter_configs(resources, request_timeout=timeout_s)
    try:
        for future in futures.values():
            future.result()
    except KafkaException as error:
        raise BrokerSetupError(
            f"could not set min.insync.replicas={count} on the new topics at {bootstrap_servers}: {error.args[0]}"
        ) from error


# Per (topic, partition): its replicas and its in-sync replicas, by node id.
Placement = dict[tuple[str, int], tuple[list[int], list[int]]]


def partition_replicas(bootstrap_servers: str, topics: Iterable[str], timeout_s: float = 10.0) -> Placement:
    """Where each partition of `topics` lives: (replicas, in-sync replicas), by node id, per (topic, partition)."""
    return _partitions(_admin(bootstrap_servers), topics, timeout_s)


def _partitions(admin, topics: Iterable[str], timeout_s: float) -> Placement:  # admin: AdminClient
    metadata = admin.list_topics(timeout=timeout_s).topics
    return {
        (name, partition.id): (list(partition.replicas), list(partition.isrs))
        for name in topics
        if name in metadata
        for partition in metadata[name].partitions.values()
    }


def wait_until_in_sync(bootstrap_servers: str, topics: Iterable[str], timeout_s: float) -> None:
    """Wait until every copy of every partition of `topics` is in sync (a node that came back caught up)."""
    from confluent_kafka import KafkaException

    names = list(topics)
    admin = _admin(bootstrap_servers)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            partitions = _partitions(admin, names, min(2.0, max(deadline - time.monotonic(), 0.1)))
        except KafkaException:  # no node answered this time
            partitions = {}
        lagging = {where: (replicas, isr) for where, (replicas, isr) in partitions.items() if set(isr) != set(replicas)}
        if partitions and not lagging:
            return
        if time.monotonic() > deadline:
            shown = sorted(lagging)[:5] or "no metadata"
            raise BrokerSetupError(f"partitions still out of sync after {timeout_s:.0f} s: {shown}")
        time.sleep(0.2)
