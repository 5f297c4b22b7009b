"""`make run`'s log stream: every line one JSON object that names its service, so jq reads it as it is.

The services log JSON lines themselves (adapters.logs); what reaches their output some other way (a
traceback, librdkafka, uvicorn before the app is loaded) is wrapped into the same shape. What `make run`
says itself goes to stderr, so that stdout is the log stream alone.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

import run
from adapters.logs import JsonLines
from entrypoints import message_service, order_service, product_service
from service_logs import RUN, UNLOGGED, copy, json_line, notice, service_name

READ_AT = datetime(2026, 11, 30, 20, 5, 9, 174_000, tzinfo=UTC)


def logged_by_the_service(message: str, **fields: object) -> str:
    """A line as a service's own logging writes it."""
    record = logging.LogRecord("entrypoints.order_app", logging.INFO, __file__, 1, message, (), None)
    record.__dict__.update(fields)
    return JsonLines("order-service").format(record)


def parsed(line: str | None) -> dict[str, object]:
    assert line is not None
    document = json.loads(line)
    assert isinstance(document, dict)
    return document


class TestALineTheServiceLogged:
    def test_is_passed_on_as_the_service_wrote_it(self):
        line = logged_by_the_service("order placed", order_id="o-1")

        assert json_line("order-service", line + "\n", READ_AT) == line

    def test_that_names_no_service_is_given_the_one_it_came_from(self):
        line = json_line("order-service", '{"message": "hello"}', READ_AT)

        assert parsed(line) == {"message": "hello", "service": "order-service"}


class TestALineThatBypassedTheLogging:
    def test_is_wrapped_as_an_object_of_the_same_shape_with_its_text_as_the_message(self):
        line = json_line("product-service", "Traceback (most recent call last):\n", READ_AT)

        assert parsed(line) == {
            "time": "2026-11-30T20:05:09.174Z",
            "level": "error",
            "service": "product-service",
            "logger": UNLOGGED,
            "message": "Traceback (most recent call last):",
        }

    def test_is_stamped_in_utc_as_the_services_own_lines_are(self):
        an_hour_east = READ_AT.astimezone(timezone(timedelta(hours=1)))

        line = json_line("order-service", "anything", an_hour_east)

        assert parsed(line)["time"] == "2026-11-30T20:05:09.174Z"  # as adapters.logs writes `time`

    @pytest.mark.parametrize(
        ("severity", "level"),
        [("0", "error"), ("3", "error"), ("4", "warning"), ("6", "info"), ("7", "debug")],
    )
    def test_from_librdkafka_keeps_its_severity(self, severity, level):
        text = f"%{severity}|1796069119.624|FAIL|rdkafka#producer-2| [thrd:127.0.0.1:1/bootstrap]: Connect failed"

        assert parsed(json_line("order-service", text, READ_AT))["level"] == level

    @pytest.mark.parametrize(
        ("text", "level"), [("INFO:     Started", "info"), ("ERROR:    Error loading", "error")]
    )
    def test_from_uvicorn_before_the_app_is_loaded_keeps_its_level(self, text, level):
        assert parsed(json_line("order-service", text, READ_AT))["level"] == level

    @pytest.mark.parametrize("text", ["42", "[1, 2]", '"a string"', "null", "{not json"])
    def test_that_is_json_but_not_an_object_or_not_json_at_all_is_wrapped_too(self, text):
        assert parsed(json_line("order-service", text, READ_AT))["message"] == text

    @pytest.mark.parametrize("text", ["\n", "   \n", ""])
    def test_that_is_blank_is_left_out(self, text):
        assert json_line("order-service", text, READ_AT) is None


class TestTheCopy:
    def test_every_line_of_a_service_s_output_becomes_one_json_object_that_names_it(self):
        output = io.BytesIO(
            (logged_by_the_service("order placed", order_id="o-1") + "\n").encode()
            + b"Traceback (most recent call last):\n"
            + b'  File "x.py", line 1, in <module>\n'
            + b"\n"
            + b"%3|1796069119.624|FAIL|rdkafka#producer-2| Connect failed\n"
            + b"not UTF-8: \xff\n"
        )
        log = io.StringIO()

        copy("order-service", output, log, clock=lambda: READ_AT)

        lines = [json.loads(line) for line in log.getvalue().splitlines()]
        assert [line["message"] for line in lines] == [
            "order placed",
            "Traceback (most recent call last):",
            '  File "x.py", line 1, in <module>',
            "%3|1796069119.624|FAIL|rdkafka#producer-2| Connect failed",
            "not UTF-8: \ufffd",
        ]
        assert {line["service"] for line in lines} == {"order-service"}
        assert lines[0]["order_id"] == "o-1"

    def test_closes_the_service_s_output_at_its_end(self):
        output = io.BytesIO(b"done\n")

        copy("order-service", output, io.StringIO())

        assert output.closed

    def test_goes_on_reading_when_the_reader_has_gone_so_the_service_never_blocks(self):
        class GoneReader(io.StringIO):
            def write(self, _text: str) -> int:
                raise BrokenPipeError

        output = io.BytesIO(b"one\ntwo\nthree\n")

        copy("order-service", output, GoneReader())

        assert output.closed  # read to its end, without raising

    def test_lines_of_several_services_are_written_whole_never_interleaved(self):
        class OneCharacterAtATime(io.StringIO):
            def write(self, text: str) -> int:
                for character in text:
                    super().write(character)
                    time.sleep(0)  # let another thread in, mid-line
                return len(text)

        log = OneCharacterAtATime()
        outputs = {name: io.BytesIO(f"{name} says something long enough\n".encode() * 50) for name in "abc"}

        copies = [threading.Thread(target=copy, args=(name, output, log)) for name, output in outputs.items()]
        for thread in copies:
            thread.start()
        for thread in copies:
            thread.join()

        lines = [json.loads(line) for line in log.getvalue().splitlines()]
        assert len(lines) == 150
        assert all(line["message"] == f"{line['service']} says something long enough" for line in lines)


class TestWhatMakeRunSaysAboutAService:
    def test_is_a_line_of_the_stream_in_the_same_shape_with_its_own_logger_and_fields(self):
        line = notice("order-service", "warning", "the order service was killed by SIGKILL", READ_AT, pid=42)

        assert parsed(line) == {
            "time": "2026-11-30T20:05:09.174Z",
            "level": "warning",
            "service": "order-service",
            "logger": RUN,
            "message": "the order service was killed by SIGKILL",
            "pid": 42,
        }


class TestTheServicesNames:
    @pytest.mark.parametrize(
        ("name", "composition_root"),
        [("order", order_service), ("product", product_service), ("message", message_service)],
    )
    def test_a_wrapped_line_names_the_service_as_its_own_lines_do(self, name, composition_root):
        assert service_name(name) == composition_root.GROUP  # what it passes to log_json_lines


class TestWhatMakeRunSaysItself:
    def test_goes_to_stderr_so_that_stdout_is_the_log_stream_alone(self, capsys):
        run.say("run: order service ready at http://127.0.0.1:8001")

        assert capsys.readouterr() == ("", "run: order service ready at http://127.0.0.1:8001\n")

    def test_the_banner_says_how_to_read_the_log_stream_with_jq(self):
        urls = {name: f"http://127.0.0.1:800{n}" for n, name in enumerate(run.SERVICES, 1)}

        said = run.banner(urls, "127.0.0.1:9092", run.REPO / "var" / "data", None, None)

        assert "one JSON object per line on stdout" in said
        assert "make run | jq " in said
