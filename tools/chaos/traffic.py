"""Steady order traffic: many customers place, pay and cancel orders at a bounded rate, and retry as a
careful client does, with the same Idempotency-Key, after no answer, a 5xx or a key still in flight.

A pacer hands out one ticket per 1/rate seconds; `clients` tasks take them (a ticket nobody is free to take
within a second is dropped and counted, so the rate is a ceiling and the run stays bounded). Every answer is
written to the placement it belongs to (ledger.py), with the Order Service process that gave it. With
several processes the requests go round them, as a load balancer's would, and a retry goes to the next one.
The faults can close a gate: new tries wait at it and `quiesce` returns once no request is in flight.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from chaos.ledger import Answer, Placement

REQUEST_TIMEOUT_S = 5.0
ACTION_TRIES = 20
ACTIONS = (("pay", 0.45), ("cancel", 0.25), (None, 0.30))  # what a customer does after a 201, and how often


class Traffic:
    def __init__(
        self,
        order_urls: str | list[str],
        bearer: Callable[..., dict[str, str]],
        payments: dict[str, str],
        products: list[str],
        *,
        seed: int,
        rate: float,
        clients: int,
        customers: int,
        give_up_s: float,
    ) -> None:
        self.order_urls = [order_urls] if isinstance(order_urls, str) else list(order_urls)
        self._turn = 0  # whose turn it is among order_urls
        self._bearer = bearer
        self._payments = payments
        self._products = products
        self._chooser = random.Random(seed)  # noqa: S311 - reproducible traffic, not a secret
        self._rate = rate
        self._clients = clients
        self._customers = [f"chaos-{seed}-{n}" for n in range(customers)]
        self._headers: dict[str, dict[str, str]] = {}
        self._give_up_s = give_up_s
        self.placements: list[Placement] = []
        self.tickets_dropped = 0
        self._tickets: asyncio.Queue[None] = asyncio.Queue(maxsize=clients)
        self._gate = asyncio.Event()
        self._gate.set()
        self._in_flight = 0
        self._idle = asyncio.Event()  # set while no request is in flight
        self._idle.set()
        self._ending = asyncio.Event()
        self._http: httpx.AsyncClient | None = None

    @property
    def order_url(self) -> str:
        return self.order_urls[0]

    @order_url.setter
    def order_url(self, url: str) -> None:
        """Switched when a successor replaces the (one) Order Service."""
        self.order_urls = [url]

    def _next_turn(self) -> int:
        self._turn += 1
        return self._turn

    def _url(self, turn: int) -> str:
        return self.order_urls[turn % len(self.order_urls)]

    # -- control by the faults ----------------------------------------------------------------------------

    async def quiesce(self, timeout_s: float = 10.0) -> bool:
        """Close the gate and wait until no request is in flight; False if some still were at the timeout."""
        self._gate.clear()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    def reopen(self) -> None:
        self._gate.set()

    async def probe(self, order_url: str) -> Placement | None:
        """One order sent to `order_url` (a woken zombie, a surviving instance), tried once; it is a real
        order and is judged with the others. None once the run's client is closed."""
        if self._http is None:
            return None
        placement = self._new_placement()
        self.placements.append(placement)
        body = {"items": [{"product_id": p, "quantity": q} for p, q in placement.items]}
        headers = {**self._customer_headers(placement.customer), "Idempotency-Key": placement.key}
        placement.answers.append(await self._post(self._http, "/orders/order", body, headers, order_url))
        return placement

    # -- the run ------------------------------------------------------------------------------------------

    async def run(self, duration_s: float, drain_s: float) -> None:
        """Tickets for `duration_s`, then up to `drain_s` for the tries under way; then every client stops."""
        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S, limits=httpx.Limits(max_connections=64)) as http:
            self._http = http
            workers = [asyncio.ensure_future(self._client(http)) for _ in range(self._clients)]
            try:
                await self._pace(duration_s)
                self._ending.set()
                await asyncio.wait(workers, timeout=drain_s)
            finally:
                # The late ones, or all when the run is cancelled (Ctrl-C, SIGTERM): none outlives the client.
                for task in workers:
                    task.cancel()
                await asyncio.gather(*workers, return_exceptions=True)

    async def _pace(self, duration_s: float) -> None:
        start = time.monotonic()
        for n in range(int(self._rate * duration_s)):
            delay = start + n / self._rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                self._tickets.put_nowait(None)
            except asyncio.QueueFull:
                self.tickets_dropped += 1

    async def _client(self, http: httpx.AsyncClient) -> None:
        while not self._ending.is_set():
            try:
                await asyncio.wait_for(self._tickets.get(), 0.5)
            except TimeoutError:
                continue
            placement = self._new_placement()
            self.placements.append(placement)
            await self._place(http, placement)
            if placement.order_id is not None:
                placement.action = self._choose_action()
                if placement.action is not None:
                    await self._act(http, placement)

    def _new_placement(self) -> Placement:
        lines = self._chooser.sample(self._products, self._chooser.choice((1, 1, 2)))
        items = tuple((product, self._chooser.randint(1, 3)) for product in lines)
        return Placement(self._chooser.choice(self._customers), uuid.uuid4().hex, items)

    def _choose_action(self) -> str | None:
        return self._chooser.choices([a for a, _ in ACTIONS], [w for _, w in ACTIONS])[0]

    def _customer_headers(self, customer: str) -> dict[str, str]:
        if customer not in self._headers:
            self._headers[customer] = self._bearer(customer)
        return self._headers[customer]

    async def _place(self, http: httpx.AsyncClient, placement: Placement) -> None:
        body = {"items": [{"product_id": p, "quantity": q} for p, q in placement.items]}
        headers = {**self._customer_headers(placement.customer), "Idempotency-Key": placement.key}
        deadline = time.monotonic() + self._give_up_s
        turn = self._next_turn()
        for attempt in range(1_000):  # bounded by the deadline long before this count
            answer = await self._post(http, "/orders/order", body, headers, self._url(turn + attempt))
            placement.answers.append(answer)
            if answer.final or time.monotonic() > deadline:
                return
            await asyncio.sleep(_backoff(attempt, answer))

    async def _act(self, http: httpx.AsyncClient, placement: Placement) -> None:
        await asyncio.sleep(self._chooser.uniform(0, 0.5))  # a customer takes a moment
        path = "/orders/paid" if placement.action == "pay" else "/orders/cancel"
        headers = self._payments if placement.action == "pay" else self._customer_headers(placement.customer)
        turn = self._next_turn()
        for attempt in range(ACTION_TRIES):
            answer = await self._post(http, path, {"order_id": placement.order_id}, headers, self._url(turn + attempt))
            placement.action_answers.append(answer)
            if answer.final or (self._ending.is_set() and attempt >= 3):
                return
            await asyncio.sleep(_backoff(attempt, answer))

    async def _post(
        self, http: httpx.AsyncClient, path: str, body: Any, headers: dict[str, str], order_url: str | None = None
    ) -> Answer:
        await self._gate.wait()
        self._in_flight += 1
        self._idle.clear()
        via = order_url or self.order_url
        try:
            response = await http.post(f"{via}{path}", json=body, headers=headers)
        except httpx.HTTPError:
            return Answer(time.monotonic(), None, via=via)
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()
        answer = _answer(response)
        answer.via = via
        return answer


def _answer(response: httpx.Response) -> Answer:
    answer = Answer(time.monotonic(), response.status_code, retry_after="retry-after" in response.headers)
    try:
        document = response.json()
    except ValueError:
        return answer
    if isinstance(document, dict):
        answer.order_id = document.get("order_id")
        answer.order_status = document.get("status") if response.status_code < 300 else None
        answer.reason = document.get("reason")
        answer.problem = document.get("type") if response.status_code >= 400 else None
    return answer


def _backoff(attempt: int, answer: Answer) -> float:
    """Retry-After when the service gave one (capped: the run is short), else a growing pause."""
    if answer.retry_after:
        return 1.0
    return min(0.2 * 1.6**attempt, 3.0)
