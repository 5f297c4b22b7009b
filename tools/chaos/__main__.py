"""`python -m chaos [options]` (`make chaos CHAOS_ARGS=...`): the chaos run, bounded in time and count.

Prints progress on stderr and, at the end, one JSON document on stdout (also written to the run's folder as
summary.json); exits 0 when every check passed, 1 when any failed (the document's `defects` names them),
2 when the options make no sense. `--seed` repeats a run's schedule and traffic; the seed is printed.

The cluster form, as `make run INSTANCES=2 DATABASE=postgres KAFKA_NODES=3` runs the system:

    python -m chaos --instances 2 --database postgres --kafka-nodes 3 --duration 90 --faults 4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

from chaos.plan import PlanError, parse_kinds, plan
from chaos.session import Options, chaos_run
from chaos.summary import cluster_lines
from chaos.system import say
from run_plan import MAX_INSTANCES

REPO = Path(__file__).resolve().parents[2]


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--seed", type=int, default=None, help="the schedule's and the traffic's seed (default: a new one)")
    add("--duration", type=float, default=240.0, help="seconds of load (default 240)")
    add("--faults", type=int, default=9, help="how many faults (default 9: every kind once, then at random)")
    add("--kinds", default="all", help="comma-separated fault kinds, or all (default)")
    add("--warmup", type=float, default=15.0, help="seconds of load before the first fault (default 15)")
    add("--cooldown", type=float, default=25.0, help="seconds of load after the last slot (default 25)")
    add("--pause", type=float, default=10.0,
        help="how long the paused Order Service stays stopped: past the consumers' 6 s session timeout (10)")
    add("--rate", type=float, default=40.0, help="orders per second at most (default 40)")
    add("--clients", type=int, default=48, help="concurrent clients (default 48)")
    add("--customers", type=int, default=300, help="distinct customers (default 300)")
    add("--give-up", type=float, default=75.0,
        help="seconds a client retries one order (default 75: past the 60 s lease of a crashed request's key)")
    add("--drain", type=float, default=80.0, help="seconds the last tries may take after the load (default 80)")
    add("--products", type=int, default=6, help="products with plenty of stock (default 6)")
    add("--scarce-products", type=int, default=2, help="products with little stock (default 2)")
    add("--scarce-units", type=int, default=300, help="units of each scarce product (default 300)")
    add("--bootstrap", default=None,
        help="a running Kafka cluster to use (no broker kills then); default: a broker of the run's own")
    add("--workdir", type=Path, default=None, help="the run's folder (default var/chaos/<time>-<seed>)")
    add("--instances", type=int, default=1,
        help="processes of each service (default 1); more than 1 needs --database postgres")
    add("--database", choices=("sqlite", "postgres"), default="sqlite",
        help="sqlite files (default), or PostgreSQL: a new database on DATABASE_URL's server or a throwaway one")
    add("--database-url", default=None,
        help="with --database postgres: a new, empty database to use as it is (postgresql://...)")
    add("--kafka-nodes", type=int, default=1,
        help="nodes of the run's own Kafka cluster (default 1; 3: kill_broker kills one, the controller first)")
    return parser.parse_args(argv)


def options_from(args: argparse.Namespace) -> Options:
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1_000_000)
    _refuse_unfit_form(args)
    schedule = plan(
        seed, duration_s=args.duration, faults=args.faults, kinds=parse_kinds(args.kinds, instances=args.instances),
        warmup_s=args.warmup, cooldown_s=args.cooldown, pause_s=args.pause,
    )
    if args.rate <= 0 or args.clients < 1 or args.customers < 1 or args.duration <= 0:
        raise PlanError("--rate, --clients, --customers and --duration must be positive")
    workdir = args.workdir or REPO / "var" / "chaos" / f"{time.strftime('%Y%m%d-%H%M%S')}-{seed}"
    workdir.mkdir(parents=True, exist_ok=True)
    return Options(
        seed=seed, duration_s=args.duration, schedule=schedule, rate=args.rate, clients=args.clients,
        customers=args.customers, give_up_s=args.give_up, drain_s=args.drain, products=args.products,
        scarce_products=args.scarce_products, scarce_units=args.scarce_units, workdir=workdir.resolve(),
        bootstrap=args.bootstrap, instances=args.instances, kafka_nodes=args.kafka_nodes, database=args.database,
        database_url=args.database_url,
    )


def _refuse_unfit_form(args: argparse.Namespace) -> None:
    if not 1 <= args.instances <= MAX_INSTANCES:
        raise PlanError(f"--instances must be 1 to {MAX_INSTANCES}")
    if args.instances > 1 and args.database != "postgres":
        raise PlanError("--instances above 1 needs --database postgres: on SQLite each service's file takes one "
                        "process (a second would fence the first one's outbox relay)")
    if args.database_url and args.database != "postgres":
        raise PlanError("--database-url goes with --database postgres")
    if args.kafka_nodes not in (1, 3):
        raise PlanError("--kafka-nodes is 1 (a broker) or 3 (a cluster that survives the loss of one node)")
    if args.kafka_nodes > 1 and args.bootstrap:
        raise PlanError("--kafka-nodes starts the run's own cluster: drop --bootstrap")


def main(argv: list[str]) -> int:
    try:
        options = options_from(arguments(argv))
    except PlanError as error:
        say(f"chaos: error: {error}")
        return 2
    say(f"chaos: seed {options.seed}; schedule:")
    for fault in options.schedule:
        say(f"  {fault.at_s:7.1f} s  {fault.kind:<18} for {fault.hold_s:g} s"
            + (f" at {fault.latency_s:g} s latency" if fault.latency_s else ""))
    try:
        summary = asyncio.run(_until_done_or_stopped(options))
    except (KeyboardInterrupt, asyncio.CancelledError):
        say("chaos: stopped before the end; the run's broker and services were stopped")
        return 130
    summary["command"] = "python -m chaos " + " ".join(argv) + ("" if "--seed" in argv else f" --seed {options.seed}")
    text = json.dumps(summary, indent=2, default=str)
    (options.workdir / "summary.json").write_text(text + "\n")
    print(text, flush=True)
    for line in cluster_lines(summary.get("cluster")):
        say(line)
    say("chaos: every check passed" if summary["ok"] else f"chaos: FAILED: {', '.join(summary['defects'])}")
    return 0 if summary["ok"] else 1


async def _until_done_or_stopped(options: Options) -> dict[str, Any]:
    """The run, which SIGTERM (a CI job's timeout, `kill`) cancels as Ctrl-C does: its own broker and services
    are stopped on the way out (chaos_run's `finally`), not left running."""
    run = asyncio.current_task()
    if run is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, run.cancel)
    return await chaos_run(options)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
