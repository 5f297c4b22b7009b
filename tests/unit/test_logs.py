"""Structured logs: one JSON object per line, carrying the ids of the flow it was logged in."""

from __future__ import annotations

import io
import json
import logging
import re
import threading
from collections.abc import Iterator
from decimal import Decimal

import pytest

from adapters import tracecontext
from adapters.logs import BackgroundLines, JsonLines, log_context, log_json_lines
from adapters.memory.broker import InMemoryBroker
from adapters.messaging.broker import Record
from adapters.messaging.topics import ALL_TOPICS
from adapters.messaging.worker import ConsumerWorker
from adapters.wire.codec import encode
from ordering_core import CancelReason, Envelope, OrderStatus, OrderStatusChanged, UnknownOrder

from .examples import CUSTOMER, NOW


class Lines:
    """What a logger wrote, through `JsonLines`, as parsed JSON objects."""

    def __init__(self, logger: logging.Logger) -> None:
        self._stream = io.StringIO()
        self._handler = logging.StreamHandler(self._stream)
        self._handler.setFormatter(JsonLines("test-service"))
        self._logger = logger
        logger.addHandler(self._handler)
        logger.setLevel(logging.DEBUG)

    def __call__(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self._stream.getvalue().splitlines()]

    def close(self) -> None:
        self._logger.removeHandler(self._handler)
        self._logger.setLevel(logging.NOTSET)


@pytest.fixture
def lines(request: pytest.FixtureRequest) -> Iterator[Lines]:
    captured = Lines(logging.getLogger(getattr(request, "param", "test.logs")))
    yield captured
    captured.close()


class TestALine:
    def test_is_one_json_object_with_time_level_service_logger_and_message(self, lines):
        logging.getLogger("test.logs").info("stock %s", "reserved")

        (line,) = lines()
        assert {key: line[key] for key in ("level", "service", "logger", "message")} == {
            "level": "info",
            "service": "test-service",
            "logger": "test.logs",
            "message": "stock reserved",
        }
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", str(line["time"]))

    def test_carries_the_fields_of_its_context_and_its_own_extras(self, lines):
        with log_context(correlation_id="c-1", order_id=None), log_context(order_id="o-1"):
            logging.getLogger("test.logs").info("order placed", extra={"total": Decimal("5.00")})

        (line,) = lines()
        assert (line["correlation_id"], line["order_id"], line["total"]) == ("c-1", "o-1", "5.00")

    def test_a_context_ends_with_its_block(self, lines):
        with log_context(order_id="o-1"):
            pass
        logging.getLogger("test.logs").info("later")

        (line,) = lines()
        assert "order_id" not in line

    def test_an_enum_is_written_as_its_value_and_a_traceback_as_error(self, lines):
        try:
            raise UnknownOrder("o-404")
        except UnknownOrder:
            logging.getLogger("test.logs").exception("failed", extra={"reason": CancelReason.CUSTOMER})

        (line,) = lines()
        assert line["reason"] == "customer"
        assert "UnknownOrder" in str(line["error"]) and line["level"] == "error"

    def test_text_that_is_not_ascii_or_breaks_lines_stays_one_line(self):
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonLines("s"))
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "Füller\nzweite Zeile", (), None)

        handler.emit(record)

        assert stream.getvalue().count("\n") == 1
        assert json.loads(stream.getvalue())["message"] == "Füller\nzweite Zeile"


class SlowStream(io.StringIO):
    """A stream whose writes wait until the test lets them through, like a pipe nobody is reading yet."""

    def __init__(self) -> None:
        super().__init__()
        self.open_for_writing = threading.Event()
        self.writes = 0

    def write(self, text: str) -> int:
        self.open_for_writing.wait(timeout=10)
        self.writes += 1
        return super().write(text)


class TestWritingInTheBackground:
    def test_logging_does_not_wait_for_a_slow_stream_and_every_line_arrives_in_order(self):
        stream = SlowStream()
        handler = BackgroundLines(stream)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger = logging.getLogger("test.background")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        try:
            for n in range(100):
                logger.info("line %d", n)  # would block here, were the writes on this thread
            assert stream.getvalue() == ""

            stream.open_for_writing.set()
            handler.flush()

            assert stream.getvalue().splitlines() == [f"line {n}" for n in range(100)]
            assert stream.writes < 100  # what piled up went out in a few writes
        finally:
            logger.removeHandler(handler)
            logger.setLevel(logging.NOTSET)
            stream.open_for_writing.set()
            handler.close()

    def test_a_warning_is_written_at_once_with_everything_before_it(self):
        stream = io.StringIO()
        handler = BackgroundLines(stream, interval_s=3600)  # the writer thread would not look for an hour
        handler.setFormatter(logging.Formatter("%(message)s"))
        try:
            handler.handle(logging.LogRecord("x", logging.INFO, __file__, 1, "placed", (), None))
            assert stream.getvalue() == ""

            handler.handle(logging.LogRecord("x", logging.WARNING, __file__, 1, "dead-lettered", (), None))

            assert stream.getvalue() == "placed\ndead-lettered\n"
        finally:
            handler.close()

    def test_the_context_is_the_one_the_line_was_logged_in(self):
        stream = io.StringIO()
        handler = BackgroundLines(stream)
        handler.setFormatter(JsonLines("s"))
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "placed", (), None)

        with log_context(order_id="o-1"):
            handler.emit(record)
        handler.close()

        assert json.loads(stream.getvalue())["order_id"] == "o-1"

    def test_closing_writes_what_is_left_and_stops_the_writer(self):
        stream = io.StringIO()
        handler = BackgroundLines(stream)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler.emit(logging.LogRecord("x", logging.INFO, __file__, 1, "last words", (), None))

        handler.close()

        assert stream.getvalue() == "last words\n"
        assert not handler._writer.is_alive()

    def test_a_stream_that_is_gone_does_not_stop_the_service(self):
        stream = io.StringIO()
        stream.close()
        handler = BackgroundLines(stream)
        handler.setFormatter(logging.Formatter("%(message)s"))

        handler.emit(logging.LogRecord("x", logging.INFO, __file__, 1, "into the void", (), None))
        handler.flush()  # neither this nor close raises: the line is dropped, the writer ends normally
        handler.close()

        assert not handler._writer.is_alive()


