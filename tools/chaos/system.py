"""The system under chaos, started as `make run` starts it, every process ours and known by its pid.

Kafka: the cluster at `--bootstrap` (or KAFKA_BOOTSTRAP_SERVERS) when given, else a broker of this run on
free ports in the run's folder, which the run may kill and start again on the same storage. The three
services: uvicorn processes (tools/run_processes.py) on free ports with one DATA_DIR, the hold limit out of
the way as in the bench (the load is many customers' orders, some left unpaid), and the Order Service
reaching the Product Service through the run's FaultyLink. Each process is ended by its pid, never by name.

The cluster form (`--instances 2 --database postgres --kafka-nodes 3`): every service as several processes
(`order-1`, `order-2`, ...: INSTANCE_ID, each on a port of its own) sharing one PostgreSQL database
(DATABASE_URL, a schema per service), each Order Service asking every Product Service instance directly
(PRODUCT_SERVICE_URL, comma-separated: no link, so no link faults), on a cluster of three Kafka nodes of the
run's own whose topics have 3 copies. In the single form a process's name is its service's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TextIO

import localkafka
import run
from adapters.identity.local import LocalIssuer, LocalKeyFile
from entrypoints.settings import LOCAL_KEY_FILE_NAME
from localkafka.processes import terminate
from ordering_core.customers import Role

HOLD_LIMIT_OUT_OF_THE_WAY = 1_000_000_000
TOKEN_TTL_S = 4 * 3600  # longer than any run
STOP_GRACE_S = 15.0


class ChaosSystem:
    def __init__(
        self,
        workdir: Path,
        bootstrap: str | None,
        log: TextIO,
        *,
        instances: int = 1,
        kafka_nodes: int = 1,
        database_url: str | None = None,
    ) -> None:
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log = log
        self.broker: localkafka.LocalKafka | localkafka.LocalKafkaCluster | None = None
        self.bootstrap = bootstrap or ""
        self.instances = instances
        self.kafka_nodes = kafka_nodes
        self.database_url = database_url
        # Each service's processes by name: the service's own in the single form, `order-1`, `order-2`, ...
        self.names = {
            service: [service] if instances == 1 else [f"{service}-{n}" for n in range(1, instances + 1)]
            for service in run.SERVICES
        }
        self.ports = dict(zip(self.every_name(), _distinct_free_ports(len(self.every_name())), strict=True))
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.extra: list[subprocess.Popen[bytes]] = []  # a paused Order Service's old process, until killed
        self.product_link_port = 0  # set once the FaultyLink listens
        self._issuer: LocalIssuer | None = None

    # -- Kafka --------------------------------------------------------------------------------------------

    @property
    def owns_broker(self) -> bool:
        return self.broker is not None

    @property
    def cluster(self) -> localkafka.LocalKafkaCluster | None:
        """The run's own cluster of several nodes, if that is what it runs on."""
        return self.broker if isinstance(self.broker, localkafka.LocalKafkaCluster) else None

    def start_kafka(self) -> float:
        """Start the run's own broker (or cluster) unless one was given; the topics either way. Seconds it took."""
        started = time.monotonic()
        timeout_s = float(os.environ.get("KAFKA_START_TIMEOUT_S", "90"))
        replicas: int | None = None
        if not self.bootstrap and self.kafka_nodes > 1:
            cluster = localkafka.LocalKafkaCluster(self.workdir / "kafka", nodes=self.kafka_nodes)
            self.broker = cluster
            cluster.start(timeout_s)
            self.bootstrap = cluster.bootstrap_servers
            replicas = cluster.replicas  # 3 copies, min.insync.replicas 2, as `make kafka KAFKA_NODES=3`
        elif not self.bootstrap:
            controller = localkafka.free_port()
            port = localkafka.free_port()
            while port == controller:
                port = localkafka.free_port()
            self.broker = localkafka.LocalKafka(self.workdir / "kafka", port=port, controller_port=controller)
            self.broker.start(timeout_s)
            self.bootstrap = self.broker.bootstrap_servers
        else:
            localkafka.wait_until_ready(self.bootstrap, timeout_s=30)
        localkafka.ensure_topics(self.bootstrap, localkafka.project_topics(), replicas=replicas)
        return time.monotonic() - started

    def kill_broker(self, node_id: int | None = None) -> int:
        """kill -9 of the run's broker, or of node `node_id` of its cluster; its pid."""
        if self.broker is None:
            raise RuntimeError("the broker is not this run's: it cannot be killed")
        if isinstance(self.broker, localkafka.LocalKafkaCluster):
            if node_id is None:
                raise RuntimeError("which node of the cluster to kill was not said")
            pid = self.broker.node(node_id).running_pid()
            if pid is None or not self.broker.kill_node(node_id):  # kill_node reaps it
                raise RuntimeError(f"node {node_id} of the run's cluster is not running")
            return pid
        pid = self.broker.running_pid()
        if pid is None:
            raise RuntimeError("the run's broker is not running")
        os.kill(pid, signal.SIGKILL)
        # Reaped through localkafka, which started it (its SIGTERM finds the process already dead).
        terminate(pid, grace_s=10.0)
        return pid

    def restart_broker(self, node_id: int | None = None) -> None:
        """The run's broker started again on its storage; of a cluster, node `node_id`, waited for until the
        cluster lists it."""
        if self.broker is None:
            raise RuntimeError("the broker is not this run's: it cannot be restarted")
        timeout_s = float(os.environ.get("KAFKA_START_TIMEOUT_S", "90"))
        if isinstance(self.broker, localkafka.LocalKafkaCluster):
            if node_id is None:
                raise RuntimeError("which node of the cluster to start was not said")
            self.broker.start_node(node_id, timeout_s)
        else:
            self.broker.start(timeout_s)

    # -- services -----------------------------------------------------------------------------------------

    @property
    def several(self) -> bool:
        return self.instances > 1

    def every_name(self) -> list[str]:
        """Every process's name, in start order: the Product Service's first (Order's readiness asks it)."""
        return [name for service in run.SERVICES for name in self.names[service]]

    def service_of(self, name: str) -> str:
        return name if name in run.SERVICES else name.rsplit("-", 1)[0]

    def environment(self, name: str | None = None) -> dict[str, str]:
        environment = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "PYTHONUNBUFFERED": "1",
            "DATA_DIR": str(self.data_dir),
            "PRODUCT_SERVICE_URL": f"http://127.0.0.1:{self.product_link_port or self.ports['product']}"
            if not self.several else ",".join(self.url(product) for product in self.names["product"]),
            "ORDER_MAX_UNPAID_ORDERS": str(HOLD_LIMIT_OUT_OF_THE_WAY),
            "ORDER_MAX_UNPAID_UNITS": str(HOLD_LIMIT_OUT_OF_THE_WAY),
        }
        if self.several and name is not None:
            environment["INSTANCE_ID"] = name
        if self.database_url is not None:
            environment["DATABASE_URL"] = self.database_url
        return environment

    def url(self, name: str) -> str:
        """A process's URL; a service's name stands for its first process."""
        return f"http://127.0.0.1:{self.ports[name if name in self.ports else self.names[name][0]]}"

    def launch(self, name: str, port: int | None = None) -> subprocess.Popen[bytes]:
        """Start process `name` (on `port`, else its own) without waiting; the caller waits with `wait_ready`."""
        return run.start_service(
            self.service_of(name), port or self.ports[name], self.environment(name), self.log,
            instance=name if self.several else None,
        )

    def wait_ready(self, name: str, process: subprocess.Popen[bytes], port: int | None = None) -> None:
        run.wait_until_ready(name, port or self.ports[name], process)

    def start_all(self) -> None:
        """The first process of each service at once (each waits only for its own start), then until each is
        ready; then the second of each, and so on. In waves, not all at once: two instances of a service
        starting together on a new database can both try to create its schema, and one then exits
        (`CREATE SCHEMA IF NOT EXISTS` is not safe against a concurrent one; RELIABILITY.md, findings)."""
        for wave in range(self.instances):
            names = [self.names[service][wave] for service in run.SERVICES]
            for name in names:
                self.processes[name] = self.launch(name)
            for name in names:
                self.wait_ready(name, self.processes[name])

    def kill(self, name: str) -> int:
        """kill -9 of the process; its pid. The process is reaped, and its port free again."""
        process = self.processes[name]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=STOP_GRACE_S)
        return process.pid

    def restart(self, name: str) -> None:
        self.processes[name] = self.launch(name)
        self.wait_ready(name, self.processes[name])

    def replace_order_service(self, successor: subprocess.Popen[bytes], port: int) -> subprocess.Popen[bytes]:
        """The successor is now the Order Service (on `port`); the old process is returned, kept to be killed."""
        old = self.processes["order"]
        self.extra.append(old)
        self.processes["order"] = successor
        self.ports["order"] = port
        return old

    def stop_all(self) -> None:
        for process in self.extra:
            _kill_quietly(process)
        run.stop_all(self.processes, None)
        if self.broker is not None:
            self.broker.stop()

    # -- callers ------------------------------------------------------------------------------------------

    def issuer(self) -> LocalIssuer:
        """Signs tokens with the local key the services made in DATA_DIR (so only once one has started)."""
        if self._issuer is None:
            self._issuer = LocalIssuer(LocalKeyFile(self.data_dir / LOCAL_KEY_FILE_NAME))
        return self._issuer

    def bearer(self, subject: str, *roles: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer().token(subject, roles=roles, ttl_s=TOKEN_TTL_S)}"}


def _distinct_free_ports(count: int) -> list[int]:
    """`count` free ports, all different (the OS may offer one twice once its probe socket is closed)."""
    ports: list[int] = []
    for _ in range(100 * count):  # bounded
        if len(ports) == count:
            break
        port = localkafka.free_port()
        if port not in ports:
            ports.append(port)
    return ports


def pause(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGSTOP)


def resume(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGCONT)


def _kill_quietly(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(timeout=STOP_GRACE_S)


def say(text: str) -> None:
    """A progress line: on stderr, so that stdout carries the summary alone."""
    print(text, file=sys.stderr, flush=True)
