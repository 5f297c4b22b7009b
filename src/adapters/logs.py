"""Structured logs: one JSON object per line, with the ids of the flow the line belongs to.

    {"time": "2026-11-25T16:40:01.123Z", "level": "info", "service": "order-service",
     "logger": "entrypoints.order_app", "message": "order placed", "correlation_id": "6f1c...",
     "trace_id": "6f1c...", "order_id": "9b2e...", "total": "5.00"}

(one line in the output). A line carries, besides the message:
- the fields of the `log_context` it was logged in: an HTTP request's `correlation_id` and `trace_id`
  (adapters.http.correlation), a consumed record's `topic`, `partition`, `offset`, `trace_id`, `parent_id`
  and, once decoded, its event's `event`, `order_id`, `message_id` and `correlation_id`
  (adapters.messaging.worker);
- the logging call's own `extra={...}` fields, e.g. the `order_id` of an order just placed;
- `error`, the traceback, when one was logged.

So `grep <order id>` (or `jq 'select(.order_id == "...")'`) over the three services' logs follows one order,
and `trace_id` follows its whole flow. The context lives in a ContextVar: each asyncio task (a request) and
each thread (a consumer) has its own, and the formatter reads it on the thread that logs (StreamHandler
formats synchronously).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from enum import Enum
from typing import TextIO

LEVELS = ("debug", "info", "warning", "error")

_context: ContextVar[Mapping[str, object]] = ContextVar("log_context", default={})  # noqa: B039 - never mutated

# Attributes every LogRecord has: anything else on a record came from `extra=` and is a field of the line.
# uvicorn adds `color_message`, the message with terminal colour codes: noise in a JSON line.
_RECORD_ATTRIBUTES = frozenset(
    {
        *logging.LogRecord("", 0, "", 0, "", (), None).__dict__,
        "message",
        "asctime",
        "taskName",
        "color_message",
    }
)


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Add `fields` (those not None) to every line logged inside the block, on this task or thread."""
    token = _context.set(
        {**_context.get(), **{name: value for name, value in fields.items() if value is not None}}
    )
    try:
        yield
    finally:
        _context.reset(token)


class JsonLines(logging.Formatter):
    """A record as one line of JSON: time (UTC), level, service, its instance if named, logger, message, then
    the fields."""

    def __init__(self, service: str, instance: str | None = None) -> None:
        super().__init__()
        self._service = service
        self._instance = {"instance": instance} if instance is not None else {}

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")[:-6] + "Z",
            "level": record.levelname.lower(),
            "service": self._service,
            **self._instance,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(_context.get())
        line.update(
            {
                name: value
                for name, value in record.__dict__.items()
                if name not in _RECORD_ATTRIBUTES and not name.startswith("_")
            }
        )
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        elif record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False, default=_plain)


def _plain(value: object) -> object:
    # A field may be an enum, a Decimal or a datetime: its value or its text; a log line must never fail.
    return value.value if isinstance(value, Enum) else str(value)


class BackgroundLines(logging.Handler):
    """Formats a record where it is logged (so the line carries that task's or thread's context) and keeps
    it; a thread of its own writes what has piled up every `interval_s`, in one write. A warning or an error
    is written at once, with everything before it, so nothing that explains a failure waits.

    Why: a StreamHandler writes and flushes on the caller's thread, for the Order Service the event loop, and
    under load those writes into a pipe (make run and the bench read the services' output through one) were
    11.5% of its event loop's time (py-spy, BENCHMARKS.md). Handing each line to a writer thread through a
    queue was worse (a wake-up and a GIL hand-over per line). Lines wait at most `interval_s`; `flush` writes
    them now; `close` (logging.shutdown, at exit) writes the rest and stops the thread. Lines pile up without
    bound while the stream blocks (nobody reads the pipe), as they would in the pipe.
    """

    def __init__(self, stream: TextIO, interval_s: float = 0.1) -> None:
        super().__init__()
        self._stream = stream
        self._interval_s = interval_s
        self._pending: list[str] = []
        self._pending_lock = threading.Lock()  # appends and the swap in `flush`; never held while writing
        self._write_lock = threading.Lock()  # one writer at a time, so lines keep their order
        self._stopping = threading.Event()
        self._writer = threading.Thread(target=self._write_every_interval, name="log-writer", daemon=True)
        self._writer.start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # noqa: BLE001 - logging's rule: a record that cannot be written must not raise
            self.handleError(record)
            return
        with self._pending_lock:
            self._pending.append(line)
        if record.levelno >= logging.WARNING:
            self.flush()

    def flush(self) -> None:
        with self._write_lock:
            with self._pending_lock:
                lines, self._pending = self._pending, []
            if not lines:
                return
            try:
                self._stream.write("\n".join(lines) + "\n")
                self._stream.flush()
            except (OSError, ValueError):
                pass  # the stream is gone (a closed pipe): there is no one left to tell

    def close(self) -> None:
        self._stopping.set()
        if self._writer.is_alive() and self._writer is not threading.current_thread():
            self._writer.join()
        self.flush()
        super().close()

    def _write_every_interval(self) -> None:
        while not self._stopping.wait(self._interval_s):
            self.flush()


def log_json_lines(
    service: str, level: str = "info", stream: TextIO = sys.stderr, *, instance: str | None = None
) -> None:
    """Send every log line of this process, uvicorn's too, to `stream` as JSON lines, from `level` up.

    Called by a composition root when the service starts (uvicorn has set up its own loggers by then: they
    are made to pass their lines to ours instead). The lines are written by a thread (`BackgroundLines`).
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
    handler = BackgroundLines(stream)
    handler.setFormatter(JsonLines(service, instance))
    root = logging.getLogger()
    for old in root.handlers:
        if isinstance(old, BackgroundLines):
            old.close()  # a second call (tests) must not leave a writer thread behind
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if not logger.handlers and not logger.propagate:
            continue  # switched off (uvicorn --no-access-log does this to uvicorn.access): leave it off
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)  # the root's level decides
