"""tools/localkafka/ as a three-node KRaft cluster: every partition on three nodes, two of which must have a
write; losing any one node, the controller that leads included, keeps transactions and reads working; the
node that comes back catches up; stop leaves nothing running.

The cluster is the module's own (the session's broker has one node), started once on free ports; a test
that takes a node away brings it back before it ends. The times it measures are printed (`pytest -s`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

import localkafka
from adapters.kafka.broker import KafkaBroker
from adapters.messaging.broker import Message, Record
from adapters.messaging.topics import UPDATE_STOCK
from localkafka import LocalKafkaCluster

pytestmark = pytest.mark.kafka

WAIT_S = 30.0
INTERNAL_TOPICS = ["__consumer_offsets", "__transaction_state"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafkaCluster]:
    cluster = LocalKafkaCluster(tmp_path_factory.mktemp("cluster"), nodes=3)
    seconds = cluster.start(timeout_s=90)
    print(f"\n3 nodes started in {seconds:.1f} s")
    try:
        localkafka.ensure_topics(cluster.bootstrap_servers, localkafka.project_topics())
        yield cluster
    finally:
        cluster.stop()


class TestReplication:
    def test_every_project_topic_has_three_copies_in_sync_and_a_write_needs_two(self, cluster):
        names = [topic.name for topic in localkafka.project_topics()]

        partitions = localkafka.partition_replicas(cluster.bootstrap_servers, names)
        min_isr = min_insync_replicas(cluster.bootstrap_servers, names)

        assert {name for name, _ in partitions} == set(names)
        assert all(sorted(replicas) == [1, 2, 3] == sorted(isr) for replicas, isr in partitions.values())
        assert min_isr == dict.fromkeys(names, "2")

    def test_a_transaction_is_read_back_and_the_internal_topics_have_three_copies_too(self, cluster):
        keys = keys_on_every_partition()

        publish(cluster, keys)
        read = consume(cluster, keys)

        assert sorted(read) == sorted(keys)
        partitions = localkafka.partition_replicas(cluster.bootstrap_servers, INTERNAL_TOPICS)
        assert {name for name, _ in partitions} == set(INTERNAL_TOPICS)
        assert all(sorted(replicas) == [1, 2, 3] for replicas, _ in partitions.values())


class TestLosingOneNode:
    def test_without_the_active_controller_transactions_and_reads_go_on_and_it_rejoins_when_back(self, cluster):
        victim = cluster.active_controller()
        keys = keys_on_every_partition()
        names = [topic.name for topic in localkafka.project_topics()] + INTERNAL_TOPICS

        killed_at = time.monotonic()
        cluster.kill_node(victim)
        successor = wait_for_another_controller(cluster, victim)
        elected_s = time.monotonic() - killed_at
        publish(cluster, keys)
        published_s = time.monotonic() - killed_at
        read = consume(cluster, keys)
        dropped = [where for where, isr in in_sync(cluster, names).items() if victim not in isr]
        restarted_at = time.monotonic()
        restarted_s = cluster.start_node(victim, timeout_s=WAIT_S)
        localkafka.wait_until_in_sync(cluster.bootstrap_servers, names, timeout_s=WAIT_S)
        in_sync_s = time.monotonic() - restarted_at

        assert victim in {1, 2, 3}
        assert successor in {1, 2, 3} - {victim}
        assert sorted(read) == sorted(keys)
        assert dropped  # it had left the in-sync replicas: being back in every set is news
        assert all(victim in isr for isr in in_sync(cluster, names).values())
        print(f"\nnode {victim} (active controller) killed: node {successor} led after {elected_s:.1f} s, a "
              f"transaction committed after {published_s:.1f} s; restarted in {restarted_s:.1f} s, every "
              f"partition in sync again {in_sync_s:.1f} s after the restart began")


class TestStop:
    def test_stop_ends_every_node_s_process(self, cluster):
        cluster.start(timeout_s=WAIT_S)  # whatever an earlier test left down: stop must end all three
        configs = [node.config_file for node in cluster.nodes]
        assert all(jvms_running_with(config) for config in configs)

        started = time.monotonic()
        stopped = cluster.stop()
        print(f"\n3 nodes stopped in {time.monotonic() - started:.1f} s")

        assert stopped
        assert [jvms_running_with(config) for config in configs] == [[], [], []]
        assert cluster.running_pids() == {1: None, 2: None, 3: None}


# -- helpers ------------------------------------------------------------------------------------------


def keys_on_every_partition() -> list[bytes]:
    """Enough keys that each of the topic's partitions, and so each node as a leader, gets some."""
    return [uuid.uuid4().hex.encode() for _ in range(4 * UPDATE_STOCK.partitions)]


def publish(cluster: LocalKafkaCluster, keys: list[bytes]) -> None:
    """One transaction of one record per key, by a producer of the test's own (acks=all, min ISR 2)."""
    broker = KafkaBroker(cluster.bootstrap_servers, timeout_s=WAIT_S)
    try:
        broker.producer(f"cluster-test-{uuid.uuid4().hex}").send_all(
            Message(UPDATE_STOCK.name, key=key, value=b"{}") for key in keys
        )
    finally:
        broker.close()


def consume(cluster: LocalKafkaCluster, keys: list[bytes]) -> list[bytes]:
    """The keys a new consumer group reads (and commits: __consumer_offsets is replicated too)."""
    broker = KafkaBroker(cluster.bootstrap_servers, timeout_s=WAIT_S)
    consumer = broker.consumer(f"cluster-test-{uuid.uuid4().hex}", [UPDATE_STOCK.name])
    wanted, found = set(keys), []
    deadline = time.monotonic() + WAIT_S
    try:
        while len(found) < len(wanted) and time.monotonic() < deadline:
            record: Record | None = consumer.poll(0.5)
            if record is not None and record.key in wanted:
                consumer.commit(record)
                found.append(record.key)
    finally:
        broker.close()
    return found


def in_sync(cluster: LocalKafkaCluster, topics: list[str]) -> dict[tuple[str, int], list[int]]:
    """The in-sync replicas of each partition of `topics`."""
    return {where: isr for where, (_, isr) in localkafka.partition_replicas(cluster.bootstrap_servers, topics).items()}


def wait_for_another_controller(cluster: LocalKafkaCluster, lost: int) -> int | None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        leader = cluster.active_controller()
        if leader not in (None, lost):
            return leader
        time.sleep(0.1)
    return None


def min_insync_replicas(bootstrap_servers: str, topics: list[str]) -> dict[str, str]:
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    futures = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, name) for name in topics])
    return {resource.name: future.result()["min.insync.replicas"].value for resource, future in futures.items()}


def jvms_running_with(config_file: Path) -> list[int]:
    """Pids of live JVMs started with this node's config: what a stop must not leave behind."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"kafka.Kafka" in argv and str(config_file).encode() in argv:
                found.append(int(entry.name))
    return found
