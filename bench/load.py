"""The load, from a separate process with the same connections for every run, and the runs the bench makes.

Closed loop by `wrk` when installed, else bench/loadgen.py; the open-loop run (a fixed arrival rate, which wrk
does not have) always by loadgen.py, which is also run against the echo so that its own ceiling is shown
next to the rates it is asked for. The two order runs are repeated in rounds, so that each figure comes
with its own spread.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from errors import BenchError
from measurement import CONSUMERS, Tree, compiling_cpu_seconds, measure, service_counters
from profiling import finish_profilers, start_profilers

HERE = Path(__file__).resolve().parent
# The broker's JIT compiles for a minute or more after the fixed warm-up: counted against the orders, it made
# the broker's CPU per order fall round after round. The warm-up goes on while its compiler threads use more
# than this share of a core, in steps of WARMUP_STEP_S, for at most MAX_MORE_WARMUP_S.
SETTLED_COMPILING = 0.05
WARMUP_STEP_S = 5.0
MAX_MORE_WARMUP_S = 90.0
MIN_PROPAGATED = 1_200  # orders the open-loop run places at least, for its propagation percentiles
MAX_OPEN_LOOP_S = 60.0


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


def wrk_command(port: int, path: str, connections: int, duration: float) -> list[str]:
    return ["wrk", "-t1", f"-c{connections}", f"-d{int(duration)}s", "--timeout", "5s",
            "-s", str(HERE / "wrk_post.lua"), f"http://127.0.0.1:{port}{path}"]


def loadgen_command(port: int | list[int], path: str, mode: str, connections: int, duration: float,
                    rate: float = 0) -> list[str]:
    """loadgen.py against `port`, or spread over several (one service's instances), connection by connection."""
    ports = ",".join(str(p) for p in port) if isinstance(port, list) else str(port)
    return [sys.executable, "-W", "ignore", str(HERE / "loadgen.py"), "--port", ports, "--path", path,
            "--mode", mode, "--connections", str(connections), "--duration", str(duration), "--rate", str(rate)]


def apply_load(load: Load, ports: dict[str, int], env: dict[str, str], watched: dict[str, int | Tree],
               services: dict[str, subprocess.Popen[bytes]], *, tool: str, connections: int, duration: float,
               warmup: float, profile: bool, rounds: int, open_rate: float | None = None,
               order_ports: list[int] | None = None,
               consumer_ports: dict[str, list[int]] | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Warm up, then the measured runs: the echo closed loop (by `tool`, and by loadgen.py too when `tool` is
    wrk), then `rounds` times the orders closed loop and the orders open loop at half that round's
    closed-loop rate of accepted orders (or at `open_rate`), each order run marked with its "round" (from 1).
    Only the first round's closed loop is sampled by py-spy with `profile`. Returns the echo run (what the others are
    compared with) and all. With `order_ports` (several Order Service instances; `tool` must then be loadgen,
    as wrk drives one address), the orders are spread over them."""
    c, d = connections, duration
    orders: int | list[int] = order_ports if order_ports and len(order_ports) > 1 else ports["order"]
    relays = order_ports or [ports["order"]]
    # Every instance's relay (the one that leads publishes) and consumers (they share the partitions).
    counted = {"order": relays, **(consumer_ports or {s: [ports[s]] for s in CONSUMERS})}
    counters = partial(service_counters, counted)
    if isinstance(orders, list) and tool != "loadgen":
        raise BenchError("several Order Service instances are loaded by loadgen.py only (wrk drives one address)")
    runs: list[dict[str, Any]] = []

    def closed(port: int | list[int], path: str, mode: str, name: str, by: str, short: str) -> dict[str, Any]:
        if by == "wrk" and isinstance(port, int):
            command = wrk_command(port, path, c, d)
            tool_env = {**env, "BENCH_MODE": mode, "BENCH_PATH": path}
        else:
            command, tool_env = loadgen_command(port, path, mode, c, d), env
        return measure(name, short, load, command, tool_env, watched, d,
                       counters if mode == "orders" else None)

    # Warm-up, not reported: first connections, imports, SQLite pages, Kafka producers, and above all the
    # broker's JIT: a fresh JVM spends seconds of CPU compiling, which would be counted against the orders.
    print(f"bench: warming up ({warmup:.0f} s of orders)...", flush=True)
    load.run(loadgen_command(ports["echo"], "/echo", "echo", c, 1.0), env, 60)
    load.run(loadgen_command(orders, "/orders/order", "orders", c, warmup), env, warmup + 60)
    broker = watched.get("kafka broker")
    if isinstance(broker, int):
        warm_up_the_broker(load, loadgen_command(orders, "/orders/order", "orders", c, WARMUP_STEP_S), env, broker)
    echo_run = closed(ports["echo"], "/echo", "echo", f"echo, closed loop ({tool})", tool, f"echo/{tool}")
    runs.append(echo_run)
    if tool == "wrk":
        runs.append(closed(ports["echo"], "/echo", "echo", "echo, closed loop (loadgen)", "loadgen",
                           "echo/loadgen"))
    # Rounds on the same running system: their spread is the noise each headline figure is judged against
    # (guard.py), without a fresh start's broker JIT and empty caches in it.
    for n in range(1, rounds + 1):
        profilers = start_profilers(services, d) if profile and n == 1 else {}
        order_run = closed(orders, "/orders/order", "orders", f"orders, closed loop ({tool}), round {n}", tool,
                           f"orders/{tool}")
        finish_profilers(profilers)
        order_run["round"] = n
        runs.append(order_run)
        runs.append(open_loop(load, orders, env, watched, c, d, order_run, n, counters, open_rate))
    return echo_run, runs


def warm_up_the_broker(load: Load, orders: list[str], env: dict[str, str], pid: int) -> None:
    """More `orders` (a WARMUP_STEP_S run) until the broker's JIT compilers settle (SETTLED_COMPILING), or
    MAX_MORE_WARMUP_S have passed; says how it goes."""
    waited = 0.0
    while waited < MAX_MORE_WARMUP_S:
        before = compiling_cpu_seconds(pid)
        started = time.monotonic()
        load.run(orders, env, WARMUP_STEP_S + 60)
        elapsed = time.monotonic() - started
        after = compiling_cpu_seconds(pid)
        if before is None or after is None:
            return  # not a JVM we can read: nothing to wait for
        waited += elapsed
        share = (after - before) / elapsed
        if share < SETTLED_COMPILING:
            print(f"bench: the broker's JIT has settled ({share:.2f} core compiling) after {waited:.0f} s more",
                  flush=True)
            return
        print(f"bench: the broker's JIT still compiles ({share:.2f} core); {WARMUP_STEP_S:.0f} s more of orders",
              flush=True)
    print(f"bench: the broker's JIT still compiles after {waited:.0f} s more; measuring anyway", flush=True)


def open_loop(load: Load, orders: int | list[int], env: dict[str, str], watched: dict[str, int | Tree],
              connections: int, duration: float, order_run: dict[str, Any], n: int,
              counters: Callable[[], dict[str, float]], rate: float | None = None) -> dict[str, Any]:
    """The orders open loop of round `n`, at half the accepted rate of that round's closed loop, `order_run`,
    or at `rate`."""
    ok_rate = order_run["statuses"].get("201", 0) / (order_run["duration_us"] / 1e6)
    open_rate = rate if rate is not None else max(1.0, round(ok_rate / 2))
    # Long enough for the propagation figures to cover at least MIN_PROPAGATED orders.
    open_d = min(MAX_OPEN_LOOP_S, max(duration, math.ceil(MIN_PROPAGATED / open_rate)))
    run = measure(f"orders, open loop at {open_rate:.0f}/s (loadgen), round {n}", "orders open", load,
                  loadgen_command(orders, "/orders/order", "orders", connections, open_d, open_rate),
                  env, watched, open_d, counters)
    run["target_rate"] = open_rate
    run["round"] = n
    return run
