"""compose.yaml and the Dockerfile, held to what the code reads: no Docker engine runs here, so this is how
they are kept right. Each service's port, settings, health check, data volume and token key are checked against
entrypoints.settings and the apps; the topic step against adapters.messaging.topics."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from entrypoints.settings import SETTINGS, Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
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
