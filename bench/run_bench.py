"""The order path's throughput and latency next to a bare Starlette echo, in one unattended command (~4 min).

    make bench                      # or: .venv/bin/python bench/run_bench.py [--duration 8] [--rounds 3]
    make bench BENCH_ARGS='--instances 2 --database postgres'     # two processes of each service on PostgreSQL

0. The micro-benchmarks of the core's hot functions (tests/benchmarks, pytest-benchmark), on a quiet machine,
   each also as a multiple of a baseline timed in the same run.
1. Kafka: the cluster at KAFKA_BOOTSTRAP_SERVERS when it is set and answers, else a throwaway broker
   (tools/localkafka/) in a temporary folder on free ports, stopped at the end. The three services start as
   `make run` starts them (tools/run.py), on free ports with a fresh temporary DATA_DIR; 20 products
   B00..B19 with 100,000 units each are created by PUT, as an admin. With --database postgres the services
   keep their state in one fresh database (each service in its schema) on a throwaway PostgreSQL
   (tools/localpg/), or on DATABASE_URL's server when that is set; with --instances N each service runs as N
   processes, each told what `make run INSTANCES=N` tells it (configuration.py), and the load spreads the
   orders over every Order Service instance (loadgen.py only: wrk drives one address). Orders are placed by
   1,000 customers in turn, each with a token of the local key (as a real shop's many customers would), and
   the hold limit is raised out of the way: the bench measures throughput, and the limit's query still runs
   on every order.
2. The baseline: bench/echo_app.py (Starlette, JSON echo) under the same uvicorn settings, its own process.
3. Load from a separate process, the same connections for every run: `wrk` when installed (closed loop;
   Debian/Ubuntu: `apt-get install -y wrk`), else bench/loadgen.py; the open-loop run (fixed arrival rate at
   half the measured order rate) always uses bench/loadgen.py (wrk has no fixed rate). loadgen.py is also run
   against the echo, so its own ceiling is shown next to the rates it is asked for. Before any of it, 15 s of
   orders (--warmup), then more, 5 s at a time, until the broker's JIT compilers settle (load.py). The two order runs
   (closed loop, then open loop at half that round's accepted rate) are repeated --rounds times (3) on the
   same running system, each round measured as one run is, so that every headline figure has a spread.
4. After the load, when propagation is idle (no unsent outbox rows, stock stable; bounded wait): stock
   conservation per product (initial = stock now + units in non-cancelled orders) and oversold units; and,
   for the orders of each order run, how long the stock and the customer's message took to follow, from
   the services' own timestamps (bench/propagation.py). The open-loop run lasts long enough to place at
   least 1,200 orders, in each round.
5. Peak RSS (VmHWM) and CPU used per process (services, every instance by its name, broker, echo, load
   tool) during each run, also as CPU milliseconds per accepted order; and the events the Order Service's
   outbox relay published during each order run, and in how many Kafka transactions (its /metrics).
6. A table with absolute figures and ratios to the echo, and the configuration's summary (what BENCHMARKS.md
   puts beside another configuration's); the JSON in bench/results/<date>-<host>.json, or
   <date>-<host>-2x-postgres.json for another configuration (a later run the same day replaces it). With
   --profile, py-spy samples each service process during the first round's closed-loop order run (collapsed
   stacks in bench/results/profile-<service>.txt, `profile-order-2.txt` among several;
   bench/profile_summary.py).
7. The headline: each figure a change is judged by as its median [min-max] over the rounds (also in the
   JSON's "headline"), then the guard: those figures beside the last committed results file of the same kind
   (as git's HEAD has it), each called worse, better or within noise. The guard only prints; the exit status
   is step 4's verdict.

All traffic goes to 127.0.0.1. Ctrl-C stops everything this script started (by pid), and nothing else.

This module is the order of those steps and the clean-up; each step is a module of its own beside it:
system_under_test.py (1, 2), load.py (3), measurement.py (0, 5), stock_check.py (4), report.py (6, 7),
guard.py (7), profiling.py (--profile), catalogue.py (the products), errors.py (BenchError),
configuration.py (--instances, --database), postgres_state.py (what step 4 reads of PostgreSQL).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# Run without the Makefile's PYTHONPATH, the imports below find src/ and tools/ only once these lines put
# them first on the path (the Makefile's order), hence imports after code:
# ruff: noqa: E402
for folder in (REPO / "tools", REPO / "src"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import guard
import localkafka
import localpg
import postgres_state
import propagation
import report
import run
from catalogue import INITIAL_STOCK, PRODUCTS, load_products
from configuration import Configuration, fresh_database_name, layout
from errors import BenchError
from load import Load, apply_load
from measurement import CONSUMERS, Tree, broker_pid, micro_benchmarks, peak_rss_mib
from run_plan import DATABASES, Plan
from stock_check import unsent_outbox_rows, wait_idle_and_check
from system_under_test import (
    service_environment,
    sign_in,
    start_echo,
    start_kafka,
    start_services,
    stop_process,
    wait_http,
)


def _interrupt(_signal: int, _frame: object) -> None:
    raise KeyboardInterrupt


def at_least_one(text: str) -> int:
    """--rounds: a round is both order runs, so fewer than one measures nothing."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: a whole number of rounds, at least 1")
    return int(text)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per load run (8)")
    parser.add_argument("--connections", type=int, default=32, help="connections for every load run (32)")
    parser.add_argument("--warmup", type=float, default=15.0, help="seconds of orders before measuring (15)")
    parser.add_argument("--rounds", type=at_least_one, default=3,
                        help="times the two order runs are repeated, for the headline's spread (3)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (data, logs)")
    parser.add_argument("--tool", choices=("auto", "wrk", "loadgen"), default="auto",
                        help="closed-loop load tool: wrk when installed (auto), or bench/loadgen.py")
    parser.add_argument("--profile", action="store_true",
                        help="sample each service with py-spy during the closed-loop order run; collapsed stacks "
                             "in bench/results/profile-<service>.txt and the top costs printed")
    parser.add_argument("--instances", type=int, default=1,
                        help="processes of each service (1); more than 1 needs --database postgres")
    parser.add_argument("--open-rate", type=float, default=None, metavar="ORDERS_PER_S",
                        help="run every open loop at this rate, not at half that round's closed-loop rate: two "
                             "versions compared at the same load; the results are then neither written to "
                             "bench/results nor compared with them")
    parser.add_argument("--database", choices=DATABASES, default="sqlite",
                        help="sqlite (a file per service in DATA_DIR) or postgres (one fresh database on a "
                             "throwaway server, or on DATABASE_URL's server when set)")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    try:
        config = Configuration.from_options(args.instances, args.database)
    except BenchError as error:
        print(f"bench: error: {error}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)

    use_wrk = args.tool != "loadgen" and shutil.which("wrk") is not None
    if args.tool == "wrk" and not use_wrk:
        print("bench: error: wrk not found (Debian/Ubuntu: apt-get install -y wrk)", file=sys.stderr)
        return 1
    if use_wrk and config.instances > 1:
        if args.tool == "wrk":
            print("bench: error: --tool wrk drives one address; several Order Service instances need loadgen",
                  file=sys.stderr)
            return 1
        use_wrk = False
        print("bench: several Order Service instances: bench/loadgen.py for every run (wrk drives one address)",
              flush=True)
    elif not use_wrk and args.tool == "auto":
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
    database = contextlib.ExitStack()  # the PostgreSQL server and database of --database postgres
    database_url: str | None = None
    postgres_pid: list[int] = []  # the throwaway server's postmaster, once started
    # Our packages first on the path of every process started here (the same order as the Makefile's).
    base_env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO / "src"), str(REPO / "tools"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    if config.database == "sqlite":
        base_env.pop("DATABASE_URL", None)  # it would take the services to PostgreSQL (as run.py drops it)
    try:
        print("bench: micro-benchmarks of the core (tests/benchmarks)...", flush=True)
        micro = micro_benchmarks(workdir, base_env)
        bootstrap, broker = start_kafka(workdir)
        if config.database == "postgres":
            database_url = start_database(database, postgres_pid, keep=args.keep)
        chosen = layout(config, database_url)
        ports = {service: chosen.first(service).port for service in run.SERVICES}
        ports["echo"] = localkafka.free_port()
        env = service_environment(base_env, bootstrap, data_dir, ports)
        print(f"bench: {config.describe()}", flush=True)
        start_services(env, chosen, config, log, services)
        echo = start_echo(ports["echo"], env, log)
        wait_http(f"http://127.0.0.1:{ports['echo']}/echo", echo)
        admin, tokens = sign_in(data_dir, workdir)
        env["BENCH_TOKENS"] = str(tokens)
        load_products(ports["product"], admin)
        print(f"bench: {len(PRODUCTS)} products with {INITIAL_STOCK:,} units each; logs in {log_path}", flush=True)

        watched: dict[str, int | Tree] = {f"{name} service": process.pid for name, process in services.items()}
        watched["echo"] = echo.pid
        if postgres_pid:
            watched["postgres server"] = Tree(postgres_pid[0])  # the postmaster and its backends
        kafka_pid = broker_pid(bootstrap, broker)
        if kafka_pid is not None:
            watched["kafka broker"] = kafka_pid
        tool = "wrk" if use_wrk else "loadgen"
        echo_run, runs = apply_load(load, ports, env, watched, services, tool=tool, connections=args.connections,
                                    duration=args.duration, warmup=args.warmup, profile=args.profile,
                                    rounds=args.rounds, open_rate=args.open_rate,
                                    order_ports=instance_ports(chosen, "order"),
                                    consumer_ports={s: instance_ports(chosen, s) for s in CONSUMERS})

        print("bench: waiting until propagation is idle...", flush=True)
        if database_url is not None:
            url = database_url
            check = wait_idle_and_check(ports["order"], ports["product"],
                                        lambda: postgres_state.unsent_outbox_rows(url), admin)
        else:
            check = wait_idle_and_check(ports["order"], ports["product"], lambda: unsent_outbox_rows(data_dir),
                                        admin)
        for r in runs:
            if r["short"].startswith("orders"):
                r["propagation"] = (postgres_state.propagation(database_url, *r["window_utc"]) if database_url
                                    else propagation.propagation(data_dir, *r["window_utc"]))
        peak = {key: peak_rss_mib(pid) for key, pid in watched.items()}
        found = report.report_of(runs, check, peak, micro, connections=args.connections, duration=args.duration,
                                 tool=tool, kafka=bootstrap, kafka_started_by_bench=broker is not None,
                                 instances=config.instances, database=config.database)
        report.print_table(found, echo_run)
        report.print_configuration(found, echo_run)
        if args.open_rate is None:
            report.write(found)
            report.print_headline(found)
            guard.compare_with_committed(found)
        else:
            print(f"bench: the open loops ran at {args.open_rate:g}/s (--open-rate), not at half rate: the results "
                  "are not written to bench/results, nor compared with them", flush=True)
        failed = verdict(check, runs, log_path)
    except KeyboardInterrupt:
        failed = interrupted = True
        print("\nbench: interrupted, stopping...", flush=True)
    except (BenchError, run.RunError, localkafka.BrokerSetupError, localpg.PostgresSetupError) as error:
        failed = True
        print(f"bench: error: {error} (service logs: {log_path})", file=sys.stderr, flush=True)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        load.stop()
        stop_process(echo)
        run.stop_all(services, None)
        database.close()  # after the services, which write to it until they stop
        if postgres_pid:
            print("bench: throwaway PostgreSQL stopped", flush=True)
        if broker is not None:
            broker.stop()
            print("bench: throwaway Kafka stopped", flush=True)
        log.close()
        if args.keep or (failed and not interrupted):
            print(f"bench: kept {workdir}", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


def start_database(stack: contextlib.ExitStack, postgres_pid: list[int], *, keep: bool) -> str:
    """A fresh database on a throwaway PostgreSQL (or DATABASE_URL's server), its URL; `stack` stops the server
    (or drops the database from DATABASE_URL's server, unless `keep`) when it closes. The throwaway server's
    pid goes in `postgres_pid` (its CPU is measured; a server DATABASE_URL names is not)."""
    server = stack.enter_context(localpg.throwaway())
    name = fresh_database_name()
    url = server.create_database(name)
    if isinstance(server, localpg.ExternalPostgres):
        if not keep:
            stack.callback(postgres_state.drop_database, server.url, name)
        print(f"bench: PostgreSQL (DATABASE_URL's server), database {name}", flush=True)
    elif isinstance(server, localpg.LocalPostgres):
        pid = server.running_pid()
        if pid is not None:
            postgres_pid.append(pid)
        print(f"bench: throwaway PostgreSQL at {server.url.rsplit('@', 1)[-1].rsplit('/', 1)[0]}, "
              f"database {name}", flush=True)
    return url


def instance_ports(chosen: Plan, service: str) -> list[int]:
    return [instance.port for instance in chosen.instances if instance.service == service]


def verdict(check: dict[str, Any], runs: list[dict[str, Any]], log_path: Path) -> bool:
    """Whether the bench failed (printing why): stock not conserved, units oversold, or any answer a 5xx."""
    failed = False
    if not check["exact"] or check["oversold_units"]:
        failed = True
        print("bench: FAILED: stock not conserved or oversold (see stock_check)", file=sys.stderr)
    server_errors = sum(n for r in runs for status, n in r["statuses"].items() if str(status).startswith("5"))
    if server_errors:
        failed = True
        print(f"bench: FAILED: {server_errors} answers were 5xx (service logs: {log_path})", file=sys.stderr)
    return failed


if __name__ == "__main__":
    sys.exit(main())
