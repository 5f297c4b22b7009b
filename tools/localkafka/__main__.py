"""The command line of the local broker, run with tools/ on PYTHONPATH (the Makefile and the image set it):

    python -m localkafka start    fetch the jars (once), format storage (once), start, create topics
    python -m localkafka stop     stop the broker this project started (SIGTERM, then SIGKILL)
    python -m localkafka status   say whether it runs, and where
    python -m localkafka fetch    only fetch the jars (once), e.g. before tests start a broker

With KAFKA_BOOTSTRAP_SERVERS set, nothing is fetched or started: `start` only makes sure the topics exist
on that cluster. Other settings (environment): KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (KAFKA_PORT + 1),
KAFKA_HOME (var/kafka: storage, logs, pid file), KAFKA_START_TIMEOUT_S (60), KAFKA_HEAP_OPTS.

Every failure is one line naming the cause and the fix, exit status 1, and no broker left half-started.
"""

from __future__ import annotations

import os
import sys

from .cluster import ensure_topics, project_topics, wait_until_ready
from .errors import BrokerSetupError, shown
from .jars import KAFKA_VERSION, fetch_jars
from .node import from_environment


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) == 2 else ""
    if command not in {"start", "stop", "status", "fetch"}:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    try:
        if external:
            return _external(command, external)
        broker = from_environment()
        if command == "fetch":
            print(f"kafka: Apache Kafka {KAFKA_VERSION} jars in {shown(fetch_jars())}")
        elif command == "start":
            was_running = broker.running_pid() is not None
            seconds = broker.start(float(os.environ.get("KAFKA_START_TIMEOUT_S", "60")))
            how = "already running" if was_running else f"started in {seconds:.1f} s"
            print(f"kafka: Apache Kafka {KAFKA_VERSION} {how}, pid {broker.running_pid()}, "
                  f"at {broker.bootstrap_servers} (logs: {shown(broker.log_file)})")
            _report_topics(broker.bootstrap_servers)
        elif command == "stop":
            print("kafka: stopped" if broker.stop() else "kafka: not running")
        else:
            pid = broker.running_pid()
            print(f"kafka: running, pid {pid}, at {broker.bootstrap_servers}" if pid else "kafka: not running")
            return 0 if pid else 1
    except BrokerSetupError as error:
        print(f"kafka: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("kafka: interrupted; nothing left running", file=sys.stderr)
        return 130
    return 0


def _external(command: str, bootstrap_servers: str) -> int:
    if command == "start":
        wait_until_ready(bootstrap_servers, float(os.environ.get("KAFKA_START_TIMEOUT_S", "60")))
        print(f"kafka: using the cluster at {bootstrap_servers} (KAFKA_BOOTSTRAP_SERVERS); nothing started")
        _report_topics(bootstrap_servers)
    else:
        print(f"kafka: KAFKA_BOOTSTRAP_SERVERS={bootstrap_servers} is set: nothing to {command} here")
    return 0


def _report_topics(bootstrap_servers: str) -> None:
    topics = project_topics()
    created = ensure_topics(bootstrap_servers, topics)
    listed = ", ".join(f"{t.name}({t.partitions})" for t in topics)
    print(f"kafka: topics ready ({len(created)} created): {listed}")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
