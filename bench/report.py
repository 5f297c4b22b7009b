"""What the bench found: one report (written as JSON to bench/results/<date>-<host>.json; a later run the
same day replaces it) and the tables printed at the end, each figure next to the echo's. Every run of every
round is in the report's "runs" (an order run with its "round"); its "headline" holds the figures a change is
judged by, each as median, min, max and relative noise over the rounds (guard.py), printed last."""

from __future__ import annotations

import datetime
import json
import os
import platform
import socket
from pathlib import Path
from typing import Any

import guard
import propagation
from catalogue import INITIAL_STOCK, PRODUCTS
from measurement import CONSUMERS

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def report_of(runs: list[dict[str, Any]], check: dict[str, Any], peak: dict[str, float | None],
              micro: dict[str, Any], *, connections: int, duration: float, tool: str, kafka: str,
              kafka_started_by_bench: bool, instances: int = 1, database: str = "sqlite") -> dict[str, Any]:
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "settings": {"connections": connections, "duration_s": duration, "products": len(PRODUCTS),
                     "initial_stock": INITIAL_STOCK, "closed_loop_tool": tool, "kafka": kafka,
                     "kafka_started_by_bench": kafka_started_by_bench, "instances": instances,
                     "database": database},
        "runs": runs,
        "headline": guard.summarise(guard.round_figures(runs)),
        "stock_check": check,
        "peak_rss_mib": {k: round(v, 1) for k, v in peak.items() if v is not None},
        "micro_benchmarks": micro,
    }


def write(report: dict[str, Any]) -> None:
    """To bench/results/<date>-<host>.json; another configuration than the default's adds its own suffix
    (`-2x-postgres`), so that it does not replace the default's figures of the day."""
    # The local date, as the file names of earlier results have it.
    today = datetime.datetime.now().astimezone().date()
    s = report["settings"]
    instances, database = s.get("instances", 1), s.get("database", "sqlite")
    suffix = "" if (instances, database) == (1, "sqlite") else f"-{instances}x-{database}"
    out = HERE / "results" / f"{today.isoformat()}-{socket.gethostname()}{suffix}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"bench: written {out.relative_to(REPO)}", flush=True)


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
    # Every process with a peak, then any measured without one (PostgreSQL's processes share memory).
    measured = [key for r in report["runs"] for key in r["cpu_share_of_one_core"]]
    keys = [*report["peak_rss_mib"], *dict.fromkeys(k for k in measured if k not in report["peak_rss_mib"]
                                                    and k != "load tool"), "load tool"]
    header = ["process", "peak MiB"] + [r["short"] + (f" #{r['round']}" if "round" in r else "")
                                        for r in report["runs"]]
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
    print(f"settings: {s['connections']} connections, {s['duration_s']:.0f} s per run, "
          f"closed loop by {s['closed_loop_tool']}, "
          f"Kafka {s['kafka']}{' (throwaway)' if s['kafka_started_by_bench'] else ''}, "
          f"{report['machine']['cpus']} CPUs\n")


def print_micro(micro: dict[str, Any]) -> None:
    print("\nmicro-benchmarks (tests/benchmarks; median of pytest-benchmark's rounds, GC off):")
    width = max(len(name) for name in micro)
    for name, figures in micro.items():
        print(f"  {name.ljust(width)}  {figures['median_ns'] / 1000:8.2f} us  {figures['x_baseline']:6.2f} x baseline")


DATABASE_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


