"""Any cluster, ours or the one KAFKA_BOOTSTRAP_SERVERS names: whether it answers, and the project's topics."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .errors import BrokerSetupError

if TYPE_CHECKING:
    from adapters.messaging.broker import TopicSpec


def project_topics() -> tuple[TopicSpec, ...]:
    """The topics the services use, as adapters.messaging.topics declares them (the one list of them)."""
    from adapters.messaging.topics import ALL_TOPICS

    return ALL_TOPICS


def _admin(bootstrap_servers: str):  # -> confluent_kafka.admin.AdminClient
    from confluent_kafka.admin import AdminClient

    # log_level 3 (errors only): a broker still starting makes librdkafka print connection warnings.
    return AdminClient({"bootstrap.servers": bootstrap_servers, "log_level": 3})


def wait_until_ready(bootstrap_servers: str, timeout_s: float) -> None:
    """Wait until the cluster answers a metadata request (its listeners are up and a controller leads)."""
    from confluent_kafka import KafkaException

    admin = _admin(bootstrap_servers)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            metadata = admin.list_topics(timeout=min(2.0, max(deadline - time.monotonic(), 0.1)))
            if metadata.brokers:
                return
        except KafkaException:
            pass
        if time.monotonic() > deadline:
            raise BrokerSetupError(
                f"no Kafka broker answered at {bootstrap_servers} within {timeout_s:.0f} s: "
                "check the address, or that the broker is running"
            )


def ensure_topics(bootstrap_servers: str, topics: Iterable[TopicSpec], timeout_s: float = 30.0) -> list[str]:
    """Create the topics that do not exist yet, wait until every partition is served; returns those created."""
    from adapters.kafka.broker import KafkaBroker
    from adapters.messaging.broker import MessagingError

    try:
        return KafkaBroker(bootstrap_servers, timeout_s=timeout_s).create_topics(topics)
    except MessagingError as error:
        raise BrokerSetupError(f"the topics are not ready on {bootstrap_servers}: {error}") from error
