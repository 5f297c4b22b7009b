"""Structured logs: one JSON object per line, with the ids of the flow the line belongs to.

    {"time": "2026-11-25T16:40:01.123Z", "level": "info", "service": "order-service",
     "logger": "entrypoints.order_app", "message": "order placed", "correlation_id": "6f1c...",
     "trace_id": "6f1c...", "order_id": "9b2e...", "total": "5.00"}

(one line in the output). A line carries, besides the message:
- the fields of the `log_context` it was logged in: an HTTP request's `correlation_id` and `trace_id`
  (adapters.http.correlation), a consumed record's `topic`, `partition`, `offset`, `trace_id`, `parent_id`
  and, once decoded, its event's `event`, `order_id`, `message_id` and `correlation_id`
  (adapters.kafka.worker);
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
    """A record as one line of JSON: time (UTC), level, service, logger, message, then the fields."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")[:-6] + "Z",
            "level": record.levelname.lower(),
            "service": self._service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(_context.get())
        for name, value in record.__dict__.items():
            if name not in _RECORD_ATTRIBUTES and not name.startswith("_"):
                line[name] = value
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        elif record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False, default=_plain)


def _plain(value: object) -> object:
    # A field may be an enum, a Decimal or a datetime: its value or its text; a log line must never fail.
    return value.value if isinstance(value, Enum) else str(value)


def log_json_lines(service: str, level: str = "info", stream: TextIO = sys.stderr) -> None:
    """Send every log line of this process, uvicorn's too, to `stream` as JSON lines, from `level` up.

    Called by a composition root when the service starts (uvicorn has set up its own loggers by then: they
    are made to pass their lines to ours instead).
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLines(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if not logger.handlers and not logger.propagate:
            continue  # switched off (uvicorn --no-access-log does this to uvicorn.access): leave it off
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)  # the root's level decides
