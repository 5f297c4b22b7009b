"""A real single-node Apache Kafka broker (KRaft: broker and controller in one JVM), from Maven Central jars.

    python tools/localkafka.py start    fetch the jars (once), format storage (once), start, create topics
    python tools/localkafka.py stop     stop the broker this project started (SIGTERM, then SIGKILL)
    python tools/localkafka.py status   say whether it runs, and where
    python tools/localkafka.py fetch    only fetch the jars (once), e.g. before tests start a broker

With KAFKA_BOOTSTRAP_SERVERS set, nothing is fetched or started: `start` only makes sure the topics exist
on that cluster. Other settings (environment): KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (KAFKA_PORT + 1),
KAFKA_HOME (var/kafka: storage, logs, pid file), KAFKA_START_TIMEOUT_S (60), KAFKA_HEAP_OPTS.

Every failure is one line naming the cause and the fix, exit status 1, and no broker left half-started.
The test suite imports `LocalKafka` to run a throwaway broker on free ports in a temporary folder.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from base64 import urlsafe_b64encode
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adapters.messaging import TopicSpec

# Keep in step with <kafka.version> in tools/kafka/pom.xml: it names the jar cache folder.
KAFKA_VERSION = "4.4.0"
MIN_JAVA = 17
REPO = Path(__file__).resolve().parent.parent
POM = REPO / "tools" / "kafka" / "pom.xml"
JAR_CACHE = REPO / ".cache" / "kafka" / KAFKA_VERSION
DEFAULT_HOME = REPO / "var" / "kafka"
# Kafka's own scripts default to a 1 GiB heap; a test broker on a 2-core, shared machine needs far less.
DEFAULT_HEAP = "-Xms128m -Xmx512m"
# The flags Kafka's bin/kafka-run-class.sh passes.
JVM_FLAGS = [
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:MaxInlineLevel=15",
    "-Djava.awt.headless=true",
]

BROKER_LOG4J = """\
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
"""

TOOL_LOG4J = """\
status = warn
appender.err.type = Console
appender.err.name = ERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = %p %m%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = ERR
"""


# Brokers this Python process started, by pid: kept so they can be reaped (and no ResourceWarning says a
# running child was forgotten) while LocalKafka itself stays a plain frozen value.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class BrokerSetupError(Exception):
    """A broker could not be fetched, formatted, started or stopped; the message says why and what to do."""


def project_topics() -> tuple[TopicSpec, ...]:
    """The topics the services use, as declared by the Kafka adapter (the one list of them)."""
    from adapters.kafka.topics import ALL_TOPICS

    return ALL_TOPICS


# --- fetching the jars -------------------------------------------------------------------------------


def _require(command: str, fix: str) -> str:
    path = shutil.which(command)
    if path is None:
        raise BrokerSetupError(f"`{command}` not found on PATH: {fix}")
    return path


def java_executable() -> str:
    java = _require("java", f"install a JDK {MIN_JAVA}+ (Debian: apt-get install openjdk-17-jdk-headless)")
    banner = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    found = re.search(r'version "(\d+)(?:\.(\d+))?', banner)
    major = int(found.group(1)) if found else 0
    if major == 1 and found and found.group(2):  # "1.8.0" style
        major = int(found.group(2))
    if major < MIN_JAVA:
        raise BrokerSetupError(
            f"Kafka {KAFKA_VERSION} needs Java {MIN_JAVA}+, but `java` is {major or 'unknown'}: "
            f"put a JDK {MIN_JAVA}+ first on PATH"
        )
    return java


def fetch_jars(cache: Path = JAR_CACHE) -> Path:
    """Copy Kafka and its run-time dependencies into cache/lib once; later calls return at once.

    The copy goes to a scratch folder first and is renamed into place only when Maven succeeded, so an
    interrupted or failed fetch never leaves a half-filled lib folder that looks complete.
    """
    lib = cache / "lib"
    stamp = lib / ".pom-sha256"
    pom_digest = hashlib.sha256(POM.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == pom_digest:
        return lib
    mvn = _require("mvn", "install Maven 3 (Debian: apt-get install maven), or set KAFKA_BOOTSTRAP_SERVERS")
    java_executable()
    scratch = cache / f"lib.partial-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    print(f"kafka: fetching Apache Kafka {KAFKA_VERSION} jars with Maven (first run only, ~45 MB)...", flush=True)
    started = time.monotonic()
    result = subprocess.run(
        [
            mvn, "-B", "-q", "-f", str(POM),
            "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies",
            f"-DoutputDirectory={scratch}", "-DincludeScope=runtime",
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        shutil.rmtree(scratch, ignore_errors=True)
        raise BrokerSetupError(
            f"Maven could not fetch the Kafka jars ({_first_maven_error(result.stdout + result.stderr)}): "
            "check that Maven Central is reachable (proxy settings in ~/.m2/settings.xml), "
            "or set KAFKA_BOOTSTRAP_SERVERS to use an existing cluster"
        )
    (scratch / ".pom-sha256").write_text(pom_digest)
    shutil.rmtree(lib, ignore_errors=True)
    scratch.rename(lib)
    count = sum(1 for _ in lib.glob("*.jar"))
    print(f"kafka: {count} jars in {_shown(lib)} ({time.monotonic() - started:.1f} s)", flush=True)
    return lib


def _first_maven_error(output: str) -> str:
    for line in output.splitlines():
        if "[ERROR]" in line and line.strip() != "[ERROR]":
            return re.sub(r"\x1b\[[0-9;]*m", "", line).replace("[ERROR]", "").strip()[:300]
    return "no error text from Maven"


# --- one broker ----------------------------------------------------------------------------------------


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether the broker could listen on `port`: no socket listens there.

    SO_REUSEADDR, as the JVM sets it: connections of a broker that just stopped linger in TIME_WAIT on its
    port and do not stop a new one from listening, while a program listening there still does."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port nobody listens on right now (the OS's choice); the broker binds it a moment later."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def new_cluster_id() -> str:
    """What `kafka-storage.sh random-uuid` prints: 16 random bytes, url-safe base64, no padding.

    Like Kafka's Uuid.randomUuid, never one starting with "-": the storage tool would read it as an option.
    """
    while True:
        cluster_id = urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


@dataclass(frozen=True)
class LocalKafka:
    """One broker+controller node on 127.0.0.1, its storage, logs and pid file under `home`."""

    home: Path
    port: int = 9092
    controller_port: int = 9093

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
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                # A static voter set: storage is then formatted without --standalone, and the
                # controller port may change between starts (the voter set is not stored).
                f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                "inter.broker.listener.name=PLAINTEXT",
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                f"log.dirs={self.data_dir}",
                # Topics are created on purpose, with their partition counts; a typo must not make one.
                "auto.create.topics.enable=false",
                "num.partitions=1",
                # One node: internal topics cannot have 3 replicas. Without these, consumer groups and
                # InitProducerId (transactions) fail. Few partitions make the first group/transaction fast.
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=5",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "transaction.state.log.num.partitions=5",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                # Two cores shared with the services and the tests.
                "num.network.threads=2",
                "num.io.threads=4",
                "",
            ]
        )

    # -- state --

    def running_pid(self) -> int | None:
        """The pid of the broker this home started, if that process still runs (a stale file is ignored)."""
        try:
            pid = int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _is_our_broker(pid, self.config_file) else None

    # -- life cycle --

    def start(self, timeout_s: float = 60.0) -> float:
        """Start the broker (or find it running) and wait until it answers; returns the seconds it took."""
        started = time.monotonic()
        if self.running_pid() is not None:
            wait_until_ready(self.bootstrap_servers, timeout_s)
            return time.monotonic() - started
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
        process = self._launch(java, lib)
        try:
            self._wait_for(process, timeout_s - (time.monotonic() - started))
        except BaseException:
            _terminate(process.pid)
            self.pid_file.unlink(missing_ok=True)
            raise
        return time.monotonic() - started

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop the broker this home started; False when none was running."""
        pid = self.running_pid()
        self.pid_file.unlink(missing_ok=True)
        if pid is None:
            return False
        _terminate(pid, grace_s=timeout_s)
        return True

    def _write_config(self) -> None:
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(self.server_properties())
        (self.home / "log4j2.properties").write_text(BROKER_LOG4J)
        (self.home / "log4j2-tools.properties").write_text(TOOL_LOG4J)

    def _format(self, java: str, lib: Path) -> None:
        result = subprocess.run(
            [
                java, f"-Dlog4j2.configurationFile={self.home / 'log4j2-tools.properties'}",
                "-cp", str(lib / "*"), "kafka.tools.StorageTool",
                "format", "-t", new_cluster_id(), "-c", str(self.config_file),
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            output = result.stderr + result.stdout
            format_log = self.home / "logs" / "format.log"
            format_log.write_text(output)
            raise BrokerSetupError(
                f"formatting Kafka storage in {_shown(self.data_dir)} failed ({_first_error(output)}): "
                f"see {_shown(format_log)}; remove that folder and try again"
            )

    def _launch(self, java: str, lib: Path) -> subprocess.Popen[bytes]:
        heap = os.environ.get("KAFKA_HEAP_OPTS", DEFAULT_HEAP).split()
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                [
                    java, *heap, *JVM_FLAGS,
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
        _CHILDREN[process.pid] = process
        self.pid_file.write_text(str(process.pid))
        return process

    def _wait_for(self, process: subprocess.Popen[bytes], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not _accepts_connections(self.port):
            if process.poll() is not None:
                raise BrokerSetupError(
                    f"the broker exited at start-up with status {process.returncode} "
                    f"({_last_error(self.log_file)}): see {_shown(self.log_file)}"
                )
            if time.monotonic() > deadline:
                raise BrokerSetupError(
                    f"the broker did not accept connections on port {self.port} within {timeout_s:.0f} s: "
                    f"see {_shown(self.log_file)}, or raise KAFKA_START_TIMEOUT_S on a slow machine"
                )
            time.sleep(0.1)
        wait_until_ready(self.bootstrap_servers, max(deadline - time.monotonic(), 1.0))


def _is_our_broker(pid: int, config_file: Path) -> bool:
    # A pid file can outlive its process and the pid be reused: only a JVM running kafka.Kafka with this
    # home's config is ours to report on or to stop.
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"kafka.Kafka" in argv and str(config_file).encode() in argv


def _terminate(pid: int, grace_s: float = 30.0) -> None:
    """SIGTERM (Kafka shuts down cleanly on it), then SIGKILL if it has not exited within grace_s."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    while _alive(pid):
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None:  # started by this process: poll() reaps it, so it lingers as no zombie
        if child.poll() is None:
            return True
        del _CHILDREN[pid]
        return False
    try:
        os.kill(pid, 0)  # started by an earlier command: only ask whether it still exists
    except ProcessLookupError:
        return False
    return True


def _first_error(output: str) -> str:
    """The line of a Java tool's output that names the failure (its stack trace's first line, usually)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    named = [line for line in lines if "Exception" in line or "Error" in line or "error:" in line]
    return ((named or lines or ["no output"])[0])[:300]


def _last_error(log_file: Path) -> str:
    try:
        lines = log_file.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return "no log"
    errors = [line for line in lines if " ERROR " in line or "Exception" in line]
    return (errors[-1] if errors else (lines[-1] if lines else "empty log")).strip()[:300]


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# --- any cluster ---------------------------------------------------------------------------------------


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
    from adapters.messaging import MessagingError

    try:
        return KafkaBroker(bootstrap_servers, timeout_s=timeout_s).create_topics(topics)
    except MessagingError as error:
        raise BrokerSetupError(f"the topics are not ready on {bootstrap_servers}: {error}") from error


# --- command line --------------------------------------------------------------------------------------


def from_environment() -> LocalKafka:
    """The local broker KAFKA_HOME, KAFKA_PORT and KAFKA_CONTROLLER_PORT describe (defaults: var/kafka, 9092, 9093)."""
    port = int(os.environ.get("KAFKA_PORT", "9092"))
    return LocalKafka(
        home=Path(os.environ.get("KAFKA_HOME", DEFAULT_HOME)).resolve(),
        port=port,
        controller_port=int(os.environ.get("KAFKA_CONTROLLER_PORT", port + 1)),
    )


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
            print(f"kafka: Apache Kafka {KAFKA_VERSION} jars in {_shown(fetch_jars())}")
        elif command == "start":
            was_running = broker.running_pid() is not None
            seconds = broker.start(float(os.environ.get("KAFKA_START_TIMEOUT_S", "60")))
            how = "already running" if was_running else f"started in {seconds:.1f} s"
            print(f"kafka: Apache Kafka {KAFKA_VERSION} {how}, pid {broker.running_pid()}, "
                  f"at {broker.bootstrap_servers} (logs: {_shown(broker.log_file)})")
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
