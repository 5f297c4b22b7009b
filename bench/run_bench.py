"""The order path's throughput and latency next to a bare Starlette echo, in one unattended command (~80 s).

    make bench                      # or: .venv/bin/python bench/run_bench.py [--duration 8] [--connections 32]

0. The micro-benchmarks of the core's hot functions (tests/benchmarks, pytest-benchmark), on a quiet machine,
   each also as a multiple of a baseline timed in the same run.
1. Kafka: the cluster at KAFKA_BOOTSTRAP_SERVERS when it is set and answers, else a throwaway broker
   (tools/localkafka.py) in a temporary folder on free ports, stopped at the end. The three services start as
   `make run` starts them (tools/run.py), on free ports with a fresh temporary DATA_DIR; 20 products
   B00..B19 with 1,000,000 units each are created by PUT, as an admin. Orders are placed by 1,000 customers
   in turn, each with a token of the local key (as a real shop's many customers would), and the hold limit
   is raised out of the way: the bench measures throughput, and the limit's query still runs on every order.
2. The baseline: bench/echo_app.py (Starlette, JSON echo) under the same uvicorn settings, its own process.
3. Load from a separate process, the same connections for every run: `wrk` when installed (closed loop;
   Debian/Ubuntu: `apt-get install -y wrk`), else bench/loadgen.py; the open-loop run (fixed arrival rate at
   half the measured order rate) always uses bench/loadgen.py (wrk has no fixed rate). loadgen.py is also run
   against the echo, so its own ceiling is shown next to the rates it is asked for.
4. After the load, when propagation is idle (no unsent outbox rows, stock stable; bounded wait): stock
   conservation per product (initial = stock now + units in non-cancelled orders) and oversold units; and,
   for the orders of each order run, how long the stock and the customer's message took to follow, from
   the services' own timestamps (bench/propagation.py). The open-loop run lasts long enough to place at
   least 1,200 orders.
5. Peak RSS (VmHWM) and CPU used per process (services, broker, echo, load tool) during each run.
6. A table with absolute figures and ratios to the echo; the JSON in bench/results/<date>-<host>.json (a later
   run the same day replaces it). With --profile, py-spy samples each service during the closed-loop order run
   (collapsed stacks in bench/results/profile-<service>.txt, summarised by bench/profile_summary.py).

All traffic goes to 127.0.0.1. Ctrl-C stops everything this script started (by pid), and nothing else.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for folder in (REPO / "tools", REPO / "src"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import httpx
import profile_summary
import propagation

import localkafka
import run
from adapters.identity.local import LocalIssuer, LocalKeyFile
from entrypoints.settings import LOCAL_KEY_FILE_NAME
from ordering_core.customers import Role

PRODUCTS = [f"B{i:02d}" for i in range(20)]
INITIAL_STOCK = 100_000  # the API takes at most 10,000 units a call: created with 10,000, restocked 9 times
UNITS_PER_CALL = 10_000
IDLE_TIMEOUT_S = 90.0
MIN_PROPAGATED = 1_200  # orders the open-loop run places at least, for its propagation percentiles
MAX_OPEN_LOOP_S = 60.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
CUSTOMERS = 1_000  # who the orders are placed by, in turn
TOKEN_TTL_S = 4 * 3600  # longer than any bench run
HOLD_LIMIT_OUT_OF_THE_WAY = 1_000_000_000


class BenchError(Exception):
    pass


# --- processes ---------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14 and 15 of stat)


def peak_rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def broker_pid(bootstrap: str, started: localkafka.LocalKafka | None) -> int | None:
    """Our broker's pid; for an external one on 127.0.0.1, the local kafka.Kafka JVM listening there, if any."""
    if started is not None:
        return started.running_pid()
    host, _, port = bootstrap.split(",")[0].rpartition(":")
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


def start_echo(port: int, env: dict[str, str], log) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--app-dir", str(HERE), "echo_app:app",
         "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
        env=env, cwd=REPO, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )


