"""The services' output as one stream of JSON lines: what `make run` prints on stdout, for jq.

A service logs one JSON object per line (src/adapters/logs.py), and each line already names the service
that wrote it (`"service": "order-service"`). Not everything a service prints goes through its logging,
though: a traceback when it cannot start, librdkafka's own complaints (`%3|...|FAIL|...`, from the admin
client of the readiness probe), uvicorn's lines before the app is loaded. Each such line is wrapped in an
object of the same shape, its text the `message`, so that every line of the stream is JSON and names its
service:

    make run | jq 'select(.order_id == "<id>")'

The services' outputs are copied by a thread each; a line is written whole, one at a time. `make run`'s
own news about a service (that it died and is restarted, that it is ready again) joins the stream in the same
shape too, with `"logger": "run"` (`notice`), so that the stream tells a service's whole story:

    make run | jq 'select(.logger == "run")'

With several processes of a service (`make run INSTANCES=2`), each line also names the process it came from,
`"instance": "order-2"` (its INSTANCE_ID), unless it does already: `jq 'select(.instance == "order-2")'`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import IO, TextIO

# The `logger` of a line that did not come through the service's logging.
UNLOGGED = "output"
# The `logger` of what `make run` itself says about a service (tools/run_supervisor.py).
RUN = "run"

# Such a line's level, where it says one: librdkafka's syslog severity (`%3|`), uvicorn's `INFO:` before the
# app is loaded. Where it says none, `error`: what bypasses the logging is far more often a traceback or a
# library's complaint than news.
_SAYS_ITS_LEVEL = re.compile(r"%(?P<severity>[0-7])\||(?P<name>DEBUG|INFO|WARNING|ERROR|CRITICAL):\s")
_SEVERITIES = ("error", "error", "error", "error", "warning", "info", "info", "debug")
_UNSAID_LEVEL = "error"

_one_at_a_time = threading.Lock()


def service_name(name: str) -> str:
    """What a service calls itself in its log lines: `order` is `order-service`."""
    return f"{name}-service"


def json_line(service: str, text: str, now: datetime, instance: str | None = None) -> str | None:
    """One line of `service`'s output as one line of JSON that names the service, and `instance` when
    given (one of several processes); None for a blank line."""
    text = text.rstrip("\r\n")
    if not text.strip():
        return None
    try:
        logged = json.loads(text)
    except ValueError:
        logged = None
    names = {"service": service, **({"instance": instance} if instance else {})}
    if isinstance(logged, dict):
        missing = {key: value for key, value in names.items() if key not in logged}
        return json.dumps({**logged, **missing}, ensure_ascii=False) if missing else text
    wrapped = {"time": _stamp(now), "level": _level(text), **names, "logger": UNLOGGED, "message": text}
    return json.dumps(wrapped, ensure_ascii=False)


def notice(service: str, level: str, message: str, now: datetime, **fields: object) -> str:
    """What `make run` says about `service` (it died, it is restarted), as a line of the stream."""
    said = {"time": _stamp(now), "level": level, "service": service, "logger": RUN, "message": message}
    return json.dumps({**said, **fields}, ensure_ascii=False)


def write(line: str, log: TextIO) -> bool:
    """Write one line whole, never interleaved with another thread's; False once `log` cannot be written
    (the reader of a pipe, jq, has gone; a full disk; a closed file)."""
    try:
        with _one_at_a_time:
            log.write(line + "\n")
            log.flush()
    except BrokenPipeError:
        _write_nowhere(log)
        return False
    except (OSError, ValueError):
        return False
    return True


def copy(
    service: str,
    output: IO[bytes],
    log: TextIO,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    instance: str | None = None,
) -> None:
    """Copy `output` (a service's stdout and stderr, or one instance's) to `log`, line by line as JSON, until
    it ends; then close it.

    Once `log` cannot be written (the reader of a pipe, jq, has gone) the rest is read and dropped: a service
    whose output nobody reads would block on its next line.
    """
    writing = True
    with output:
        for raw in output:
            line = json_line(service, raw.decode(errors="replace"), clock(), instance)
            if line is None or not writing:
                continue
            writing = write(line, log)


def _stamp(now: datetime) -> str:
    return now.astimezone(UTC).isoformat(timespec="milliseconds").removesuffix("+00:00") + "Z"


def _level(text: str) -> str:
    said = _SAYS_ITS_LEVEL.match(text)
    if said is None:
        return _UNSAID_LEVEL
    if said["severity"] is not None:
        return _SEVERITIES[int(said["severity"])]
    return str(said["name"]).lower()


def _write_nowhere(log: TextIO) -> None:
    # What is still buffered for the broken pipe goes to /dev/null, instead of failing again (and printing
    # "Exception ignored ... BrokenPipeError") when Python flushes stdout at exit.
    with contextlib.suppress(OSError, ValueError, AttributeError):  # not a file (a StringIO): nothing to do
        nowhere = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(nowhere, log.fileno())
        finally:
            os.close(nowhere)
