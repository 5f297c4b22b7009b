"""The README and the specs name what the code reads and uses, and nothing it does not."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from adapters.kafka.topics import ALL_TOPICS
from entrypoints.settings import SETTINGS

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


class TestReadme:
    def test_names_every_setting_the_services_read(self):
        missing = [s.name for s in SETTINGS if f"`{s.name}`" not in README]

        assert missing == []

    def test_names_no_setting_the_services_do_not_read(self):
        tool_settings = {"KAFKA_PORT", "KAFKA_CONTROLLER_PORT", "KAFKA_HOME", "KAFKA_START_TIMEOUT_S",
                         "KAFKA_HEAP_OPTS", "HYPOTHESIS_PROFILE"}
        named = set(re.findall(r"`([A-Z][A-Z0-9_]{3,})`", README))

        assert named - {s.name for s in SETTINGS} - tool_settings == set()


class TestAsyncApi:
    def test_documents_exactly_the_topics_the_code_creates(self):
        spec = yaml.safe_load((REPO / "asyncapi.yaml").read_text())

        addresses = {channel["address"] for channel in spec["channels"].values()}

        assert addresses == {topic.name for topic in ALL_TOPICS}
