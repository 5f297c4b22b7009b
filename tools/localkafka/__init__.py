"""A real Apache Kafka broker (KRaft: broker and controller in one JVM), from Maven Central jars; or several
such nodes as one cluster (KAFKA_NODES=3: three copies of each partition, a write on two at least).

`python -m localkafka start|stop|status|fetch` is its command line (__main__.py says what each command does
and which settings it reads). The test suite, tools/run.py and the bench import `LocalKafka` from here to
run a throwaway broker on free ports in a temporary folder; `LocalKafkaCluster` is the same for N nodes.

One module per concept, in the order a start meets them:

    jars.py       Kafka's jars, fetched once with Maven (tools/kafka/pom.xml), and a Java to run them
    config.py     what one node is told: server.properties, logging, JVM flags, a new cluster id
    ports.py      whether a port is free, a free one, whether the broker answers on it
    processes.py  the broker's process: whether a pid is ours, and stopping it (SIGTERM, then SIGKILL)
    node.py       one node's life cycle (LocalKafka: start, wait until it answers, stop, kill, running_pid)
    local_cluster.py  N nodes as one cluster (LocalKafkaCluster: start, stop, one node's stop/kill/start,
                  which node's controller leads)
    cluster.py    any cluster, ours or another: whether it answers, the project's topics on it, their replicas
    errors.py     BrokerSetupError, and the one line of Java's or Maven's output that names a failure
    __main__.py   the command line
"""

from .cluster import ensure_topics, partition_replicas, project_topics, wait_until_in_sync, wait_until_ready
from .config import new_cluster_id
from .errors import BrokerSetupError
from .jars import KAFKA_VERSION, fetch_jars, java_executable
from .local_cluster import LocalKafkaCluster
from .node import LocalKafka, from_environment
from .ports import free_port, port_is_free

__all__ = [
    "KAFKA_VERSION",
    "BrokerSetupError",
    "LocalKafka",
    "LocalKafkaCluster",
    "ensure_topics",
    "fetch_jars",
    "free_port",
    "from_environment",
    "java_executable",
    "new_cluster_id",
    "partition_replicas",
    "port_is_free",
    "project_topics",
    "wait_until_in_sync",
    "wait_until_ready",
]