def wait_http(url: str, process: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"{url}: the process exited with status {process.returncode}")
        try:
            httpx.post(url, json={}, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise BenchError(f"{url} did not answer within {timeout_s:.0f} s")


def stop_process(process: subprocess.Popen[bytes] | None, grace_s: float = 10.0) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --- load --------------------------------------------------------------------------------------------


class Load:
    """One run of the load tool, as its own process; the CPU it used comes from wait4's rusage."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None

    def run(self, command: list[str], env: dict[str, str], timeout_s: float) -> dict[str, Any]:
        self.process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, start_new_session=True)
        try:
            out, err = self.process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            raise BenchError(f"the load tool did not finish within {timeout_s:.0f} s: {' '.join(command)}") from None
        # communicate() reaped it: its CPU is now in this process's children's times (see measure).
        for line in out.decode(errors="replace").splitlines():
            if line.startswith("BENCHJSON "):
                return json.loads(line[len("BENCHJSON "):])
        raise BenchError(f"the load tool printed no result (status {self.process.returncode}): "
                         f"{(err or out).decode(errors='replace')[-400:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def utc_text() -> str:
    """Now, as SQLite's strftime('%Y-%m-%dT%H:%M:%fZ') writes it: texts compare in time order."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def children_cpu() -> float:
    usage = os.times()
    return usage.children_user + usage.children_system


def measure(name: str, short: str, load: Load, command: list[str], env: dict[str, str], watched: dict[str, int],
            duration: float) -> dict[str, Any]:
    """Run the load; the result plus every watched process's CPU over the run (seconds and share of one core)."""
    before = {key: cpu_seconds(pid) for key, pid in watched.items()}
    tool_before = children_cpu()
    window_start = utc_text()
    started = time.monotonic()
    result = load.run(command, env, timeout_s=duration + 60)
    wall = time.monotonic() - started
    result["window_utc"] = [window_start, utc_text()]
    tool_cpu = children_cpu() - tool_before
    cpu = {}
    for key, pid in watched.items():
        after = cpu_seconds(pid)
        if before[key] is not None and after is not None:
            cpu[key] = round((after - before[key]) / wall, 3)
    cpu["load tool"] = round(tool_cpu / wall, 3)
    result["name"] = name
    result["short"] = short
    result["wall_s"] = round(wall, 2)
    result["rate"] = round(result["requests"] / (result["duration_us"] / 1e6), 1) if result["duration_us"] else 0
    result["cpu_share_of_one_core"] = cpu
    print(f"bench: {name}: {result['rate']:,.0f} req/s, p99 {result['latency_us']['p99'] / 1000:.1f} ms, "
          f"statuses {result['statuses']}, errors {result.get('errors')}", flush=True)
    return result


def wrk_command(port: int, path: str, connections: int, duration: float) -> list[str]:
    return ["wrk", "-t1", f"-c{connections}", f"-d{int(duration)}s", "--timeout", "5s",
            "-s", str(HERE / "wrk_post.lua"), f"http://127.0.0.1:{port}{path}"]


def loadgen_command(port: int, path: str, mode: str, connections: int, duration: float, rate: float = 0) -> list[str]:
    return [sys.executable, "-W", "ignore", str(HERE / "loadgen.py"), "--port", str(port), "--path", path,
            "--mode", mode, "--connections", str(connections), "--duration", str(duration), "--rate", str(rate)]


# --- micro-benchmarks --------------------------------------------------------------------------------


def micro_benchmarks(workdir: Path, env: dict[str, str]) -> dict[str, Any]:
    """tests/benchmarks timed by pytest-benchmark; each median also as a multiple of the baseline's."""
    out = workdir / "micro.json"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(REPO / "tests" / "benchmarks"),
               "--benchmark-enable", f"--benchmark-json={out}", "--benchmark-disable-gc", "--no-cov"]
    done = subprocess.run(command, env=env, cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
    if done.returncode != 0:
        raise BenchError(f"the micro-benchmarks failed:\n{done.stdout.decode(errors='replace')[-2000:]}")
    benchmarks = json.loads(out.read_text())["benchmarks"]
    medians = {b["fullname"].split("::", 1)[1]: b["stats"]["median"] * 1e9 for b in benchmarks}
    baseline = next(ns for name, ns in medians.items() if "baseline" in name)
    return {name: {"median_ns": round(ns), "x_baseline": round(ns / baseline, 2)} for name, ns in medians.items()}


def print_micro(micro: dict[str, Any]) -> None:
    print("\nmicro-benchmarks (tests/benchmarks; median of pytest-benchmark's rounds, GC off):")
    width = max(len(name) for name in micro)
    for name, figures in micro.items():
        print(f"  {name.ljust(width)}  {figures['median_ns'] / 1000:8.2f} us  {figures['x_baseline']:6.2f} x baseline")


# --- profiling --------------------------------------------------------------------------------------


def start_profilers(services: dict[str, subprocess.Popen[bytes]], duration: float) -> dict[str, tuple[Path, subprocess.Popen[bytes]]]:
    """py-spy on each service for `duration` seconds (100 samples/s, by function, Python and native frames off)."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        raise BenchError("--profile needs py-spy: .venv/bin/pip install py-spy (it is in the bench extra)")
    profilers = {}
    for name, process in services.items():
        out = HERE / "results" / f"profile-{name}.txt"
        out.parent.mkdir(exist_ok=True)
        profilers[name] = (out, subprocess.Popen(
            [spy, "record", "--pid", str(process.pid), "--duration", str(int(duration)), "--format", "raw",
             "--function", "--threads", "--rate", "100", "--nonblocking", "--output", str(out)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        ))
    return profilers


def finish_profilers(profilers: dict[str, tuple[Path, subprocess.Popen[bytes]]]) -> None:
    for name, (out, process) in profilers.items():
        try:
            _, err = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise BenchError(f"py-spy on the {name} service did not finish") from None
        if process.returncode != 0 or not out.exists():
            raise BenchError(f"py-spy on the {name} service failed: {err.decode(errors='replace')[-300:]}")
        where = f"{name} service ({out.relative_to(REPO)})"
        profile_summary.print_summary(f"{where}, event loop", profile_summary.summarise(out, 15, "MainThread"), 15)
        profile_summary.print_summary(f"{where}, every thread", profile_summary.summarise(out, 10), 10)


# --- the system --------------------------------------------------------------------------------------


def start_kafka(workdir: Path) -> tuple[str, localkafka.LocalKafka | None]:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if external:
        try:
            localkafka.wait_until_ready(external, timeout_s=15)
        except Exception as error:  # noqa: BLE001 - any failure means "not answering"
            print(f"bench: no broker answers at KAFKA_BOOTSTRAP_SERVERS={external} ({error}); "
                  f"starting a throwaway one", flush=True)
        else:
            localkafka.ensure_topics(external, localkafka.project_topics())
            print(f"bench: Kafka at {external} (KAFKA_BOOTSTRAP_SERVERS)", flush=True)
            return external, None
    port = localkafka.free_port()
    controller = localkafka.free_port()
    while controller == port:
        controller = localkafka.free_port()
    broker = localkafka.LocalKafka(workdir / "kafka", port=port, controller_port=controller)
    seconds = broker.start(float(os.environ.get("KAFKA_START_TIMEOUT_S", "90")))
    localkafka.ensure_topics(broker.bootstrap_servers, localkafka.project_topics())
    print(f"bench: throwaway Kafka at {broker.bootstrap_servers} (started in {seconds:.1f} s)", flush=True)
    return broker.bootstrap_servers, broker


def load_products(product_port: int, admin: dict[str, str]) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{product_port}", timeout=10.0, headers=admin) as client:
        for product_id in PRODUCTS:
            answer = client.put(f"/products/{product_id}",
                                json={"name": f"bench {product_id}", "price": "1.00", "stocks": UNITS_PER_CALL})
            if answer.status_code != 201:
                raise BenchError(f"PUT /products/{product_id}: {answer.status_code} {answer.text[:200]}")
            for _ in range(INITIAL_STOCK // UNITS_PER_CALL - 1):
                answer = client.post(f"/products/{product_id}/restock", json={"quantity": UNITS_PER_CALL})
                if answer.status_code != 200:
                    raise BenchError(f"POST /products/{product_id}/restock: {answer.status_code} {answer.text[:200]}")
            stocks = client.get(f"/products/{product_id}").json()["stocks"]
            if stocks != INITIAL_STOCK:
                raise BenchError(f"{product_id} has {stocks} units after loading, not {INITIAL_STOCK}")


def unsent_outbox_rows(data_dir: Path) -> int:
    total = 0
    for db in sorted(data_dir.glob("*.db")):
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as connection:
                tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                if "outbox" in tables:
                    total += connection.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0]
        except sqlite3.Error:
            continue
    return total


def read_state(order_port: int, product_port: int, admin: dict[str, str]) -> tuple[dict[str, int], list[dict[str, Any]]]:
    with httpx.Client(timeout=30.0, headers=admin) as client:
        stocks = {p["product_id"]: p["stocks"] for p in client.get(f"http://127.0.0.1:{product_port}/products").json()}
        orders: list[dict[str, Any]] = []
        after = None
        for _ in range(100_000):  # bounded: 100 a page
            params: dict[str, Any] = {"limit": 100}
            if after:
                params["after"] = after
            page = client.get(f"http://127.0.0.1:{order_port}/orders", params=params).json()
            orders.extend(page["orders"])
            after = page["next"]
            if not after:
                break
    return stocks, orders


def conservation(stocks: dict[str, int], orders: list[dict[str, Any]]) -> dict[str, Any]:
    held = {product_id: 0 for product_id in PRODUCTS}
    statuses: dict[str, int] = {}
    for order in orders:
        statuses[order["status"]] = statuses.get(order["status"], 0) + 1
        if order["status"] != "cancelled":
            for item in order["items"]:
                held[item["product_id"]] = held.get(item["product_id"], 0) + item["quantity"]
    gaps = {p: INITIAL_STOCK - stocks.get(p, 0) - held[p] for p in PRODUCTS if INITIAL_STOCK - stocks.get(p, 0) - held[p]}
    oversold = sum(max(0, held[p] - INITIAL_STOCK) + max(0, -stocks.get(p, 0)) for p in PRODUCTS)
    return {"exact": not gaps, "gaps_by_product": gaps, "oversold_units": oversold, "orders": len(orders),
            "orders_by_status": statuses, "units_held": sum(held.values())}


def wait_idle_and_check(order_port: int, product_port: int, data_dir: Path, admin: dict[str, str]) -> dict[str, Any]:
    """Until no outbox row is unsent and stock conservation holds (or the stock stops moving), bounded."""
    started = time.monotonic()
    last_stocks: dict[str, int] | None = None
    stable_since = time.monotonic()
    check: dict[str, Any] = {}
    while time.monotonic() - started < IDLE_TIMEOUT_S:
        unsent = unsent_outbox_rows(data_dir)
        if unsent == 0:
            stocks, orders = read_state(order_port, product_port, admin)
            check = conservation(stocks, orders)
            if check["exact"]:
                break
            if stocks != last_stocks:
                last_stocks, stable_since = stocks, time.monotonic()
            elif time.monotonic() - stable_since > 10:
                break  # nothing moved for 10 s: report the gap as it is
        time.sleep(0.5)
    else:
        stocks, orders = read_state(order_port, product_port, admin)
        check = conservation(stocks, orders)
        check["timed_out"] = True
    check["unsent_outbox_rows"] = unsent_outbox_rows(data_dir)
    check["idle_after_s"] = round(time.monotonic() - started, 1)
    return check


# --- main --------------------------------------------------------------------------------------------


def _interrupt(_signal: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per load run (8)")
    parser.add_argument("--connections", type=int, default=32, help="connections for every load run (32)")
    parser.add_argument("--warmup", type=float, default=15.0, help="seconds of orders before measuring (15)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (data, logs)")
    parser.add_argument("--tool", choices=("auto", "wrk", "loadgen"), default="auto",
                        help="closed-loop load tool: wrk when installed (auto), or bench/loadgen.py")
    parser.add_argument("--profile", action="store_true",
                        help="sample each service with py-spy during the closed-loop order run; collapsed stacks "
                             "in bench/results/profile-<service>.txt and the top costs printed")
    args = parser.parse_args()
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)

    use_wrk = args.tool != "loadgen" and shutil.which("wrk") is not None
    if args.tool == "wrk" and not use_wrk:
        print("bench: error: wrk not found (Debian/Ubuntu: apt-get install -y wrk)", file=sys.stderr)
        return 1
    if not use_wrk and args.tool == "auto":
        print("bench: wrk not found, using bench/loadgen.py for every run "
              "(to use wrk: apt-get install -y wrk, or your system's package)", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="ordering-bench-"))
    data_dir = workdir / "data"
    data_dir.mkdir()
    log_path = workdir / "services.log"
    log = log_path.open("w")
    broker: localkafka.LocalKafka | None = None
    services: dict[str, subprocess.Popen[bytes]] = {}
    echo: subprocess.Popen[bytes] | None = None
    load = Load()
    failed = interrupted = False
    # Our packages first on the path of every process started here (the same order as the Makefile's).
    base_env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO / "src"), str(REPO / "tools"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    try:
        print("bench: micro-benchmarks of the core (tests/benchmarks)...", flush=True)
        micro = micro_benchmarks(workdir, base_env)
        bootstrap, broker = start_kafka(workdir)
        ports = {name: localkafka.free_port() for name in ("order", "product", "message", "echo")}
        env = {**base_env, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "PYTHONUNBUFFERED": "1",
               "DATA_DIR": str(data_dir), "ORDER_PORT": str(ports["order"]), "PRODUCT_PORT": str(ports["product"]),
               "MESSAGE_PORT": str(ports["message"]),
               "PRODUCT_SERVICE_URL": f"http://127.0.0.1:{ports['product']}",
               "ORDER_MAX_UNPAID_ORDERS": str(HOLD_LIMIT_OUT_OF_THE_WAY),
               "ORDER_MAX_UNPAID_UNITS": str(HOLD_LIMIT_OUT_OF_THE_WAY)}
        for name in run.SERVICES:
            services[name] = run.start_service(name, ports[name], env, log)
            run.wait_until_ready(name, ports[name], services[name])
        echo = start_echo(ports["echo"], env, log)
        wait_http(f"http://127.0.0.1:{ports['echo']}/echo", echo)
        issuer = LocalIssuer(LocalKeyFile(data_dir / LOCAL_KEY_FILE_NAME))  # the key the services made
        admin = {"Authorization": f"Bearer {issuer.token('bench-admin', roles=[Role.ADMIN], ttl_s=TOKEN_TTL_S)}"}
        tokens = workdir / "tokens.txt"
        tokens.write_text("".join(f"{issuer.token(f'bench-{n}', ttl_s=TOKEN_TTL_S)}\n" for n in range(CUSTOMERS)))
        env["BENCH_TOKENS"] = str(tokens)
        load_products(ports["product"], admin)
        print(f"bench: {len(PRODUCTS)} products with {INITIAL_STOCK:,} units each; logs in {log_path}", flush=True)

        watched = {f"{name} service": process.pid for name, process in services.items()}
        watched["echo"] = echo.pid
        kafka_pid = broker_pid(bootstrap, broker)
        if kafka_pid is not None:
            watched["kafka broker"] = kafka_pid
        c, d = args.connections, args.duration
        runs: list[dict[str, Any]] = []

        def closed(port: int, path: str, mode: str, name: str, tool: str, short: str) -> dict[str, Any]:
            if tool == "wrk":
                command = wrk_command(port, path, c, d)
                tool_env = {**env, "BENCH_MODE": mode, "BENCH_PATH": path}
            else:
                command, tool_env = loadgen_command(port, path, mode, c, d), env
            return measure(name, short, load, command, tool_env, watched, d)

        main_tool = "wrk" if use_wrk else "loadgen"
        # Warm-up, not reported: first connections, imports, SQLite pages, Kafka producers, and above all the
        # broker's JIT: a fresh JVM spends seconds of CPU compiling, which would be counted against the orders.
        print(f"bench: warming up ({args.warmup:.0f} s of orders)...", flush=True)
        load.run(loadgen_command(ports["echo"], "/echo", "echo", c, 1.0), env, 60)
        load.run(loadgen_command(ports["order"], "/orders/order", "orders", c, args.warmup), env, args.warmup + 60)
        echo_run = closed(ports["echo"], "/echo", "echo", f"echo, closed loop ({main_tool})", main_tool,
                          f"echo/{main_tool}")
        runs.append(echo_run)
        if use_wrk:
            runs.append(closed(ports["echo"], "/echo", "echo", "echo, closed loop (loadgen)", "loadgen",
                               "echo/loadgen"))
        profilers = start_profilers(services, d) if args.profile else {}
        order_run = closed(ports["order"], "/orders/order", "orders", f"orders, closed loop ({main_tool})", main_tool,
                           f"orders/{main_tool}")
        finish_profilers(profilers)
        runs.append(order_run)
        ok_rate = order_run["statuses"].get("201", 0) / (order_run["duration_us"] / 1e6)
        open_rate = max(1.0, round(ok_rate / 2))
        # Long enough for the propagation figures to cover at least MIN_PROPAGATED orders.
        open_d = min(MAX_OPEN_LOOP_S, max(d, math.ceil(MIN_PROPAGATED / open_rate)))
        runs.append(measure(f"orders, open loop at {open_rate:.0f}/s (loadgen)", "orders open", load,
                            loadgen_command(ports["order"], "/orders/order", "orders", c, open_d, open_rate),
                            env, watched, open_d))
        runs[-1]["target_rate"] = open_rate

        print("bench: waiting until propagation is idle...", flush=True)
        check = wait_idle_and_check(ports["order"], ports["product"], data_dir, admin)
        for r in runs:
            if r["short"].startswith("orders"):
                r["propagation"] = propagation.propagation(data_dir, *r["window_utc"])
        peak = {key: peak_rss_mib(pid) for key, pid in watched.items()}
        report = {
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "host": socket.gethostname(),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
            "settings": {"connections": c, "duration_s": d, "products": len(PRODUCTS), "initial_stock": INITIAL_STOCK,
                         "closed_loop_tool": main_tool, "kafka": bootstrap,
                         "kafka_started_by_bench": broker is not None},
            "runs": runs,
            "stock_check": check,
            "peak_rss_mib": {k: round(v, 1) for k, v in peak.items() if v is not None},
            "micro_benchmarks": micro,
        }
        print_table(report, echo_run)
        out = HERE / "results" / f"{datetime.date.today().isoformat()}-{socket.gethostname()}.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"bench: written {out.relative_to(REPO)}", flush=True)
        if not check["exact"] or check["oversold_units"]:
            failed = True
            print("bench: FAILED: stock not conserved or oversold (see stock_check)", file=sys.stderr)
        server_errors = sum(n for r in runs for status, n in r["statuses"].items() if str(status).startswith("5"))
        if server_errors:
            failed = True
            print(f"bench: FAILED: {server_errors} answers were 5xx (service logs: {log_path})", file=sys.stderr)
    except KeyboardInterrupt:
        failed = interrupted = True
        print("\nbench: interrupted, stopping...", flush=True)
    except (BenchError, run.RunError, localkafka.BrokerSetupError) as error:
        failed = True
        print(f"bench: error: {error} (service logs: {log_path})", file=sys.stderr, flush=True)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        load.stop()
        stop_process(echo)
        run.stop_all(services, None)
        if broker is not None:
            broker.stop()
            print("bench: throwaway Kafka stopped", flush=True)
        log.close()
        if args.keep or (failed and not interrupted):
            print(f"bench: kept {workdir}", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


def print_table(report: dict[str, Any], echo_run: dict[str, Any]) -> None:
    base = echo_run["rate"] or 1.0
    base_p99 = echo_run["latency_us"]["p99"] or 1.0
    rows = [("run", "req/s", "x echo", "p50 ms", "p90 ms", "p99 ms", "max ms", "p99 x echo", "statuses / errors")]
    for r in report["runs"]:
        lat = r["latency_us"]
        errors = {k: v for k, v in (r.get("errors") or {}).items() if v}
        if r.get("not_sent"):
            errors["not_sent"] = r["not_sent"]
        rows.append((r["name"], f"{r['rate']:,.0f}", f"{r['rate'] / base:.3f}", f"{lat['p50'] / 1000:.2f}",
                     f"{lat['p90'] / 1000:.2f}", f"{lat['p99'] / 1000:.2f}", f"{lat['max'] / 1000:.1f}",
                     f"{lat['p99'] / base_p99:.1f}",
                     " ".join(f"{k}:{v}" for k, v in r["statuses"].items()) + (f" {errors}" if errors else "")))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print()
    for n, row in enumerate(rows):
        print("  ".join(cell.ljust(widths[i]) if i in (0, 8) else cell.rjust(widths[i]) for i, cell in enumerate(row)))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print("\nCPU share of one core during each run (of 2 cores = 2.0), and peak RSS (VmHWM) over the whole bench:")
    keys = list(report["peak_rss_mib"]) + ["load tool"]
    header = ["process", "peak MiB"] + [r["short"] for r in report["runs"]]
    table = [header]
    for key in keys:
        rss = report["peak_rss_mib"].get(key)
        table.append([key, f"{rss:.0f}" if rss else "-"]
                     + [f"{r['cpu_share_of_one_core'].get(key, 0):.2f}" for r in report["runs"]])
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for n, row in enumerate(table):
        print("  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    orders_run = next(r for r in report["runs"] if r["short"].startswith("orders/"))
    for r in report["runs"]:
        if r["short"].startswith("echo/"):
            print(f"load tool headroom: {r['short'].split('/')[1]} drove the echo at {r['rate']:,.0f} req/s, "
                  f"{r['rate'] / max(orders_run['rate'], 1):,.0f}x the closed-loop order rate "
                  f"(load tool CPU during the order run: {orders_run['cpu_share_of_one_core']['load tool']:.2f} core)")
    print("\npropagation, from the order's commit to the stock taken and to the customer's message (services' "
          "own timestamps):")
    for r in report["runs"]:
        if "propagation" in r:
            print(f"  during {r['name']}:")
            print("\n".join("  " + line for line in propagation.describe(r["propagation"]).splitlines()))
    c = report["stock_check"]
    print(f"\nstock conservation: {'EXACT' if c['exact'] else 'NOT EXACT ' + str(c['gaps_by_product'])} over "
          f"{c['orders']:,} orders {c['orders_by_status']}, {c['units_held']:,} units held; oversold units: "
          f"{c['oversold_units']}; idle after {c['idle_after_s']} s (unsent outbox rows: {c['unsent_outbox_rows']})")
    print_micro(report["micro_benchmarks"])
    s = report["settings"]
    print(f"settings: {s['connections']} connections, {s['duration_s']:.0f} s per run, closed loop by {s['closed_loop_tool']}, "
          f"Kafka {s['kafka']}{' (throwaway)' if s['kafka_started_by_bench'] else ''}, {report['machine']['cpus']} CPUs\n")


if __name__ == "__main__":
    sys.exit(main())
