"""One broker+controller node's life cycle: write its config, format its storage, start it, wait until it
answers, stop it; and which node the environment describes."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from . import config
from .cluster import wait_until_ready
from .errors import BrokerSetupError, first_error, last_error, shown
from .jars import REPO, fetch_jars, java_executable
from .ports import accepts_connections, port_is_free
from .processes import is_our_broker, kill, remember_child, terminate

DEFAULT_HOME = REPO / "var" / "kafka"


@dataclass(frozen=True)
class LocalKafka:
    """One broker+controller node on 127.0.0.1, its storage, logs and pid file under `home`.

    Alone by default; a node of a LocalKafkaCluster is told its id, the cluster's voters and the cluster id
    its storage is formatted with (every node's must be the same)."""

    home: Path
    port: int = 9092
    controller_port: int = 9093
    node_id: int = 1
    voters: str = ""
    cluster_id: str = ""

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def log_file(self) -> Path:
        return self.home / "logs" / "broker.log"

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    @property
    def config_file(self) -> Path:
        return self.home / "server.properties"

    def server_properties(self) -> str:
        return config.server_properties(
            port=self.port, controller_port=self.controller_port, data_dir=self.data_dir,
            node_id=self.node_id, voters=self.voters,
        )

    def stored_cluster_id(self) -> str | None:
        """The cluster id this node's storage was formatted with; None before the first format."""
        try:
            lines = (self.data_dir / "meta.properties").read_text().splitlines()
        except FileNotFoundError:
            return None
        found = [line.split("=", 1)[1] for line in lines if line.startswith("cluster.id=")]
        return found[0] if found else None

    # -- state --

    def running_pid(self) -> int | None:
        """The pid of the broker this home started, if that process still runs (a stale file is ignored)."""
        try:
            pid = int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return pid if is_our_broker(pid, self.config_file) else None

    # -- life cycle --

    def start(self, timeout_s: float = 60.0) -> float:
        """Start the broker (or find it running) and wait until it answers; returns the seconds it took."""
        started = time.monotonic()
        process = self.launch()
        if process is None:
            wait_until_ready(self.bootstrap_servers, timeout_s)
            return time.monotonic() - started
        try:
            self.wait_until_listening(process, started + timeout_s)
            wait_until_ready(self.bootstrap_servers, max(started + timeout_s - time.monotonic(), 1.0))
        except BaseException:
            self.abandon(process)
            raise
        return time.monotonic() - started

    def launch(self) -> subprocess.Popen[bytes] | None:
        """Start the JVM without waiting for it (None: it runs already). A cluster launches every node before
        waiting for any, as a node answers only once a majority of the controllers is up."""
        if self.running_pid() is not None:
            return None
        for port, setting in ((self.port, "KAFKA_PORT"), (self.controller_port, "KAFKA_CONTROLLER_PORT")):
            if not port_is_free(port):
                raise BrokerSetupError(
                    f"port {port} on 127.0.0.1 is already in use by another program: stop it, or set "
                    f"{setting} to a free port (or KAFKA_BOOTSTRAP_SERVERS to use a running cluster)"
                )
        lib = fetch_jars()
        java = java_executable()
        self._write_config()
        if not (self.data_dir / "meta.properties").exists():
            self._format(java, lib)
        return self._launch(java, lib)

    def abandon(self, process: subprocess.Popen[bytes]) -> None:
        """Stop a JVM `launch` started that did not come up: no half-started broker is left behind."""
        terminate(process.pid)
        self.pid_file.unlink(missing_ok=True)

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop the broker this home started; False when none was running."""
        pid = self.running_pid()
        self.pid_file.unlink(missing_ok=True)
        if pid is None:
            return False
        terminate(pid, grace_s=timeout_s)
        return True

    def kill(self) -> bool:
        """SIGKILL, as a crash or a power cut would: no clean shutdown; False when none was running."""
        pid = self.running_pid()
        self.pid_file.unlink(missing_ok=True)
        if pid is None:
            return False
        kill(pid)
        return True

    def _write_config(self) -> None:
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(self.server_properties())
        (self.home / "log4j2.properties").write_text(config.BROKER_LOG4J)
        (self.home / "log4j2-tools.properties").write_text(config.TOOL_LOG4J)

    def _format(self, java: str, lib: Path) -> None:
        result = subprocess.run(
            [
                java, f"-Dlog4j2.configurationFile={self.home / 'log4j2-tools.properties'}",
                "-cp", str(lib / "*"), "kafka.tools.StorageTool",
                "format", "-t", self.cluster_id or config.new_cluster_id(), "-c", str(self.config_file),
            ],
            check=False,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            output = result.stderr + result.stdout
            format_log = self.home / "logs" / "format.log"
            format_log.write_text(output)
            raise BrokerSetupError(
                f"formatting Kafka storage in {shown(self.data_dir)} failed ({first_error(output)}): "
                f"see {shown(format_log)}; remove that folder and try again"
            )

    def _launch(self, java: str, lib: Path) -> subprocess.Popen[bytes]:
        heap = os.environ.get("KAFKA_HEAP_OPTS", config.DEFAULT_HEAP).split()
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                [
                    java, *heap, *config.JVM_FLAGS,
                    f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
                    f"-Dkafka.logs.dir={self.log_file.parent}",
                    "-cp", str(lib / "*"), "kafka.Kafka", str(self.config_file),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own session: Ctrl-C in the terminal that ran `make kafka` must not take it down.
                start_new_session=True,
            )
        remember_child(process)
        self.pid_file.write_text(str(process.pid))
        return process

    def wait_until_listening(self, process: subprocess.Popen[bytes], deadline: float) -> None:
        """Until the JVM accepts connections on its port (or exits, or `deadline` passes: BrokerSetupError)."""
        timeout_s = max(deadline - time.monotonic(), 0.0)
        while not accepts_connections(self.port):
            if process.poll() is not None:
                raise BrokerSetupError(
                    f"the broker exited at start-up with status {process.returncode} "
                    f"({last_error(self.log_file)}): see {shown(self.log_file)}"
                )
            if time.monotonic() > deadline:
                raise BrokerSetupError(
                    f"the broker did not accept connections on port {self.port} within {timeout_s:.0f} s: "
                    f"see {shown(self.log_file)}, or raise KAFKA_START_TIMEOUT_S on a slow machine"
                )
            time.sleep(0.1)


def from_environment() -> LocalKafka:
    """The local broker KAFKA_HOME, KAFKA_PORT and KAFKA_CONTROLLER_PORT describe (defaults: var/kafka, 9092, 9093)."""
    port = int(os.environ.get("KAFKA_PORT", "9092"))
    return LocalKafka(
        home=Path(os.environ.get("KAFKA_HOME", DEFAULT_HOME)).resolve(),
        port=port,
        controller_port=int(os.environ.get("KAFKA_CONTROLLER_PORT", port + 1)),
    )
