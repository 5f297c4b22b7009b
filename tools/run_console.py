"""How `make run` (tools/run.py) talks to the person at the terminal: its own lines, and how it fails.

stdout belongs to the services' log lines (service_logs.py), so that `make run | jq ...` reads them; what
the script says itself goes to stderr.
"""

from __future__ import annotations

import sys


class RunError(Exception):
    """The system could not be started; the message says why and what to do."""


def say(text: str) -> None:
    """A line for the person at the terminal: on stderr, so that stdout is the services' log lines alone."""
    print(text, file=sys.stderr, flush=True)