class TestLoggingAService:
    @pytest.fixture(autouse=True)
    def _restore_logging(self) -> Iterator[None]:
        root = logging.getLogger()
        saved = (root.handlers[:], root.level)
        uvicorn = {name: logging.getLogger(name) for name in ("uvicorn", "uvicorn.error", "uvicorn.access")}
        saved_uvicorn = {name: (lg.handlers[:], lg.propagate, lg.level) for name, lg in uvicorn.items()}
        yield
        for handler in root.handlers:
            if isinstance(handler, BackgroundLines):
                handler.close()
        root.handlers[:], root.level = saved
        for name, (handlers, propagate, level) in saved_uvicorn.items():
            uvicorn[name].handlers[:], uvicorn[name].propagate, uvicorn[name].level = (
                handlers,
                propagate,
                level,
            )

    def test_every_logger_uvicorn_s_too_writes_json_lines_from_the_level_asked(self):
        stream = io.StringIO()
        logging.getLogger("uvicorn.error").addHandler(logging.StreamHandler(io.StringIO()))

        log_json_lines("order-service", "warning", stream)
        logging.getLogger("uvicorn.error").warning("shutting down")
        logging.getLogger("adapters.messaging.relay").info("not at this level")
        logging.getLogger().handlers[0].flush()

        (line,) = [json.loads(text) for text in stream.getvalue().splitlines()]
        assert (line["service"], line["logger"], line["message"]) == (
            "order-service",
            "uvicorn.error",
            "shutting down",
        )

    def test_an_access_log_switched_off_stays_off(self):
        stream = io.StringIO()
        access = logging.getLogger("uvicorn.access")
        access.handlers, access.propagate = [], False  # what uvicorn --no-access-log does

        log_json_lines("order-service", "info", stream)
        access.info("GET / 200")
        logging.getLogger("uvicorn.error").info("a line that is written")
        logging.getLogger().handlers[0].flush()

        assert [json.loads(line)["message"] for line in stream.getvalue().splitlines()] == [
            "a line that is written"
        ]

    def test_refuses_a_level_it_does_not_know(self):
        with pytest.raises(ValueError, match="level must be one of debug, info, warning, error"):
            log_json_lines("order-service", "verbose", io.StringIO())


class TestAConsumedRecordsLine:
    @pytest.mark.parametrize("lines", ["adapters.messaging.worker"], indirect=True)
    def test_names_its_event_order_message_flow_and_where_it_was_read(self, lines):
        broker = InMemoryBroker()
        broker.create_topics(ALL_TOPICS)
        worker = ConsumerWorker(broker, group="g", topics=["order-status"], apply=lambda event: None)
        event = OrderStatusChanged(
            Envelope("m-1", NOW, "o-1", "c-1"), OrderStatus.UNPAID, customer_id=CUSTOMER
        )
        encoded = encode(event)

        worker.handle(Record(encoded.topic, 2, 41, encoded.key, encoded.value, encoded.headers))

        (line,) = lines()
        trace = tracecontext.for_message("c-1", "m-1")
        assert {key: line[key] for key in line if key not in ("time", "service", "logger", "level")} == {
            "message": "event handled",
            "topic": "order-status",
            "partition": 2,
            "offset": 41,
            "trace_id": trace.trace_id,
            "parent_id": trace.parent_id,
            "event": "order-status",
            "order_id": "o-1",
            "message_id": "m-1",
            "correlation_id": "c-1",
        }

    @pytest.mark.parametrize("lines", ["adapters.messaging.worker"], indirect=True)
    def test_without_a_traceparent_carries_the_trace_id_its_flow_would_have(self, lines):
        broker = InMemoryBroker()
        broker.create_topics(ALL_TOPICS)
        worker = ConsumerWorker(broker, group="g", topics=["order-status"], apply=lambda event: None)
        encoded = encode(
            OrderStatusChanged(Envelope("m-1", NOW, "o-1", "c-1"), OrderStatus.UNPAID, customer_id=CUSTOMER)
        )

        worker.handle(Record(encoded.topic, 0, 0, encoded.key, encoded.value, ()))

        (line,) = lines()
        assert line["trace_id"] == tracecontext.trace_id_for("c-1") and "parent_id" not in line

    @pytest.mark.parametrize("lines", ["adapters.messaging.worker"], indirect=True)
    def test_a_dead_lettered_record_s_warning_names_where_it_was_read(self, lines):
        broker = InMemoryBroker()
        broker.create_topics(ALL_TOPICS)
        worker = ConsumerWorker(broker, group="g", topics=["order-status"], apply=lambda event: None)

        worker.handle(Record("order-status", 1, 7, b"o-1", b"not json", ()))

        (line,) = lines()
        assert (line["level"], line["topic"], line["partition"], line["offset"]) == (
            "warning",
            "order-status",
            1,
            7,
        )
        assert "the value is not JSON" in str(line["message"])
