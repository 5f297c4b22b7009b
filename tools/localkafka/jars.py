"""Kafka's jars, fetched once with Maven from Maven Central (tools/kafka/pom.xml), and a Java to run them."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from .errors import BrokerSetupError, shown

# Keep in step with <kafka.version> in tools/kafka/pom.xml: it names the jar cache folder.
KAFKA_VERSION = "4.4.0"
MIN_JAVA = 17
REPO = Path(__file__).resolve().parents[2]
POM = REPO / "tools" / "kafka" / "pom.xml"
JAR_CACHE = REPO / ".cache" / "kafka" / KAFKA_VERSION


def _require(command: str, fix: str) -> str:
    path = shutil.which(command)
    if path is None:
        raise BrokerSetupError(f"`{command}` not found on PATH: {fix}")
    return path


def java_executable() -> str:
    java = _require("java", f"install a JDK {MIN_JAVA}+ (Debian: apt-get install openjdk-17-jdk-headless)")
    banner = subprocess.run([java, "-version"], check=False, capture_output=True, text=True).stderr
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
        check=False,
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
    print(f"kafka: {count} jars in {shown(lib)} ({time.monotonic() - started:.1f} s)", flush=True)
    return lib


def _first_maven_error(output: str) -> str:
    for line in output.splitlines():
        if "[ERROR]" in line and line.strip() != "[ERROR]":
            return re.sub(r"\x1b\[[0-9;]*m", "", line).replace("[ERROR]", "").strip()[:300]
    return "no error text from Maven"
