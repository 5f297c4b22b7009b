"""What tools/localkafka/ writes for a broker, checked without starting one."""

from __future__ import annotations

from pathlib import Path

import entrypoints
import localkafka
from ordering_core import EVENT_TYPES

SRC = Path(__file__).resolve().parents[2] / "src"


class TestClusterId:
    def test_is_22_url_safe_characters_never_starting_with_a_dash(self):
        ids = [localkafka.new_cluster_id() for _ in range(2_000)]

        assert all(len(i) == 22 and not i.startswith("-") for i in ids)
        assert all(set(i) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") for i in ids)


class TestServerProperties:
    def test_a_single_node_can_run_transactions_and_consumer_groups(self, tmp_path):
        settings = settings_of(localkafka.LocalKafka(tmp_path, port=19092, controller_port=19093))

        assert settings["transaction.state.log.replication.factor"] == "1"
        assert settings["transaction.state.log.min.isr"] == "1"
        assert settings["offsets.topic.replication.factor"] == "1"

    def test_listens_on_loopback_only_on_the_ports_given(self, tmp_path):
        settings = settings_of(localkafka.LocalKafka(tmp_path, port=19092, controller_port=19093))

        assert settings["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
        assert settings["controller.quorum.voters"] == "1@127.0.0.1:19093"
        assert settings["log.dirs"] == str(tmp_path / "data")

    def test_topics_are_never_created_by_accident(self, tmp_path):
        settings = settings_of(localkafka.LocalKafka(tmp_path))

        assert settings["auto.create.topics.enable"] == "false"


class TestPackaging:
    def test_our_entrypoints_package_shadows_the_pypi_distribution_of_that_name(self):
        assert Path(entrypoints.__file__).parent == SRC / "entrypoints"

    def test_every_event_type_and_every_consumed_topic_s_dead_letters_have_a_topic_with_several_partitions(self):
        consumed = ["update-stock", "restore-canceled-item", "stock-reservation-rejected", "order-status"]

        expected = dict.fromkeys(
            [*EVENT_TYPES, *(f"{name}.dlq" for name in consumed), "dead-letter-replays"], True
        )

        assert {t.name: t.partitions > 1 for t in localkafka.project_topics()} == expected


def settings_of(broker: localkafka.LocalKafka) -> dict[str, str]:
    lines = [line for line in broker.server_properties().splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


class TestFreePorts:
    def test_are_never_handed_out_twice_in_one_process(self):
        # Nothing listens on them meanwhile, as when a test chooses a broker's and three services' ports before
        # any starts: the OS alone offered one port twice in 1,000 about 30 times here.
        ports = [localkafka.free_port() for _ in range(1_000)]

        assert len(set(ports)) == len(ports)
