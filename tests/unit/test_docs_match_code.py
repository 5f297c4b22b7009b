"""The docs and the specs name what the code reads and uses, and nothing it does not.

Two lists are read from the code itself, not typed here: the environment variables (every
`os.environ.get("X")`, `os.environ["X"]` and `os.getenv("X")` in src/, tools/, bench/ and the test
fixtures, every setting in entrypoints.settings.SETTINGS, every `X ?=` knob of the Makefile) and the Kafka
topics (adapters.messaging.topics.ALL_TOPICS). The docs are README.md and docs/*.md; the specs asyncapi.yaml and
compose.yaml.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from adapters.messaging.dead_letter_headers import (
    AT_HEADER,
    OFFSET_HEADER,
    PARTITION_HEADER,
    REASON_HEADER,
    REPLAYED_FROM_HEADER,
    TOPIC_HEADER,
)
from adapters.messaging.topics import ALL_TOPICS, TOPICS
from adapters.wire.codec import MESSAGE_ID_HEADER, TRACEPARENT_HEADER, TYPE_HEADER
from entrypoints import message_service, order_service, product_service
from entrypoints.settings import SETTINGS

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()
DOCS = {
    path.relative_to(REPO).as_posix(): path.read_text()
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
}
CODE_FOLDERS = ("src", "tools", "bench")
FIXTURES = ("tests/conftest.py",)

_READ = re.compile(
    r"""(?:os\.environ\.get|os\.getenv|environ\.get)\(\s*["']([A-Z][A-Z0-9_]+)["']|os\.environ\[\s*["']([A-Z][A-Z0-9_]+)["']\s*\]"""
)
_MAKE_KNOB = re.compile(r"^([A-Z][A-Z0-9_]+)\s*\?=", re.MULTILINE)
# A backticked upper-case name of four or more characters: how the docs name an environment variable.
_NAMED_VARIABLE = re.compile(r"`([A-Z][A-Z0-9_]{3,})`")
# A backticked kebab-case name: how the docs name a topic (or a header, or a consumer group).
_NAMED_KEBAB = re.compile(r"`([a-z0-9]+(?:-[a-z0-9]+)+(?:\.dlq)?)`")


# The platform's own variables, which the code only passes on to the processes it starts.
PLATFORM_VARIABLES = frozenset({"PATH", "PYTHONPATH", "HOME"})


def variables_the_code_reads() -> set[str]:
    files = [path for folder in CODE_FOLDERS for path in (REPO / folder).rglob("*.py")]
    files += [REPO / fixture for fixture in FIXTURES]
    read = {
        name
        for path in files
        for match in _READ.finditer(path.read_text())
        for name in match.groups()
        if name
    }
    knobs = set(_MAKE_KNOB.findall((REPO / "Makefile").read_text()))
    return (read | knobs | {setting.name for setting in SETTINGS}) - PLATFORM_VARIABLES


def kebab_names_the_code_uses() -> set[str]:
    """Topics, the headers the services write, the consumer groups and the settings' defaults (the local
    issuer, `ordering-local`): what a kebab-case name in the docs may be."""
    headers = {
        TYPE_HEADER,
        MESSAGE_ID_HEADER,
        TRACEPARENT_HEADER,
        REASON_HEADER,
        TOPIC_HEADER,
        PARTITION_HEADER,
        OFFSET_HEADER,
        AT_HEADER,
        REPLAYED_FROM_HEADER,
    }
    groups = {message_service.GROUP, order_service.GROUP, product_service.GROUP}
    defaults = {setting.default for setting in SETTINGS}
    return {topic.name for topic in ALL_TOPICS} | headers | groups | defaults


def section(text: str, heading: str) -> str:
    """The part of a markdown text under `## heading`, up to the next `## `."""
    start = text.index(f"## {heading}")
    return text[start : text.index("\n## ", start + 1)]


def named_in_the_docs(pattern: re.Pattern[str], known: set[str]) -> set[str]:
    """`doc: name` for every name the pattern finds in a doc that is not among `known`."""
    return {
        f"{doc}: {name}" for doc, text in DOCS.items() for name in pattern.findall(text) if name not in known
    }


class TestEnvironmentVariables:
    def test_the_scan_finds_the_variables_we_know_are_read(self):
        # A guard on the scan itself: were the pattern broken, the checks below would pass on nothing.
        assert {
            "KAFKA_BOOTSTRAP_SERVERS",
            "KAFKA_HEAP_OPTS",
            "KAFKA_PORT",
            "HYPOTHESIS_PROFILE",
            "DATA_DIR",
        } <= variables_the_code_reads()

    def test_the_readme_names_every_variable_the_code_reads(self):
        missing = sorted(name for name in variables_the_code_reads() if f"`{name}`" not in README)

        assert missing == []

    def test_the_docs_name_no_variable_the_code_does_not_read(self):
        assert named_in_the_docs(_NAMED_VARIABLE, variables_the_code_reads()) == set()

    def test_the_readme_s_configuration_table_gives_every_setting_its_default(self):
        rows = {
            name: line
            for line in section(README, "Configuration").splitlines()
            if line.startswith("|")
            for name in _NAMED_VARIABLE.findall(line)
        }

        wrong = [
            s.name for s in SETTINGS if s.name != "DATA_DIR" and f"`{s.default}`" not in rows.get(s.name, "")
        ]
        assert wrong == []

    def test_compose_gives_our_services_only_variables_the_code_reads(self):
        compose = yaml.safe_load((REPO / "compose.yaml").read_text())
        ours = [service for service in compose["services"].values() if "build" in service]
        set_there = {name for service in ours for name in service.get("environment", {})}

        assert set_there - variables_the_code_reads() == set()


class TestTopics:
    def test_asyncapi_documents_exactly_the_topics_the_code_creates(self):
        spec = yaml.safe_load((REPO / "asyncapi.yaml").read_text())

        addresses = {channel["address"] for channel in spec["channels"].values()}

        assert addresses == {topic.name for topic in ALL_TOPICS}

    def test_the_design_s_topic_table_lists_exactly_the_event_topics(self):
        topics = section(DOCS["docs/design.md"], "Topics")
        table = {match.group(1) for match in re.finditer(r"^\| `([a-z0-9.-]+)` \|", topics, re.MULTILINE)}

        assert table == {topic.name for topic in TOPICS}

    def test_the_readme_names_every_event_topic_and_the_dead_letter_rule(self):
        missing = [topic.name for topic in TOPICS if f"`{topic.name}`" not in README]

        assert missing == []
        assert "`<topic>.dlq`" in README

    def test_the_docs_name_no_topic_header_or_group_the_code_does_not_use(self):
        assert named_in_the_docs(_NAMED_KEBAB, kebab_names_the_code_uses()) == set()
