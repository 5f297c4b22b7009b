"""How the tool fails: one error type, and the one line of a server's log or a tool's output that says why.

Every failure is one line naming the cause and the fix: the command line prints it and exits 1. PostgreSQL
writes its reason as a `FATAL:` line in its log, initdb and pg_ctl as `initdb: error: ...`; the helpers here
pick that line out.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

INSTALL_HINT = "install Debian's `postgresql` package: python -m localpg install (as root, or with sudo)"


class PostgresSetupError(Exception):
    """A server could not be found, initialised, started, reached or stopped; the message says what to do."""


def first_error(output: str) -> str:
    """The line of a tool's output that names the failure (`initdb: error: ...`), else its first line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    named = [line for line in lines if "error" in line.lower() or "FATAL" in line]
    return (named or lines or ["no output"])[0][:300]


def last_fatal(log_file: Path) -> str:
    """Why the server stopped at start-up: its log's last FATAL or PANIC message, with the line before it when
    that is the detail (`invalid value for parameter ...` before `configuration file ... contains errors`)."""
    try:
        lines = [line for line in log_file.read_text(errors="replace").splitlines() if line.strip()]
    except FileNotFoundError:
        return "no log"
    fatal = [i for i, line in enumerate(lines) if "FATAL:" in line or "PANIC:" in line]
    if not fatal:
        return _message(lines[-1]) if lines else "empty log"
    at = fatal[-1]
    detail = [_message(lines[at - 1])] if at > 0 and "LOG:" in lines[at - 1] else []
    return "; ".join([_message(lines[at]), *detail])[:300]


def _message(line: str) -> str:
    """A log line without its time and pid prefix (`2026-12-01 01:20:17.868 UTC [32264] `)."""
    return line.split("] ", 1)[-1].strip()


def shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def shown_url(url: str) -> str:
    """The URL with its password blanked: error lines end up in CI logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
