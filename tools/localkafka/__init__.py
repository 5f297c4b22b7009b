"""A real single-node Apache Kafka broker (KRaft: broker and controller in one JVM), from Maven Central jars.

`python -m localkafka start|stop|status|fetch` is its command line (__main__.py says what each command does
and which settings it reads). The test suite, tools/run.py and the bench import `LocalKafka` from here to
run a throwaway broker on free ports in a temporary folder.

One module per concept, in the order a start meets them:

    jars.py       Kafka's jars, fetched once with Maven (tools/kafka/pom.xml), and a Java to run them
    config.py     what one node is told: server.properties, logging, JVM flags, a new cluster id
    ports.py      whether a port is free, a free one, whether the broker answers on it
    processes.py  the broker's process: whether a pid is ours, and stopping it (SIGTERM, then SIGKILL)
    node.py       one node's life cycle (LocalKafka: start, wait until it answers, stop, running_pid)
    cluster.py    any cluster, ours or another: whether it answers, and the project's topics on it
    errors.py     BrokerSetupError, and the one line of Java's or Maven's output that names a failure
    __main__.py   the command line
"""

from .cluster import ensure_topics, project_topics, wait_until_ready
from .config import new_cluster_id
from .errors import BrokerSetupError
from .jars import KAFKA_VERSION, fetch_jars, java_executable
from .node import LocalKafka, from_environment
from .ports import free_port, port_is_free

__all__ = [
    "KAFKA_VERSION",
    "BrokerSetupError",
    "LocalKafka",
    "ensure_topics",
    "fetch_jars",
    "free_port",
    "from_environment",
    "java_executable",
    "new_cluster_id",
    "port_is_free",
    "project_topics",
    "wait_until_ready",
]
