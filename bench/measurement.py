"""What a run costs and how fast it went: the load's own figures plus every watched process's CPU over the
run, peak RSS, the broker's pid, and the micro-benchmarks of the core's hot functions."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from errors import BenchError

if TYPE_CHECKING:
    import localkafka
    from load import Load

REPO = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


class Tree(NamedTuple):
    """A watched server of several processes, a parent and the children it forks (PostgreSQL's postmaster
    and its backends): its CPU is theirs together, the children that ended included."""

    pid: int


def _stat(pid: int | str) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def cpu_seconds(pid: int | Tree) -> float | None:
    if isinstance(pid, Tree):
        return tree_cpu_seconds(pid.pid)
    fields = _stat(pid)
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14 and 15 of stat)


def tree_cpu_seconds(pid: int) -> float | None:
    """The CPU of `pid` and of its children, with what the children that were reaped used (cutime, cstime,
    fields 16 and 17 of stat), so the total only grows as backends come and go."""
    own = _stat(pid)
    if own is None:
        return None
    ticks = sum(int(own[i]) for i in (11, 12, 13, 14))
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(pid):
            fields = _stat(entry.name)
            if fields is not None and fields[1] == str(pid):  # ppid, field 4
                ticks += sum(int(fields[i]) for i in (11, 12, 13, 14))
    return ticks / CLK_TCK


def peak_rss_mib(pid: int | Tree) -> float | None:
    """VmHWM; None for a Tree, whose processes share their memory (PostgreSQL's shared buffers)."""
    if isinstance(pid, Tree):
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def compiling_cpu_seconds(pid: int) -> float | None:
    """CPU the JVM `pid`'s JIT compiler threads ("C1 CompilerThre", "C2 CompilerThre"...) have used so far;
    None when the process is gone or not readable."""
    total = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                if not (task / "comm").read_text().startswith(("C1 Compiler", "C2 Compiler")):
                    continue
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # the thread ended between the listing and the read
            total += int(fields[11]) + int(fields[12])
    except OSError:
        return None
    return total / CLK_TCK


def broker_pid(bootstrap: str, started: localkafka.LocalKafka | None) -> int | None:
    """Our broker's pid; for an external one on 127.0.0.1, the local kafka.Kafka JVM listening there, if any."""
    if started is not None:
        return started.running_pid()
    host, _, port = bootstrap.split(",", maxsplit=1)[0].rpartition(":")
    if host not in ("127.0.0.1", "localhost"):
        return None
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            for line in Path(table).read_text().splitlines()[1:]:
                cols = line.split()
                if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == int(port):
                    inodes.add(cols[9])
        except OSError:
            continue
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if b"kafka.Kafka" not in (entry / "cmdline").read_bytes():
                continue
            for fd in (entry / "fd").iterdir():
                link = os.readlink(fd)
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return int(entry.name)
        except OSError:
            continue
    return None


def utc_text() -> str:
    """Now, as SQLite's strftime('%Y-%m-%dT%H:%M:%fZ') writes it: texts compare in time order."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def children_cpu() -> float:
    usage = os.times()
    return usage.children_user + usage.children_system


def measure(name: str, short: str, load: Load, command: list[str], env: dict[str, str],
            watched: dict[str, int | Tree], duration: float,
            counters: Callable[[], dict[str, float]] | None = None) -> dict[str, Any]:
    """Run the load; the result plus every watched process's CPU over the run (seconds, and share of one core),
    and with `counters` how much each of them grew over the run."""
    counted = counters() if counters is not None else {}
    before = {key: cpu_seconds(pid) for key, pid in watched.items()}
    tool_before = children_cpu()
    window_start = utc_text()
    started = time.monotonic()
    result = load.run(command, env, timeout_s=duration + 60)
    wall = time.monotonic() - started
    result["window_utc"] = [window_start, utc_text()]
    tool_cpu = children_cpu() - tool_before
    cpu = {}
    used = {}
    for key, pid in watched.items():
        after = cpu_seconds(pid)
        if before[key] is not None and after is not None:
            cpu[key] = round((after - before[key]) / wall, 3)
            used[key] = round(after - before[key], 3)
    cpu["load tool"] = round(tool_cpu / wall, 3)
    used["load tool"] = round(tool_cpu, 3)
    result["name"] = name
    result["short"] = short
    result["wall_s"] = round(wall, 2)
    result["rate"] = round(result["requests"] / (result["duration_us"] / 1e6), 1) if result["duration_us"] else 0
    result["cpu_share_of_one_core"] = cpu
    result["cpu_seconds"] = used
    if counters is not None:
        result["counters"] = {key: value - counted.get(key, 0.0) for key, value in counters().items()}
    print(f"bench: {name}: {result['rate']:,.0f} req/s, p99 {result['latency_us']['p99'] / 1000:.1f} ms, "
          f"statuses {result['statuses']}, errors {result.get('errors')}", flush=True)
    return result


RELAY_COUNTERS = {"ordering_events_published_total": "events published",
                  "ordering_outbox_transactions_total": "kafka transactions",
                  "ordering_availability_questions_total": "availability questions",
                  "ordering_availability_requests_total": "availability requests"}
CONSUMER_COUNTERS = {"ordering_records_applied_total": "records applied",
                     "ordering_consumer_transactions_total": "database transactions"}
CONSUMERS = ("product", "message")  # the services whose consumers take every order's records


def service_counters(ports: dict[str, list[int]]) -> dict[str, float]:
    """From every instance's `GET /metrics`: what the Order Service's outbox relays published so far, and in
    how many Kafka transactions (one instance leads), and its availability questions and the requests they
    went in; and for each of `CONSUMERS`, the records its consumers
    applied and in how many database transactions (`<service> service records applied`, ...)."""
    totals = dict.fromkeys(RELAY_COUNTERS.values(), 0.0)
    for port in ports["order"]:
        for name, value in _counters(port, RELAY_COUNTERS):
            totals[name] += value
    for service in CONSUMERS:
        for port in ports.get(service, []):
            for name, value in _counters(port, CONSUMER_COUNTERS):
                key = f"{service} service {name}"
                totals[key] = totals.get(key, 0.0) + value
    return totals


def _counters(port: int, wanted: dict[str, str]) -> list[tuple[str, float]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        lines = answer.read().decode().splitlines()
    found = []
    for line in lines:
        sample, _, value = line.partition(" ")
        name = sample.partition("{")[0]  # every label set of the metric (a service has one consumer group)
        if name in wanted:
            found.append((wanted[name], float(value)))
    return found


def micro_benchmarks(workdir: Path, env: dict[str, str]) -> dict[str, Any]:
    """tests/benchmarks timed by pytest-benchmark; each median also as a multiple of the baseline's."""
    out = workdir / "micro.json"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(REPO / "tests" / "benchmarks"),
               "--benchmark-enable", f"--benchmark-json={out}", "--benchmark-disable-gc", "--no-cov"]
    done = subprocess.run(command, check=False, env=env, cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=300)
    if done.returncode != 0:
        raise BenchError(f"the micro-benchmarks failed:\n{done.stdout.decode(errors='replace')[-2000:]}")
    benchmarks = json.loads(out.read_text())["benchmarks"]
    medians = {b["fullname"].split("::", 1)[1]: b["stats"]["median"] * 1e9 for b in benchmarks}
    baseline = next(ns for name, ns in medians.items() if "baseline" in name)
    return {name: {"median_ns": round(ns), "x_baseline": round(ns / baseline, 2)} for name, ns in medians.items()}
