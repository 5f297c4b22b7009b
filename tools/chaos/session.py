"""One chaos run from start to verdict: the system up, products made, load and faults together, the wait
for idle, the final reads, the checks, the summary document.

On PostgreSQL (`--database postgres`) the run uses a database of its own: `--database-url` as it is (a new
one: the checks take every order in it for this run's), else a new database on DATABASE_URL's server or on
a throwaway server the run starts and deletes (tools/localpg). The outbox rows not yet sent are then read
from each Order and Product instance's `ordering_outbox_backlog`, not from SQLite files."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from attrs import frozen

import localpg
from chaos import observe
from chaos.checks import Check, check_dead_letters, check_messages, check_orders, check_outbox, check_stock
from chaos.dead_letters import read_dead_letters
from chaos.faults import Injector
from chaos.ledger import Placement
from chaos.plan import Kind, PlannedFault
from chaos.proxy import FaultyLink
from chaos.summary import (
    check_faults,
    check_server_errors,
    cluster_figures,
    document,
    http_figures,
    order_figures,
    recovery,
)
from chaos.system import ChaosSystem, say
from chaos.traffic import Traffic
from ordering_core.customers import Role

PLENTIFUL_UNITS = 10_000  # the most one PUT may set (openapi.yaml)
IDLE_TIMEOUT_S = 120.0
PROGRESS_EVERY_S = 10.0


@frozen
class Options:
    seed: int
    duration_s: float
    schedule: tuple[PlannedFault, ...]
    rate: float
    clients: int
    customers: int
    give_up_s: float
    drain_s: float
    products: int  # with plenty of stock
    scarce_products: int  # with little, so that orders race for the last units
    scarce_units: int
    workdir: Path
    bootstrap: str | None
    instances: int = 1  # processes of each service
    kafka_nodes: int = 1  # nodes of the run's own cluster
    database: str = "sqlite"  # or "postgres"
    database_url: str | None = None  # with postgres: the database to use as it is


@contextlib.contextmanager
def _database(options: Options) -> Iterator[str | None]:
    """DATABASE_URL for every service: None for SQLite; on PostgreSQL, the run's own database."""
    if options.database != "postgres":
        yield None
    elif options.database_url:
        yield options.database_url
    else:
        with localpg.throwaway() as server:
            yield server.create_database(f"chaos_{time.strftime('%Y%m%d_%H%M%S')}_{options.seed}")


async def chaos_run(options: Options) -> dict[str, Any]:
    with (options.workdir / "services.log").open("a") as log, _database(options) as database_url:
        system = ChaosSystem(
            options.workdir, options.bootstrap, log,
            instances=options.instances, kafka_nodes=options.kafka_nodes, database_url=database_url,
        )
        if database_url is not None:
            say(f"chaos: PostgreSQL database {database_url.rsplit('/', 1)[-1]}, {options.instances} instance(s) "
                "of each service")
        link: FaultyLink | None = None
        try:
            seconds = await asyncio.to_thread(system.start_kafka)
            say(f"chaos: Kafka at {system.bootstrap} ({'the run' if system.owns_broker else 'given'}, {seconds:.1f} s)")
            if not system.owns_broker and any(f.kind is Kind.KILL_BROKER for f in options.schedule):
                raise ValueError("kill_broker needs the run's own broker: drop --bootstrap or that kind")
            # With several instances the Order Service asks every Product instance directly: the link is unused.
            link = FaultyLink(system.ports[system.names["product"][0]])
            system.product_link_port = await link.start()
            await asyncio.to_thread(system.start_all)
            return await _load_and_judge(options, system, link)
        finally:
            if link is not None:
                await link.close()
            await asyncio.to_thread(system.stop_all)


async def _load_and_judge(options: Options, system: ChaosSystem, link: FaultyLink) -> dict[str, Any]:
    admin = system.bearer("chaos-admin", Role.ADMIN)
    async with httpx.AsyncClient(timeout=10.0) as http:
        initial = await _make_products(http, system, admin, options)
        traffic = Traffic(
            [system.url(name) for name in system.names["order"]], system.bearer,
            system.bearer("chaos-payments", Role.PAYMENTS), list(initial),
            seed=options.seed, rate=options.rate, clients=options.clients, customers=options.customers,
            give_up_s=options.give_up_s,
        )
        watcher = observe.StockWatcher(system.url("product"), list(initial))
        injector = Injector(system, link, traffic, http)
        started = time.monotonic()
        say(f"chaos: load at {options.rate:g} orders/s for {options.duration_s:g} s, "
            f"{len(options.schedule)} faults; data and logs in {options.workdir}")
        stop = asyncio.Event()
        background = [
            asyncio.ensure_future(watcher.watch(http, stop)),
            asyncio.ensure_future(_progress(traffic, injector, started, stop)),
        ]
        try:
            await asyncio.gather(
                traffic.run(options.duration_s, options.drain_s), injector.run(options.schedule, started)
            )
        finally:
            stop.set()
            await asyncio.gather(*background)
        say(f"chaos: load over after {time.monotonic() - started:.0f} s; waiting until the system is idle")
        idle_s = await _wait_idle(http, system)
        checks, lost_answers = await _judge(http, system, admin, traffic.placements, initial, watcher)
        cluster = cluster_figures(traffic.placements, injector.outcomes, system.ports) if _clustered(system) else None
        http_answers = http_figures(traffic.placements, injector.outcomes)
        recovered = recovery(traffic.placements, injector.outcomes)
        checks += [check_faults(injector.outcomes, recovered), check_server_errors(http_answers)]
        head = {
            "seed": options.seed,
            "duration_s": options.duration_s,
            "idle_after_s": idle_s,
            "kafka": "the run's own broker" if system.owns_broker else f"given: {system.bootstrap}",
            "workdir": str(options.workdir),
            "stock_observations": watcher.observations,
        }
        if _clustered(system):
            head |= {
                "instances": system.instances,
                "database": "postgres" if system.database_url else "sqlite",
                "kafka_nodes": len(system.cluster.nodes) if system.cluster else options.kafka_nodes,
            }
        orders = order_figures(traffic.placements, lost_answers, traffic.tickets_dropped)
        return document(head, orders, injector.outcomes, http_answers, recovered, checks, cluster)


