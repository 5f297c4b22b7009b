"""Fixtures of the end-to-end tests that need more than the session's shared broker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import localkafka


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[localkafka.LocalKafka]:
    """A broker of the test's own, with the project's topics, on free ports in its temporary folder: for a
    test that stops the broker, or rewinds the services' groups over every topic (on the shared broker that
    would replay other tests' records into this test's services)."""
    broker = localkafka.LocalKafka(tmp_path / "kafka", port=localkafka.free_port(),
                                   controller_port=localkafka.free_port())
    broker.start()
    try:
        localkafka.ensure_topics(broker.bootstrap_servers, localkafka.project_topics())
        yield broker
    finally:
        broker.stop()
