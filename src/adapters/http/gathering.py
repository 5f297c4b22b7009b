"""Questions asked in one turn of the event loop, sent together in one request.

Under load the Order Service reads several orders in one turn of its event loop, and each asks the Product
Service whether its items are available. Asked one by one, each question pays a whole HTTP exchange at both
ends, which was most of what the Product Service did and a quarter of the Order Service's CPU per order
(BENCHMARKS.md). Asked together, they pay one.

`Gathering.ask` queues a question and, when it is the first of its turn, schedules the sending for the
loop's next turn (`call_soon`): by then every order read in this turn has asked its own. No question waits
longer than that, so an order at a quiet moment goes out alone, as soon as it did before; the more orders
arrive at once, the more share a request. A request carries at most `max_questions` questions of at most
`max_size` in all (the receiver's limits), and a turn with more sends more requests, at once.

Every question of a request gets what the request got: its own answer, or the same error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Q = TypeVar("Q")
A = TypeVar("A")


class Gathering(Generic[Q, A]):
    """Questions asked in one turn, sent together by `send_all`, which answers each, in the order asked.

    `size` is what a question counts against `max_size` (a question larger than `max_size` still goes, alone).
    `asked` counts the questions asked so far, `sent` the requests they went in (`/metrics`).
    """

    def __init__(
        self,
        send_all: Callable[[Sequence[Q]], Awaitable[Sequence[A]]],
        *,
        max_questions: int,
        max_size: int,
        size: Callable[[Q], int],
    ) -> None:
        if max_questions < 1:
            raise ValueError("a request must be able to carry a question")
        self._send_all = send_all
        self._max_questions = max_questions
        self._max_size = max_size
        self._size = size
        self._waiting: list[tuple[Q, asyncio.Future[A]]] = []
        # The requests under way: the loop keeps only weak references to its tasks.
        self._sending: set[asyncio.Task[None]] = set()
        self.asked = 0
        self.sent = 0

    async def ask(self, question: Q) -> A:
        loop = asyncio.get_running_loop()
        if self._waiting and self._waiting[0][1].get_loop() is not loop:
            # Left by a loop that stopped before their turn came: nothing here waits for them.
            self._waiting = []
        if not self._waiting:
            loop.call_soon(self._send_waiting)
        answer: asyncio.Future[A] = loop.create_future()
        self._waiting.append((question, answer))
        self.asked += 1
        return await answer

    def _send_waiting(self) -> None:
        waiting, self._waiting = self._waiting, []
        for request in self._requests(waiting):
            task = asyncio.get_running_loop().create_task(self._send(request))
            self.sent += 1
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    def _requests(self, waiting: list[tuple[Q, asyncio.Future[A]]]) -> list[list[tuple[Q, asyncio.Future[A]]]]:
        """The waiting questions cut into requests within the limits, in the order asked."""
        requests: list[list[tuple[Q, asyncio.Future[A]]]] = []
        request: list[tuple[Q, asyncio.Future[A]]] = []
        size = 0
        for asked in waiting:
            question_size = self._size(asked[0])
            if request and (len(request) == self._max_questions or size + question_size > self._max_size):
                requests.append(request)
                request, size = [], 0
            request.append(asked)
            size += question_size
        if request:
            requests.append(request)
        return requests

    async def _send(self, request: list[tuple[Q, asyncio.Future[A]]]) -> None:
        try:
            answers = await self._send_all([question for question, _ in request])
            if len(answers) != len(request):
                raise RuntimeError(f"{len(answers)} answers to {len(request)} questions")
        except asyncio.CancelledError:  # the loop is shutting down: so are those waiting
            for _, answer in request:
                answer.cancel()
            raise
        except Exception as error:  # noqa: BLE001 - each asker gets the error, to answer as it answers it
            for _, answer in request:
                if not answer.done():  # not given up on (cancelled)
                    answer.set_exception(error)
        else:
            for (_, answer), given in zip(request, answers, strict=True):
                if not answer.done():
                    answer.set_result(given)
