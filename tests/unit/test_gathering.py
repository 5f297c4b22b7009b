"""Gathering: the questions asked in one turn of the event loop go out together, and each asker gets its own
answer, or the error its request got."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.http.gathering import Gathering


class Answerer:
    """`send_all` that records each request and answers every question with its double, unless told to fail
    the request that holds a given question."""

    def __init__(self, failing: dict[int, Exception] | None = None) -> None:
        self.requests: list[list[int]] = []
        self._failing = failing or {}

    async def __call__(self, questions: Sequence[int]) -> list[int]:
        self.requests.append(list(questions))
        await asyncio.sleep(0)  # a request is not answered in the turn it is sent
        for question in questions:
            if question in self._failing:
                raise self._failing[question]
        return [question * 2 for question in questions]


def gathering(send_all: Answerer, *, max_questions: int = 100, max_size: int = 1_000) -> Gathering[int, int]:
    # A question's size is itself: small numbers keep the limits readable.
    return Gathering(send_all, max_questions=max_questions, max_size=max_size, size=lambda question: question)


class TestOneTurn:
    def test_questions_asked_in_one_turn_go_in_one_request_and_each_gets_its_own_answer(self) -> None:
        answerer = Answerer()

        async def ask_at_once() -> list[int]:
            questions = gathering(answerer)
            return await asyncio.gather(*(questions.ask(n) for n in (1, 2, 3, 4)))

        assert asyncio.run(ask_at_once()) == [2, 4, 6, 8]
        assert answerer.requests == [[1, 2, 3, 4]]

    def test_a_question_asked_after_the_answer_goes_in_a_request_of_its_own(self) -> None:
        answerer = Answerer()

        async def one_after_another() -> list[int]:
            questions = gathering(answerer)
            return [await questions.ask(n) for n in (1, 2, 3)]

        assert asyncio.run(one_after_another()) == [2, 4, 6]
        assert answerer.requests == [[1], [2], [3]]

    def test_a_lone_question_is_sent_in_the_next_turn_not_after_a_delay(self) -> None:
        answerer = Answerer()

        async def turns_until_sent() -> int:
            asking = asyncio.ensure_future(gathering(answerer).ask(5))
            started = asyncio.get_running_loop().time()
            for turn in range(1, 10):
                await asyncio.sleep(0)
                if answerer.requests:
                    # sleep(0) never waits on the clock: what took these turns was not a timer.
                    assert asyncio.get_running_loop().time() - started < 1.0
                    await asking
                    return turn
            raise AssertionError("not sent in nine turns")

        assert asyncio.run(turns_until_sent()) <= 3
        assert answerer.requests == [[5]]

    def test_questions_asked_while_a_request_is_under_way_do_not_wait_for_it(self) -> None:
        answerer = Answerer()
        first_out, release = asyncio.Event(), asyncio.Event()

        async def slow_first(questions: Sequence[int]) -> list[int]:
            if questions == [1]:
                first_out.set()
                await release.wait()
            return await answerer(questions)

        async def second_while_first_is_out() -> tuple[int, int]:
            questions = Gathering(slow_first, max_questions=10, max_size=100, size=lambda _: 1)
            first = asyncio.ensure_future(questions.ask(1))
            await first_out.wait()
            second = await questions.ask(2)  # answered while the first is still held
            release.set()
            return await first, second

        assert asyncio.run(second_while_first_is_out()) == (2, 4)
        assert answerer.requests == [[2], [1]]


    def test_questions_left_by_a_loop_stopped_before_their_turn_do_not_hold_up_the_next_loop(self) -> None:
        answerer = Answerer()
        questions = gathering(answerer)

        left: list[asyncio.Future[int]] = []

        async def ask_then_stop() -> None:
            left.append(asyncio.ensure_future(questions.ask(1)))
            await asyncio.sleep(0)  # the question is asked: its sending is due in the next turn
            asyncio.get_running_loop().stop()  # which never comes

        stopped = asyncio.new_event_loop()
        stopping = stopped.create_task(ask_then_stop())
        stopped.run_forever()
        stopped.close()
        assert stopping.done() and not left[0].done()

        assert asyncio.run(asyncio.wait_for(questions.ask(2), timeout=5)) == 4
        assert answerer.requests == [[2]]


class TestLimits:
    def test_no_request_carries_more_than_max_questions(self) -> None:
        answerer = Answerer()

        async def seven_at_once() -> list[int]:
            questions = gathering(answerer, max_questions=3)
            return await asyncio.gather(*(questions.ask(n) for n in range(1, 8)))

        assert asyncio.run(seven_at_once()) == [2, 4, 6, 8, 10, 12, 14]
        assert answerer.requests == [[1, 2, 3], [4, 5, 6], [7]]

    def test_no_request_is_larger_than_max_size_but_a_larger_question_still_goes_alone(self) -> None:
        answerer = Answerer()

        async def at_once() -> list[int]:
            questions = gathering(answerer, max_size=10)
            return await asyncio.gather(*(questions.ask(n) for n in (4, 5, 3, 12, 1)))

        assert asyncio.run(at_once()) == [8, 10, 6, 24, 2]
        assert answerer.requests == [[4, 5], [3], [12], [1]]

    def test_a_request_must_be_able_to_carry_a_question(self) -> None:
        with pytest.raises(ValueError, match="must be able to carry a question"):
            gathering(Answerer(), max_questions=0)

    @given(
        sizes=st.lists(st.integers(min_value=1, max_value=30), max_size=40),
        max_questions=st.integers(min_value=1, max_value=8),
        max_size=st.integers(min_value=1, max_value=40),
    )
    def test_every_question_is_sent_once_in_order_within_the_limits(
        self, sizes: list[int], max_questions: int, max_size: int
    ) -> None:
        answerer = Answerer()

        async def at_once() -> list[int]:
            questions = gathering(answerer, max_questions=max_questions, max_size=max_size)
            return await asyncio.gather(*(questions.ask(n) for n in sizes))

        assert asyncio.run(at_once()) == [n * 2 for n in sizes]
        assert [n for request in answerer.requests for n in request] == sizes
        for request in answerer.requests:
            assert 1 <= len(request) <= max_questions
            assert len(request) == 1 or sum(request) <= max_size
        # Gathered greedily: each request would have been too big with the next question in it.
        for request, following in zip(answerer.requests, answerer.requests[1:], strict=False):
            assert len(request) == max_questions or sum(request) + following[0] > max_size


class TestErrors:
    def test_each_asker_of_a_failed_request_gets_its_error_and_the_other_requests_are_answered(self) -> None:
        refused = ConnectionError("refused")
        answerer = Answerer(failing={3: refused})

        async def at_once() -> list[int | BaseException]:
            questions = gathering(answerer, max_questions=2)
            return await asyncio.gather(*(questions.ask(n) for n in (1, 2, 3, 4, 5)), return_exceptions=True)

        assert asyncio.run(at_once()) == [2, 4, refused, refused, 10]
        assert answerer.requests == [[1, 2], [3, 4], [5]]

    def test_a_wrong_number_of_answers_is_an_error_for_every_asker(self) -> None:
        async def one_answer_short(questions: Sequence[int]) -> list[int]:
            return [question * 2 for question in questions][1:]

        async def at_once() -> list[int | BaseException]:
            questions = Gathering(one_answer_short, max_questions=10, max_size=100, size=lambda _: 1)
            return await asyncio.gather(*(questions.ask(n) for n in (1, 2)), return_exceptions=True)

        answers = asyncio.run(at_once())
        assert [str(answer) for answer in answers] == ["1 answers to 2 questions"] * 2

    def test_an_asker_that_gives_up_leaves_the_others_their_answers(self) -> None:
        answerer = Answerer()

        async def one_gives_up() -> list[int]:
            questions = gathering(answerer)
            impatient = asyncio.ensure_future(questions.ask(1))
            patient = [asyncio.ensure_future(questions.ask(n)) for n in (2, 3)]
            await asyncio.sleep(0)
            impatient.cancel()
            answers = await asyncio.gather(*patient)
            assert impatient.cancelled()
            return answers

        assert asyncio.run(one_gives_up()) == [4, 6]
        assert answerer.requests == [[1, 2, 3]]

    def test_askers_are_cancelled_with_a_request_cancelled_at_shutdown(self) -> None:
        started = asyncio.Event()

        async def never_answers(_questions: Sequence[int]) -> list[int]:
            started.set()
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

        async def shut_down_while_asking() -> bool:
            questions = Gathering(never_answers, max_questions=10, max_size=100, size=lambda _: 1)
            asking = asyncio.ensure_future(questions.ask(1))
            await started.wait()
            for task in asyncio.all_tasks() - {asyncio.current_task(), asking}:
                task.cancel()  # what asyncio.run does to the tasks left at its end
            with pytest.raises(asyncio.CancelledError):
                await asking
            return asking.cancelled()

        assert asyncio.run(shut_down_while_asking())
