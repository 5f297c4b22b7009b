"""Fixtures shared by every test folder.

`kafka_bootstrap_servers` gives a real Apache Kafka broker: the cluster named by KAFKA_BOOTSTRAP_SERVERS if
set, else a throwaway one this session starts on free ports in a temporary folder and stops at the end: one
node, or KAFKA_NODES of them (a KRaft cluster whose topics have 3 replicas).
It is started only when a selected test asks for it.

`postgres_server` is the same for PostgreSQL: DATABASE_URL's server if set, else a throwaway one
(tools/localpg), started at the first test that asks and stopped at the end of the session.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import coverage
import pytest
from hypothesis import settings

import localkafka
import localpg

TESTS = Path(__file__).resolve().parent

# `make test` runs the "default" profile; HYPOTHESIS_PROFILE=soak explores 20 times as much (make soak).
settings.register_profile("default", deadline=None)
settings.register_profile("soak", max_examples=2_000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


# The folders in the order their tests start, the longest-running first. `make test` hands whole modules to
# its two processes in this order, so the quick ones fill the end, instead of one long module (the cluster's
# chaos run takes 100 s) starting last and running alone.
LONGEST_FIRST = ("e2e", "integration", "packaging", "browser", "contract", "properties", "benchmarks", "unit")
# The two chaos runs each take the machine, and hold one lock (tests/e2e/exclusive.py): the longer starts
# first and the other last of its folder, so that neither waits for the other.
APART = {"test_chaos_cluster.py": 0, "test_chaos.py": 2}


def _folder_rank(item: pytest.Item) -> int:
    folder = _folder(item)
    return LONGEST_FIRST.index(folder) if folder in LONGEST_FIRST else len(LONGEST_FIRST)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[object]:
    """The domain core's branch coverage (make test's floor) is what its own specifications reach: the unit
    tests. Every other test runs with the tracer paused: it cost the in-process property tests 2.6 times
    their time (30 s to 77 s), and the unit tests alone cover 99% of the core's branches."""
    measuring = coverage.Coverage.current()
    if measuring is None or _folder(item) == "unit":
        return (yield)
    measuring.stop()
    # Under pytest-xdist coverage was started on another thread than this one, whose tracer `stop` leaves
    # set here (only flagged stopped, and still called for every line): take it off.
    sys.settrace(None)
    try:
        return (yield)
    finally:
        measuring.start()


def _folder(item: pytest.Item) -> str:
    return item.path.relative_to(TESTS).parts[0] if item.path.is_relative_to(TESTS) else ""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest-running folders first (`LONGEST_FIRST`; stable: within a folder, as collected).

    Every test has an id of its own. `make test` runs on several processes (pytest-xdist), which hands
    tests out by id: two tests with one id would run once, silently. Schemathesis names its tests one per
    operation (`test_...[GET /products]`) but leaves them the function's id; they get their name's."""
    items.sort(key=lambda item: (_folder_rank(item), APART.get(item.path.name, 1)))
    for item in items:
        if item.parent is not None and not item.nodeid.endswith(item.name):
            # pytest 9 keeps the id as `_id` (what `Node.id` reads); the check below fails if that changes.
            item._id = item.parent.id.child(item.name)
    repeated = sorted(nodeid for nodeid, count in Counter(item.nodeid for item in items).items() if count > 1)
    if repeated:
        raise pytest.UsageError(f"tests share an id, a parallel run would run each once: {repeated}")


@pytest.fixture(scope="session")
def kafka_bootstrap_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if external:
        localkafka.wait_until_ready(external, timeout_s=30)
        localkafka.ensure_topics(external, localkafka.project_topics())
        yield external
        return
    home = Path(tmp_path_factory.mktemp("kafka"))
    nodes = int(os.environ.get("KAFKA_NODES", "1"))
    broker: localkafka.LocalKafka | localkafka.LocalKafkaCluster = (
        localkafka.LocalKafka(home, port=localkafka.free_port(), controller_port=localkafka.free_port())
        if nodes == 1
        else localkafka.LocalKafkaCluster(home, nodes=nodes)
    )
    try:
        broker.start(timeout_s=float(os.environ.get("KAFKA_START_TIMEOUT_S", "90")))
    except localkafka.BrokerSetupError as error:
        pytest.fail(f"could not start a Kafka broker for the tests: {error}", pytrace=False)
    try:
        localkafka.ensure_topics(broker.bootstrap_servers, localkafka.project_topics())
        yield broker.bootstrap_servers
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[localpg.PostgresServer]:
    with localpg.throwaway() as server:
        yield server


@pytest.fixture
def unique() -> UniqueNames:
    return UniqueNames()


class UniqueNames:
    """Names no other test (or earlier run against the same cluster) has used: topics, groups, ids."""

    def __init__(self) -> None:
        self._run = uuid.uuid4().hex[:10]
        self._count = 0

    def __call__(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}-{self._run}-{self._count}"
