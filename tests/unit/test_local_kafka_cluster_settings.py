"""What tools/localkafka/ writes for a cluster of several nodes, and how many partitions and copies the
project's topics get, checked without starting a broker."""

from __future__ import annotations

import pytest

import localkafka
from localkafka.__main__ import _parse
from localkafka.local_cluster import cluster_from_environment

PORTS = [(19092, 19093), (19094, 19095), (19096, 19097)]


def settings_of(node: localkafka.LocalKafka) -> dict[str, str]:
    lines = [line for line in node.server_properties().splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


class TestThreeNodes:
    def test_each_node_has_its_own_id_folder_and_ports_and_every_node_names_all_three_voters(self, tmp_path):
        cluster = localkafka.LocalKafkaCluster(tmp_path, nodes=3, ports=PORTS)

        settings = [settings_of(node) for node in cluster.nodes]

        assert [s["node.id"] for s in settings] == ["1", "2", "3"]
        assert [s["log.dirs"] for s in settings] == [str(tmp_path / f"node-{i}" / "data") for i in (1, 2, 3)]
        assert [s["listeners"] for s in settings] == [
            f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}" for port, controller in PORTS
        ]
        assert {s["controller.quorum.voters"] for s in settings} == {
            "1@127.0.0.1:19093,2@127.0.0.1:19095,3@127.0.0.1:19097"
        }
        assert cluster.bootstrap_servers == "127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19096"

    def test_every_topic_internal_ones_included_gets_three_copies_and_a_write_needs_two(self, tmp_path):
        node = localkafka.LocalKafkaCluster(tmp_path, nodes=3, ports=PORTS).node(2)

        settings = settings_of(node)

        for key in ["default.replication.factor", "offsets.topic.replication.factor",
                    "transaction.state.log.replication.factor", "share.coordinator.state.topic.replication.factor"]:
            assert settings[key] == "3", key
        for key in ["min.insync.replicas", "transaction.state.log.min.isr", "share.coordinator.state.topic.min.isr"]:
            assert settings[key] == "2", key

    def test_every_node_is_formatted_with_one_cluster_id_and_a_new_node_takes_the_stored_one(self, tmp_path):
        first = localkafka.LocalKafkaCluster(tmp_path, nodes=3, ports=PORTS)
        (tmp_path / "node-2" / "data").mkdir(parents=True)
        (tmp_path / "node-2" / "data" / "meta.properties").write_text("node.id=2\ncluster.id=KeptId\nversion=1\n")

        again = localkafka.LocalKafkaCluster(tmp_path, nodes=3, ports=PORTS)

        assert len({node.cluster_id for node in first.nodes}) == 1
        assert [node.cluster_id for node in again.nodes] == ["KeptId"] * 3

    def test_on_free_ports_no_two_listeners_share_a_port(self, tmp_path):
        cluster = localkafka.LocalKafkaCluster(tmp_path, nodes=3)

        ports = [port for node in cluster.nodes for port in (node.port, node.controller_port)]

        assert len(set(ports)) == 6

    def test_the_environment_puts_node_one_where_the_single_broker_is_and_the_others_two_ports_apart(
        self, tmp_path, monkeypatch
    ):
        monkeypatch.setenv("KAFKA_HOME", str(tmp_path))
        monkeypatch.setenv("KAFKA_PORT", "9092")
        monkeypatch.delenv("KAFKA_CONTROLLER_PORT", raising=False)

        cluster = cluster_from_environment(3)

        assert [(node.port, node.controller_port) for node in cluster.nodes] == [(9092, 9093), (9094, 9095),
                                                                                  (9096, 9097)]

    def test_refuses_a_cluster_of_no_nodes(self, tmp_path):
        with pytest.raises(localkafka.BrokerSetupError, match="1 to 9 nodes, not 0"):
            localkafka.LocalKafkaCluster(tmp_path, nodes=0)


class TestOneNodeStaysAsItWas:
    def test_a_single_broker_keeps_one_copy_of_everything_and_a_write_needs_only_it(self, tmp_path):
        settings = settings_of(localkafka.LocalKafka(tmp_path, port=19092, controller_port=19093))

        assert settings["node.id"] == "1"
        assert settings["controller.quorum.voters"] == "1@127.0.0.1:19093"
        assert settings["default.replication.factor"] == "1"
        assert settings["min.insync.replicas"] == "1"

    def test_a_cluster_of_one_node_is_configured_as_the_single_broker(self, tmp_path):
        single = localkafka.LocalKafka(tmp_path / "node-1", port=19092, controller_port=19093)

        cluster = localkafka.LocalKafkaCluster(tmp_path, nodes=1, ports=[(19092, 19093)])

        assert cluster.node(1).server_properties() == single.server_properties()
        assert cluster.replicas == 1


class TestTopics:
    def test_the_project_topics_have_three_partitions_unless_kafka_partitions_says_otherwise(self, monkeypatch):
        monkeypatch.delenv("KAFKA_PARTITIONS", raising=False)
        default = {topic.partitions for topic in localkafka.project_topics()}
        monkeypatch.setenv("KAFKA_PARTITIONS", "12")

        configured = {topic.partitions for topic in localkafka.project_topics()}

        assert (default, configured) == ({3}, {12})

    def test_a_partition_count_below_one_is_refused(self, monkeypatch):
        monkeypatch.setenv("KAFKA_PARTITIONS", "0")

        with pytest.raises(localkafka.BrokerSetupError, match="KAFKA_PARTITIONS must be 1 or more"):
            localkafka.project_topics()


class TestCommandLine:
    @pytest.mark.parametrize(
        ("argv", "expected"),
        [(["start"], ("start", None)), (["start", "--nodes", "3"], ("start", 3)),
         (["start", "--nodes=3"], ("start", 3)), (["stop"], ("stop", None))],
    )
    def test_reads_the_command_and_the_node_count(self, argv, expected):
        assert _parse(argv) == expected

    @pytest.mark.parametrize("argv", [[], ["begin"], ["start", "--nodes"], ["stop", "--nodes", "3"],
                                      ["start", "--nodes", "three"]])
    def test_anything_else_is_a_usage_error(self, argv):
        with pytest.raises(ValueError, match="not a command line of localkafka"):
            _parse(argv)
