"""compose.yaml and the Dockerfile, held to what the code reads: no Docker engine runs here, so this is how
they are kept right. Each service's port, settings, health check, data volume and token key are checked against
entrypoints.settings and the apps; the topic step against adapters.messaging.topics. The `cluster` profile
(PostgreSQL, three Kafka nodes, two instances of each service) is held to the same settings, and its Kafka
nodes and topic step to what tools/localkafka gives `make kafka KAFKA_NODES=3`."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

import localkafka.cluster
from adapters.kafka.producer import producer_config
from adapters.messaging.topics import ALL_TOPICS
from entrypoints.settings import SETTINGS, Settings
from localkafka.cluster import project_topics
from localkafka.config import min_insync_replicas, replication_factor

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "compose.yaml").read_text())
# `docker compose up` starts the services with no profile; `--profile cluster` adds the production shape.
SERVICES = {name: service for name, service in COMPOSE["services"].items() if "profiles" not in service}
CLUSTER = {name: service for name, service in COMPOSE["services"].items() if "profiles" in service}
DEFAULTS = {setting.name: setting.default for setting in SETTINGS}
APPS = {"order": "ORDER_PORT", "product": "PRODUCT_PORT", "message": "MESSAGE_PORT"}
KEYS_VOLUME = "keys"


def test_the_system_is_kafka_a_one_shot_topic_step_and_the_three_services():
    assert set(SERVICES) == {"kafka", "topics", *APPS}


@pytest.mark.parametrize("name", APPS)
class TestEachService:
    def test_runs_its_own_app_from_the_one_image_on_its_documented_port(self, name):
        service = SERVICES[name]
        port = DEFAULTS[APPS[name]]

        assert service["build"] == "."
        assert service["command"] == [f"entrypoints.{name}_service:create_app_from_environment", "--port", port]
        assert service["ports"] == [f"{port}:{port}"]
        assert (REPO / "src" / "entrypoints" / f"{name}_service.py").is_file()

    def test_is_configured_only_with_settings_the_code_reads(self, name):
        environment = SERVICES[name]["environment"]

        assert set(environment) <= set(DEFAULTS)
        assert environment["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"

    def test_is_healthy_only_when_its_readyz_answers(self, name):
        test = SERVICES[name]["healthcheck"]["test"]
        script, url = test[3], test[4]

        assert test[:3] == ["CMD", "python", "-c"]
        assert url == f"http://127.0.0.1:{DEFAULTS[APPS[name]]}/readyz"
        assert "urlopen(sys.argv[1]" in script  # urlopen raises on a 503: not ready is unhealthy

    def test_keeps_its_sqlite_file_in_a_volume_of_its_own(self, name):
        service = SERVICES[name]

        assert service["environment"]["DATA_DIR"] == "/data"
        assert [volume for volume in service["volumes"] if volume.endswith(":/data")] == [f"{name}-data:/data"]
        assert f"{name}-data" in COMPOSE["volumes"]

    def test_verifies_tokens_with_the_local_key_the_three_share(self, name):
        # Separate keys would make a token of one service's key a refused token at the other two.
        service = SERVICES[name]
        key_file = Path(service["environment"]["AUTH_LOCAL_KEY_FILE"])

        assert f"{KEYS_VOLUME}:{key_file.parent}" in service["volumes"]
        assert KEYS_VOLUME in COMPOSE["volumes"]
        assert not {"AUTH_JWKS_URL", "AUTH_KEY_FILES"} & set(service["environment"])

    def test_says_it_serves_every_interface_and_so_keeps_the_demo_sign_in_off(self, name):
        # The image's uvicorn binds 0.0.0.0 (the Dockerfile); SERVICE_HOST says so to the settings, which then
        # refuse DEMO_SIGN_IN=on: a sign-in that hands out tokens must not face the compose network.
        environment = SERVICES[name]["environment"]

        assert environment["SERVICE_HOST"] == "0.0.0.0"
        assert environment.get("DEMO_SIGN_IN", DEFAULTS["DEMO_SIGN_IN"]) == "off"
        assert Settings.from_environment({k: str(v) for k, v in environment.items()}).demo_sign_in is False

    def test_starts_after_the_topics_exist(self, name):
        assert SERVICES[name]["depends_on"]["topics"] == {"condition": "service_completed_successfully"}


def test_the_order_service_asks_the_product_service_by_its_compose_name_and_waits_for_it():
    order = SERVICES["order"]

    assert order["environment"]["PRODUCT_SERVICE_URL"] == f"http://product:{DEFAULTS['PRODUCT_PORT']}"
    assert order["depends_on"]["product"] == {"condition": "service_healthy"}
    assert {k: v for k, v in order["environment"].items() if k in DEFAULTS and k.startswith("ORDER_")} == {
        k: DEFAULTS[k]
        for k in (
            "ORDER_PAYMENT_TIMEOUT_S",
            "ORDER_EXPIRY_INTERVAL_S",
            "ORDER_MAX_UNPAID_ORDERS",
            "ORDER_MAX_UNPAID_UNITS",
        )
    }


def test_the_topic_step_is_localkafka_against_the_compose_broker_once_it_is_healthy():
    topics = SERVICES["topics"]

    assert topics["entrypoint"] == ["python", "-m", "localkafka", "start"]
    # `-m localkafka` finds the package (and it the adapters' topic list) only on the image's PYTHONPATH.
    assert "PYTHONPATH=/app/src:/app/tools" in (REPO / "Dockerfile").read_text()
    assert topics["environment"] == {"KAFKA_BOOTSTRAP_SERVERS": "kafka:9092"}
    assert topics["depends_on"] == {"kafka": {"condition": "service_healthy"}}


def test_kafka_is_the_official_image_of_the_version_make_test_runs_in_kraft_mode_without_auto_created_topics():
    kafka = SERVICES["kafka"]
    pom = (REPO / "tools" / "kafka" / "pom.xml").read_text()
    version = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom)

    assert version is not None
    assert kafka["image"] == f"apache/kafka:{version.group(1)}"
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert kafka["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert "PLAINTEXT://kafka:9092" in kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"]


def test_the_image_is_slim_runs_as_a_user_and_serves_on_every_interface():
    lines = [line.strip() for line in (REPO / "Dockerfile").read_text().splitlines() if line.strip()]
    instructions = [line for line in lines if not line.startswith("#")]

    assert instructions[0] == "FROM python:3.11-slim"
    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users and users[-1] not in {"root", "0"}
    assert any(line.startswith("ENTRYPOINT") and '"--host", "0.0.0.0"' in line for line in instructions)
    assert "DATA_DIR=/data" in (REPO / "Dockerfile").read_text()


# ---- The cluster profile: PostgreSQL, three Kafka nodes, two instances of each service (docs/deploying.md).

KAFKA_NODES = ("kafka-1", "kafka-2", "kafka-3")
REPLICAS = {app: (f"{app}-1", f"{app}-2") for app in APPS}
EVERY_REPLICA = [(app, replica) for app, replicas in REPLICAS.items() for replica in replicas]


def _host_ports(services):
    return [int(mapping.split(":")[0]) for service in services.values() for mapping in service.get("ports", [])]


def test_the_cluster_profile_is_postgres_three_kafka_nodes_a_topic_step_and_two_instances_of_each_service():
    every_replica = {replica for _, replica in EVERY_REPLICA}

    assert set(CLUSTER) == {"postgres", *KAFKA_NODES, "cluster-topics", *every_replica}
    assert all(service["profiles"] == ["cluster"] for service in CLUSTER.values())


def test_no_two_services_of_either_profile_publish_the_same_host_port():
    # Both sets of services may run at once (a plain `up --profile cluster` starts both).
    ports = _host_ports(SERVICES) + _host_ports(CLUSTER)

    assert len(ports) == len(set(ports))


@pytest.mark.parametrize(("app", "name"), EVERY_REPLICA)
class TestEachReplica:
    def test_runs_its_app_from_the_one_image_on_the_documented_port_of_its_container(self, app, name):
        service = CLUSTER[name]
        port = DEFAULTS[APPS[app]]

        assert service["build"] == "."
        assert service["command"] == SERVICES[app]["command"]
        assert service["ports"][0].endswith(f":{port}")
        assert len(service["ports"]) == 1

    def test_is_configured_only_with_settings_the_code_reads_and_they_are_valid(self, app, name):
        environment = {key: str(value) for key, value in CLUSTER[name]["environment"].items()}

        settings = Settings.from_environment(environment)

        assert set(environment) <= set(DEFAULTS)
        assert settings.demo_sign_in is False
        assert environment["SERVICE_HOST"] == "0.0.0.0"

    def test_keeps_its_state_in_the_compose_postgres(self, app, name):
        url = urlsplit(CLUSTER[name]["environment"]["DATABASE_URL"])
        postgres = CLUSTER["postgres"]["environment"]

        assert url.scheme == "postgresql"
        assert (url.hostname, url.port) == ("postgres", 5432)
        assert (url.username, url.password, url.path) == (
            postgres["POSTGRES_USER"],
            postgres["POSTGRES_PASSWORD"],
            f"/{postgres['POSTGRES_DB']}",
        )
        assert not any(volume.endswith(":/data") for volume in CLUSTER[name]["volumes"])

    def test_names_itself_as_its_compose_service(self, app, name):
        # Stable across restarts, so the restarted replica's Kafka producers fence its own zombie's.
        assert CLUSTER[name]["environment"]["INSTANCE_ID"] == name

    def test_uses_the_three_kafka_nodes(self, app, name):
        servers = CLUSTER[name]["environment"]["KAFKA_BOOTSTRAP_SERVERS"].split(",")

        assert servers == [f"{node}:9092" for node in KAFKA_NODES]

    def test_is_healthy_only_when_its_readyz_answers(self, app, name):
        assert CLUSTER[name]["healthcheck"] == SERVICES[app]["healthcheck"]

    def test_verifies_tokens_with_the_local_key_every_instance_shares(self, app, name):
        service = CLUSTER[name]

        assert service["environment"]["AUTH_LOCAL_KEY_FILE"] == SERVICES[app]["environment"]["AUTH_LOCAL_KEY_FILE"]
        assert f"{KEYS_VOLUME}:/keys" in service["volumes"]

    def test_starts_once_the_topics_exist_on_three_nodes_and_postgres_answers(self, app, name):
        depends_on = CLUSTER[name]["depends_on"]

        assert depends_on["cluster-topics"] == {"condition": "service_completed_successfully"}
        assert depends_on["postgres"] == {"condition": "service_healthy"}


def test_the_instance_ids_differ():
    ids = [CLUSTER[name]["environment"]["INSTANCE_ID"] for _, name in EVERY_REPLICA]

    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("name", REPLICAS["order"])
def test_each_order_instance_spreads_over_every_product_instance_and_waits_for_them(name):
    order = CLUSTER[name]
    environment = {key: str(value) for key, value in order["environment"].items()}
    port = DEFAULTS["PRODUCT_PORT"]

    Settings.from_environment(environment)  # raises if the list is not one the Order Service takes

    urls = environment["PRODUCT_SERVICE_URL"].split(",")
    assert sorted(urls) == sorted(f"http://{product}:{port}" for product in REPLICAS["product"])
    assert all(order["depends_on"][product] == {"condition": "service_healthy"} for product in REPLICAS["product"])
    assert {k: v for k, v in order["environment"].items() if k.startswith("ORDER_")} == {
        k: v for k, v in SERVICES["order"]["environment"].items() if k.startswith("ORDER_")
    }


def test_postgres_is_the_official_image_healthy_when_it_takes_connections_with_its_data_in_a_volume():
    postgres = CLUSTER["postgres"]
    image, _, major = postgres["image"].partition(":")

    assert image == "postgres"
    assert int(major) >= 14  # idle_session_timeout, which ends a silent relay leader's lease
    assert postgres["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert "postgres-data:/var/lib/postgresql/data" in postgres["volumes"]
    assert "postgres-data" in COMPOSE["volumes"]


@pytest.mark.parametrize("number", [1, 2, 3])
def test_each_kafka_node_is_a_broker_and_controller_of_the_one_quorum_of_three(number):
    node = CLUSTER[f"kafka-{number}"]
    environment = node["environment"]
    voters = {f"{i}@kafka-{i}:9093" for i in range(1, len(KAFKA_NODES) + 1)}

    assert node["image"] == SERVICES["kafka"]["image"]
    assert environment["KAFKA_NODE_ID"] == number
    assert environment["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert set(environment["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")) == voters
    assert "CONTROLLER://:9093" in environment["KAFKA_LISTENERS"].split(",")
    assert environment["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://kafka-{number}:9092"
    assert environment["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert node["healthcheck"] == SERVICES["kafka"]["healthcheck"]


def test_the_single_kafka_node_keeps_its_log_in_its_volume():
    # The image's default log.dirs is under /tmp: without this the topics would not outlive the container.
    assert f"kafka-data:{SERVICES['kafka']['environment']['KAFKA_LOG_DIRS']}" in SERVICES["kafka"]["volumes"]


def test_the_kafka_nodes_share_one_cluster_id_and_each_keeps_its_log_in_a_volume_of_its_own():
    environments = [CLUSTER[node]["environment"] for node in KAFKA_NODES]

    assert len({environment["CLUSTER_ID"] for environment in environments}) == 1
    for node, environment in zip(KAFKA_NODES, environments, strict=True):
        # The image's default log.dirs is under /tmp: without this the volume would hold nothing.
        assert f"{node}-data:{environment['KAFKA_LOG_DIRS']}" in CLUSTER[node]["volumes"]
        assert f"{node}-data" in COMPOSE["volumes"]


def test_the_kafka_nodes_keep_every_partition_on_three_and_take_a_write_once_two_have_it():
    # What tools/localkafka gives `make kafka KAFKA_NODES=3`, internal topics included.
    copies = replication_factor(len(KAFKA_NODES))
    in_sync = min_insync_replicas(copies)

    for node in KAFKA_NODES:
        environment = CLUSTER[node]["environment"]
        assert environment["KAFKA_DEFAULT_REPLICATION_FACTOR"] == copies == 3
        assert environment["KAFKA_MIN_INSYNC_REPLICAS"] == in_sync == 2
        assert environment["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == copies
        assert environment["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == copies
        assert environment["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == in_sync
        assert environment["KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR"] == copies
        assert environment["KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR"] == in_sync


def test_the_producers_wait_for_every_in_sync_copy():
    # acks=all comes with idempotence (librdkafka refuses to start if it is overridden), so a commit is on
    # min.insync.replicas nodes at least.
    config = producer_config("kafka-1:9092", "order-service-outbox")

    assert config["enable.idempotence"] is True
    assert "acks" not in config


def test_the_cluster_topic_step_waits_for_the_three_nodes_and_gives_every_topic_three_copies(monkeypatch):
    step = CLUSTER["cluster-topics"]
    servers = ",".join(f"{node}:9092" for node in KAFKA_NODES)
    calls = []
    monkeypatch.setattr(localkafka.cluster, "wait_until_ready", lambda *a, **kw: calls.append(("wait", a, kw)))
    monkeypatch.setattr(localkafka.cluster, "ensure_topics", lambda *a, **kw: calls.append(("ensure", a, kw)) or [])
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", step["environment"]["KAFKA_BOOTSTRAP_SERVERS"])
    monkeypatch.delenv("KAFKA_PARTITIONS", raising=False)

    assert step["entrypoint"][:2] == ["python", "-c"]
    exec(compile(step["entrypoint"][2], "cluster-topics", "exec"), {})  # noqa: S102 - the step's own script

    assert step["environment"] == {"KAFKA_BOOTSTRAP_SERVERS": servers}
    assert [(kind, args[0]) for kind, args, _ in calls] == [("wait", servers), ("ensure", servers)]
    assert calls[0][2] == {"brokers": len(KAFKA_NODES)}
    assert calls[1][1][1] == project_topics()
    assert {topic.name for topic in calls[1][1][1]} == {topic.name for topic in ALL_TOPICS}
    assert calls[1][2] == {"replicas": replication_factor(len(KAFKA_NODES))}
    assert step["depends_on"] == {node: {"condition": "service_healthy"} for node in KAFKA_NODES}