def _clustered(system: ChaosSystem) -> bool:
    """The cluster form: several instances, PostgreSQL or several Kafka nodes (the single form's document
    stays as it was)."""
    return system.several or system.database_url is not None or system.cluster is not None


async def _make_products(
    http: httpx.AsyncClient, system: ChaosSystem, admin: dict[str, str], options: Options
) -> dict[str, int]:
    """Products whose ids are this run's alone (the cluster may be shared): plenty of some, few of others."""
    tag = uuid.uuid4().hex[:8]
    stock = {f"chaos-{tag}-{n}": PLENTIFUL_UNITS for n in range(options.products)}
    stock |= {f"chaos-{tag}-scarce-{n}": options.scarce_units for n in range(options.scarce_products)}
    for product_id, units in stock.items():
        body = {"name": f"Chaos {product_id}", "price": "1.00", "stocks": units}
        answer = await http.put(f"{system.url('product')}/products/{product_id}", json=body, headers=admin)
        answer.raise_for_status()
    return stock


async def _progress(traffic: Traffic, injector: Injector, started: float, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), PROGRESS_EVERY_S)
        except TimeoutError:
            statuses = [a.status for p in traffic.placements for a in p.answers]
            say(f"chaos: {time.monotonic() - started:5.0f} s  orders tried {len(traffic.placements)}, "
                f"201 {statuses.count(201)}, 5xx {sum(1 for s in statuses if s and s >= 500)}, "
                f"no answer {statuses.count(None)}, faults so far {len(injector.outcomes)}")


async def _wait_idle(http: httpx.AsyncClient, system: ChaosSystem) -> float:
    """Until no outbox row waits, no consumer lags, and no service applied a record for 3 reads in a row."""
    started = time.monotonic()
    last: float | None = None
    still = 0
    while time.monotonic() - started < IDLE_TIMEOUT_S and still < 3:
        readings = await asyncio.gather(*(observe.metrics(http, system.url(s)) for s in system.processes))
        applied = sum(observe.total(r, "ordering_records_applied_total") for r in readings if r)
        lag = sum(observe.total(r, "ordering_consumer_lag") for r in readings if r)
        unsent = await _unsent(http, system)
        quiet = None not in readings and unsent == 0 and lag == 0 and applied == last
        still = still + 1 if quiet else 0
        last = applied
        await asyncio.sleep(1.0)
    return round(time.monotonic() - started, 1)


async def _judge(
    http: httpx.AsyncClient,
    system: ChaosSystem,
    admin: dict[str, str],
    placements: list[Placement],
    initial: dict[str, int],
    watcher: observe.StockWatcher,
) -> tuple[list[Check], int]:
    orders = await observe.all_orders(http, system.url("order"), admin)
    customers = {p.customer for p in placements if p.abandoned}
    customer_orders = {
        c: {o["order_id"] for o in await observe.all_orders(http, system.url("order"), system.bearer(c))}
        for c in customers
    }
    orders_check = check_orders(placements, orders, customer_orders)
    order_ids = [o["order_id"] for o in orders]
    told = await observe.messages(http, system.url("message"), admin, order_ids)
    final_stock = await observe.stocks(http, system.url("product"))
    unsent = await _unsent(http, system)
    dead = await asyncio.to_thread(read_dead_letters, system.bootstrap)
    checks = [
        orders_check,
        check_stock(initial, final_stock, orders, watcher.negative),
        check_messages(orders, told),
        check_outbox(unsent),
        check_dead_letters(dead, set(order_ids), whole_cluster=system.owns_broker),
    ]
    return checks, int(orders_check.figures["answer_lost_but_placed"])


async def _unsent(http: httpx.AsyncClient, system: ChaosSystem) -> int:
    """Outbox rows not yet sent: in the SQLite files, or on PostgreSQL as every Order and Product instance's
    `ordering_outbox_backlog` says (the largest; an instance that does not answer counts as one row)."""
    if system.database_url is None:
        return await asyncio.to_thread(observe.unsent_outbox_rows, system.data_dir)
    names = [name for service in ("order", "product") for name in system.names[service]]
    readings = await asyncio.gather(*(observe.metrics(http, system.url(name)) for name in names))
    return int(max((r.get("ordering_outbox_backlog", 1) if r else 1) for r in readings))