def print_configuration(report: dict[str, Any], echo_run: dict[str, Any]) -> None:
    """The figures that put one configuration beside another (BENCHMARKS.md, "Two instances on PostgreSQL"):
    for each order run, accepted orders/s and that against the echo run of the same command, the latencies,
    the CPU each process used per accepted order (every instance by its name), and the propagation."""
    s = report["settings"]
    instances, database = s.get("instances", 1), s.get("database", "sqlite")
    each = "1 instance" if instances == 1 else f"{instances} instances"
    print(f"configuration: {each} of each service, {DATABASE_NAMES.get(database, database)}; echo "
          f"{echo_run['rate']:,.0f} req/s ({echo_run['name']})")
    for r in report["runs"]:
        if not r["short"].startswith("orders"):
            continue
        accepted = r["statuses"].get("201", 0)
        rate = guard.accepted_rate(r)
        lat = r["latency_us"]
        print(f"  {r['name']}: {rate:,.0f} orders/s, {rate / (echo_run['rate'] or 1.0):.3f} x echo, "
              f"p50 {lat['p50'] / 1000:.2f} ms, p99 {lat['p99'] / 1000:.2f} ms"
              + (f", answers by port {r['answers_by_port']}" if r.get("answers_by_port") else ""))
        per_order = guard.cpu_ms_per_order(r)
        services = sum(ms for key, ms in per_order.items() if key.endswith(" service"))
        system = sum(ms for key, ms in per_order.items() if key not in guard.NOT_THE_SYSTEM)
        print("    CPU ms per accepted order: "
              + ", ".join(f"{key} {ms:.2f}" for key, ms in per_order.items() if key != "echo")
              + f"; the services together {services:.2f}, with the broker"
              + (" and PostgreSQL" if any(key.startswith("postgres") for key in per_order) else "")
              + f" {system:.2f}")
        counted = r.get("counters") or {}
        if counted.get("kafka transactions"):
            events, transactions = counted["events published"], counted["kafka transactions"]
            print(f"    outbox relay: {events:,.0f} events in {transactions:,.0f} Kafka transactions, "
                  f"{events / transactions:.1f} events per transaction, "
                  f"{transactions / max(accepted, 1):.2f} transactions per accepted order")
        if counted.get("availability requests"):
            questions, requests = counted["availability questions"], counted["availability requests"]
            print(f"    availability: {questions:,.0f} questions in {requests:,.0f} requests to the Product Service "
                  f"({questions / requests:.1f} each)")
        consumers = consumer_batches(counted)
        if consumers:
            print("    consumers: " + "; ".join(consumers))
        for name, figures in r.get("propagation", {}).items():
            if figures.get("orders"):
                print(f"    propagation, {name}: p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms "
                      f"over {figures['orders']:,} orders" + (f" ({figures['missing']} not arrived)"
                                                               if figures["missing"] else ""))
    print()


def print_headline(report: dict[str, Any]) -> None:
    """The figures a change is judged by (guard.py), each as its median [min-max] over the rounds: the closed
    loop's rate and CPU per accepted order (all processes but the echo and the load tool, then each, the
    costliest first), the open loop's p99 and propagation p99."""
    headline = report["headline"]
    figures = headline["figures"]
    each = sorted(((name.removeprefix(guard.CPU_OF), f["median"]) for name, f in figures.items()
                   if name.startswith(guard.CPU_OF) and name != guard.CPU_ALL), key=lambda item: -item[1])
    rounds = headline["rounds"]
    rate = span(figures, guard.ORDERS_PER_S, "{:,.0f}", "orders/s")
    x_echo = span(figures, guard.X_ECHO, "{:.3f}", "x echo")
    cpu = span(figures, guard.CPU_ALL, "{:.2f}", "ms")
    cpu_each = f" ({', '.join(f'{name} {ms:.2f}' for name, ms in each)})" if each else ""
    p99 = span(figures, guard.P99_HALF, "{:.1f}", "ms")
    stock = span(figures, guard.STOCK_P99, "{:.0f}", "ms")
    message = span(figures, guard.MESSAGE_P99, "{:.0f}", "ms")
    print(f"headline ({rounds} round{'' if rounds == 1 else 's'}, median [min-max]):\n"
          f"  {rate} = {x_echo}\n"
          f"  CPU per accepted order at the max rate, all processes {cpu}{cpu_each}\n"
          f"  p99 at half rate {p99}\n"
          f"  propagation p99 at half rate: stock {stock}, message {message}", flush=True)


def span(figures: dict[str, Any], name: str, number: str, unit: str) -> str:
    """"median unit [min-max]" of one headline figure, or "-" when the runs could not give it."""
    if name not in figures:
        return "-"
    f = figures[name]
    return f"{number.format(f['median'])} {unit} [{number.format(f['min'])}-{number.format(f['max'])}]"


def consumer_batches(counted: dict[str, float]) -> list[str]:
    """Each consuming service's records applied during a run, and in how many database transactions."""
    said = []
    for service in CONSUMERS:
        records = counted.get(f"{service} service records applied", 0.0)
        transactions = counted.get(f"{service} service database transactions", 0.0)
        if transactions:
            said.append(f"{service} service {records:,.0f} records in {transactions:,.0f} database transactions "
                        f"({records / transactions:.1f} each)")
    return said
