"""A TCP proxy on 127.0.0.1 between the Order Service and the Product Service that can be slowed or cut.

The Order Service is started with PRODUCT_SERVICE_URL pointing here, so every availability check crosses it.
- `slow(latency_s)`: each chunk of the Product Service's answers is held `latency_s` before it is passed on
  (in order), so a request takes about that much longer;
- `cut()`: a partition that drops packets, not one that refuses them: bytes sent while it lasts go nowhere,
  new connections are accepted and then hear nothing, so the caller waits for its own timeout, as it would
  on a real network. `heal()` closes every connection that was stalled (its caller gave up long ago) and
  lets new ones through again.
It runs on the chaos run's event loop; a chunk is at most 64 KiB.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

CHUNK = 65_536


class FaultyLink:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.latency_s = 0.0
        self._healed = asyncio.Event()
        self._healed.set()
        self._server: asyncio.Server | None = None
        self.port = 0
        self.connections = 0  # accepted since start, for the report

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        self.heal()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    @property
    def is_cut(self) -> bool:
        return not self._healed.is_set()

    def slow(self, latency_s: float) -> None:
        self.latency_s = latency_s

    def cut(self) -> None:
        self._healed.clear()

    def heal(self) -> None:
        self.latency_s = 0.0
        self._healed.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            if self.is_cut:
                await self._healed.wait()  # a connection made during a partition never got through
                return
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            except OSError:
                return  # the Product Service is down: the caller sees its connection closed
            try:
                await _first_to_end(self._pump(reader, up_writer), self._pump(up_reader, writer, delayed=True))
            finally:
                up_writer.close()
        finally:
            writer.close()

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, delayed: bool = False) -> None:
        while True:
            try:
                data = await source.read(CHUNK)
            except OSError:
                return
            if not data:
                return
            if delayed and self.latency_s > 0:
                await asyncio.sleep(self.latency_s)
            if self.is_cut:
                await self._healed.wait()
                return  # what was sent during the partition is lost; the connection ends with it
            sink.write(data)
            try:
                await sink.drain()
            except OSError:
                return


async def _first_to_end(*pumps: Coroutine[Any, Any, None]) -> None:
    """Run both directions until either ends (a side closed), then stop the other."""
    tasks = [asyncio.ensure_future(pump) for pump in pumps]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
