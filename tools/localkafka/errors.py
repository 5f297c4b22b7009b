"""How the tool fails: one error type, and the one line of a tool's output or log that names the failure.

Every failure is one line naming the cause and the fix: the command line prints it and exits 1. Java and
Maven say why they failed somewhere in pages of output; the helpers here pick that line out.
"""

from __future__ import annotations

from pathlib import Path


class BrokerSetupError(Exception):
    """A broker could not be fetched, formatted, started or stopped; the message says why and what to do."""


def first_error(output: str) -> str:
    """The line of a Java tool's output that names the failure (its stack trace's first line, usually)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    named = [line for line in lines if "Exception" in line or "Error" in line or "error:" in line]
    return ((named or lines or ["no output"])[0])[:300]


def last_error(log_file: Path) -> str:
    try:
        lines = log_file.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return "no log"
    errors = [line for line in lines if " ERROR " in line or "Exception" in line]
    return (errors[-1] if errors else (lines[-1] if lines else "empty log")).strip()[:300]


def shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
