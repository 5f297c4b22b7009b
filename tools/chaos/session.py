"""One chaos run from start to verdict: the system up, products made, load and faults together, the wait
for idle, the final reads, the checks, the summary document."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from attrs import frozen

from chaos import observe
from chaos.checks import Check, check_dead_letters, check_messages, check_orders, check_outbox, check_stock
from chaos.dead_letters import read_dead_letters
from chaos.faults import Injector
from chaos.ledger import Placement
from chaos.plan import Kind, PlannedFault
from chaos.proxy import FaultyLink
from chaos.summary import check_faults, check_server_errors, document, http_figures, order_figures, recovery
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


async def chaos_run(options: Options) -> dict[str, Any]:
    with (options.workdir / "services.log").open("a") as log:
        system = ChaosSystem(options.workdir, options.bootstrap, log)
        link: FaultyLink | None = None
        try:
            seconds = await asyncio.to_thread(system.start_kafka)
            say(f"chaos: Kafka at {system.bootstrap} ({'the run' if system.owns_broker else 'given'}, {seconds:.1f} s)")
            if not system.owns_broker and any(f.kind is Kind.KILL_BROKER for f in options.schedule):
                raise ValueError("kill_broker needs the run's own broker: drop --bootstrap or that kind")
            link = FaultyLink(system.ports["product"])
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
            system.url("order"), system.bearer, system.bearer("chaos-payments", Role.PAYMENTS), list(initial),
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
        orders = order_figures(traffic.placements, lost_answers, traffic.tickets_dropped)
        return document(head, orders, injector.outcomes, http_answers, recovered, checks)


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
        unsent = await asyncio.to_thread(observe.unsent_outbox_rows, system.data_dir)
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
    unsent = await asyncio.to_thread(observe.unsent_outbox_rows, system.data_dir)
    dead = await asyncio.to_thread(read_dead_letters, system.bootstrap)
    checks = [
        orders_check,
        check_stock(initial, final_stock, orders, watcher.negative),
        check_messages(orders, told),
        check_outbox(unsent),
        check_dead_letters(dead, set(order_ids), whole_cluster=system.owns_broker),
    ]
    return checks, int(orders_check.figures["answer_lost_but_placed"])
