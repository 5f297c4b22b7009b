"""The services' Kafka readiness check when no broker answers: it says so, and librdkafka's own lines about
it go into the service's log (its JSON lines), not straight to stderr around it."""

from __future__ import annotations

import asyncio
import logging

import localkafka
from entrypoints.runtime import kafka_check


def test_reports_kafka_unreachable_and_logs_librdkafka_s_complaints_instead_of_printing_them(caplog, capfd):
    bootstrap = f"127.0.0.1:{localkafka.free_port()}"  # nothing listens there
    check = kafka_check(bootstrap)

    with caplog.at_level(logging.ERROR, logger="entrypoints.runtime"):
        reason = asyncio.run(check())

    assert reason == f"unreachable at {bootstrap} (KafkaException)"
    logged = [r.getMessage() for r in caplog.records if r.name == "entrypoints.runtime"]
    assert any("Connection refused" in line for line in logged)
    assert "rdkafka" not in capfd.readouterr().err
