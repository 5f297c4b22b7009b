"""A small HTTP/1.1 load generator over raw asyncio streams (uvloop when installed), run as its own process by
bench/run_bench.py; prints one JSON line (prefixed `BENCHJSON `) with the counts and latencies.

    python bench/loadgen.py --port P[,P...] --path /echo --mode echo|orders --connections 32 --duration 8 [--rate R]

Without --rate: closed loop, each connection sends its next request as soon as the answer is in.
With --rate R: open loop, requests are due at a fixed rate of R/s whatever the answers do; a due request waits
for a free connection, and its latency counts from when it was due (no coordinated omission). Requests still
waiting when the run ends are reported as `not_sent`.

Keep-alive connections to 127.0.0.1 only; every answer is read by its Content-Length (Starlette always sets it).
With several ports (several instances of a service), connection i goes to port i mod their number, so the
requests are spread evenly; the answers are also counted by port.

With BENCH_TOKENS naming a file of bearer tokens (one a line), every request carries the next one in turn as
`Authorization: Bearer`, echo requests too, so the baseline parses the same headers as the orders.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import sys
import time

REQUEST_TIMEOUT_S = 5.0
PRODUCTS = 20


def order_body(n: int) -> bytes:
    a, b = n % PRODUCTS, (n + 1) % PRODUCTS
    return f'{{"items":[{{"product_id":"B{a:02d}","quantity":1}},{{"product_id":"B{b:02d}","quantity":1}}]}}'.encode()


ECHO_BODY = b'{"items":[{"product_id":"B00","quantity":1},{"product_id":"B01","quantity":1}]}'


class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.latencies: list[float] = []
        self.statuses: collections.Counter[int] = collections.Counter()
        self.errors: collections.Counter[str] = collections.Counter()
        self.counter = 0
        self.ports = [int(port) for port in args.port.split(",")]
        self.by_port: collections.Counter[int] = collections.Counter()
        tokens = os.environ.get("BENCH_TOKENS")
        lines = open(tokens).read().split() if tokens else []  # noqa: SIM115 - read once, at start
        self.authorizations = [f"Authorization: Bearer {token}\r\n" for token in lines] or [""]

    def request(self, port: int) -> bytes:
        self.counter += 1
        body = order_body(self.counter) if self.args.mode == "orders" else ECHO_BODY
        authorization = self.authorizations[self.counter % len(self.authorizations)]
        return (
            f"POST {self.args.path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{authorization}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    async def connect(self, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), REQUEST_TIMEOUT_S)

    def connection(self, n: int) -> list:
        """The n-th connection's state: [reader, writer, port], not yet connected."""
        return [None, None, self.ports[n % len(self.ports)]]

    async def exchange(self, conn: list) -> int | None:
        """One request on `conn` ([reader, writer, port], the first two None when not connected); the status,
        or None after an error."""
        try:
            if conn[0] is None:
                conn[0], conn[1] = await self.connect(conn[2])
            reader, writer, port = conn
            writer.write(self.request(port))
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT_S)
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await asyncio.wait_for(reader.readexactly(length), REQUEST_TIMEOUT_S)
            self.by_port[port] += 1
            return status
        except TimeoutError:
            self.errors["timeout"] += 1
        except asyncio.IncompleteReadError as error:
            # The server closed the connection: before any byte of the answer (e.g. an idle keep-alive
            # connection it had just timed out), or in the middle of one.
            self.errors["closed_before_answer" if not error.partial else "closed_mid_answer"] += 1
        except ConnectionError:
            self.errors["connection"] += 1
        except (OSError, ValueError):
            self.errors["read"] += 1
        if conn[1] is not None:
            conn[1].close()
        conn[0] = conn[1] = None
        return None

    def record(self, status: int | None, latency_s: float) -> None:
        if status is not None:
            self.statuses[status] += 1
            self.latencies.append(latency_s)

    async def closed(self) -> None:
        deadline = time.monotonic() + self.args.duration

        async def worker(n: int) -> None:
            conn = self.connection(n)
            while time.monotonic() < deadline:
                started = time.monotonic()
                self.record(await self.exchange(conn), time.monotonic() - started)
            if conn[1] is not None:
                conn[1].close()

        await asyncio.gather(*(worker(n) for n in range(self.args.connections)))

    async def open(self) -> None:
        due: asyncio.Queue[float] = asyncio.Queue()
        start = time.monotonic()
        end = start + self.args.duration
        total = int(self.args.rate * self.args.duration)
        self.not_sent = 0

        async def schedule() -> None:
            for i in range(total):
                at = start + i / self.args.rate
                delay = at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                due.put_nowait(at)

        async def worker(n: int) -> None:
            conn = self.connection(n)
            # Bounded: no request starts after the run's end plus a grace period.
            while time.monotonic() < end + REQUEST_TIMEOUT_S:
                try:
                    at = await asyncio.wait_for(due.get(), 0.2)
                except TimeoutError:
                    if time.monotonic() >= end:
                        break
                    continue
                self.record(await self.exchange(conn), time.monotonic() - at)
            if conn[1] is not None:
                conn[1].close()

        workers = [asyncio.ensure_future(worker(n)) for n in range(self.args.connections)]
        await schedule()
        await asyncio.gather(*workers)
        self.not_sent = due.qsize()

    def report(self, elapsed_s: float) -> dict:
        lat = sorted(self.latencies)

        def pct(p: float) -> float:
            return lat[min(len(lat) - 1, int(p / 100 * len(lat)))] * 1e6 if lat else 0.0

        found = {
            "tool": "python-asyncio",
            "requests": sum(self.statuses.values()),
            "duration_us": int(elapsed_s * 1e6),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "errors": dict(self.errors),
            "not_sent": getattr(self, "not_sent", 0),
            "latency_us": {"p50": pct(50), "p90": pct(90), "p99": pct(99), "max": lat[-1] * 1e6 if lat else 0.0,
                           "mean": sum(lat) / len(lat) * 1e6 if lat else 0.0},
        }
        if len(self.ports) > 1:
            found["answers_by_port"] = {str(port): self.by_port[port] for port in self.ports}
        return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", required=True, help="a port, or several separated by commas")
    parser.add_argument("--path", required=True)
    parser.add_argument("--mode", choices=("echo", "orders"), required=True)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--rate", type=float, default=0.0)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    run = Run(args)
    started = time.monotonic()
    asyncio.run(run.open() if args.rate > 0 else run.closed())
    print("BENCHJSON " + json.dumps(run.report(time.monotonic() - started)), flush=True)


if __name__ == "__main__":
    sys.exit(main())
