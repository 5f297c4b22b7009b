"""The system under chaos, started as `make run` starts it, every process ours and known by its pid.

Kafka: the cluster at `--bootstrap` (or KAFKA_BOOTSTRAP_SERVERS) when given, else a broker of this run on
free ports in the run's folder, which the run may kill and start again on the same storage. The three
services: uvicorn processes (tools/run_processes.py) on free ports with one DATA_DIR, the hold limit out of
the way as in the bench (the load is many customers' orders, some left unpaid), and the Order Service
reaching the Product Service through the run's FaultyLink. Each process is ended by its pid, never by name.
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
    def __init__(self, workdir: Path, bootstrap: str | None, log: TextIO) -> None:
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log = log
        self.broker: localkafka.LocalKafka | None = None
        self.bootstrap = bootstrap or ""
        self.ports = {name: localkafka.free_port() for name in run.SERVICES}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.extra: list[subprocess.Popen[bytes]] = []  # a paused Order Service's old process, until killed
        self.product_link_port = 0  # set once the FaultyLink listens
        self._issuer: LocalIssuer | None = None

    # -- Kafka --------------------------------------------------------------------------------------------

    @property
    def owns_broker(self) -> bool:
        return self.broker is not None

    def start_kafka(self) -> float:
        """Start the run's own broker unless a cluster was given; the topics either way. Seconds it took."""
        started = time.monotonic()
        if not self.bootstrap:
            controller = localkafka.free_port()
            port = localkafka.free_port()
            while port == controller:
                port = localkafka.free_port()
            self.broker = localkafka.LocalKafka(self.workdir / "kafka", port=port, controller_port=controller)
            self.broker.start(float(os.environ.get("KAFKA_START_TIMEOUT_S", "90")))
            self.bootstrap = self.broker.bootstrap_servers
        else:
            localkafka.wait_until_ready(self.bootstrap, timeout_s=30)
        localkafka.ensure_topics(self.bootstrap, localkafka.project_topics())
        return time.monotonic() - started

    def kill_broker(self) -> int:
        """kill -9 of the run's broker; its pid."""
        if self.broker is None:
            raise RuntimeError("the broker is not this run's: it cannot be killed")
        pid = self.broker.running_pid()
        if pid is None:
            raise RuntimeError("the run's broker is not running")
        os.kill(pid, signal.SIGKILL)
        # Reaped through localkafka, which started it (its SIGTERM finds the process already dead).
        terminate(pid, grace_s=10.0)
        return pid

    def restart_broker(self) -> None:
        if self.broker is None:
            raise RuntimeError("the broker is not this run's: it cannot be restarted")
        self.broker.start(float(os.environ.get("KAFKA_START_TIMEOUT_S", "90")))

    # -- services -----------------------------------------------------------------------------------------

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "PYTHONUNBUFFERED": "1",
            "DATA_DIR": str(self.data_dir),
            "PRODUCT_SERVICE_URL": f"http://127.0.0.1:{self.product_link_port or self.ports['product']}",
            "ORDER_MAX_UNPAID_ORDERS": str(HOLD_LIMIT_OUT_OF_THE_WAY),
            "ORDER_MAX_UNPAID_UNITS": str(HOLD_LIMIT_OUT_OF_THE_WAY),
        }

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def launch(self, service: str, port: int | None = None) -> subprocess.Popen[bytes]:
        """Start `service` (on `port`, else its own) without waiting; the caller waits with `wait_ready`."""
        return run.start_service(service, port or self.ports[service], self.environment(), self.log)

    def wait_ready(self, service: str, process: subprocess.Popen[bytes], port: int | None = None) -> None:
        run.wait_until_ready(service, port or self.ports[service], process)

    def start_all(self) -> None:
        """The three services at once (each waits only for its own start), then until each is ready."""
        for service in run.SERVICES:
            self.processes[service] = self.launch(service)
        for service in run.SERVICES:
            self.wait_ready(service, self.processes[service])

    def kill(self, service: str) -> int:
        """kill -9 of the service's process; its pid. The process is reaped, and its port free again."""
        process = self.processes[service]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=STOP_GRACE_S)
        return process.pid

    def restart(self, service: str) -> None:
        self.processes[service] = self.launch(service)
        self.wait_ready(service, self.processes[service])

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
