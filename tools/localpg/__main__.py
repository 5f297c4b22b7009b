"""The command line of the local PostgreSQL, run with tools/ on PYTHONPATH (the Makefile sets it):

    python -m localpg start     initialise var/postgres (once), start the server, create the services'
                                databases, print the DATABASE_URL to use
    python -m localpg stop      stop the server this project started there (fast shutdown)
    python -m localpg status    say whether it runs, and where
    python -m localpg url       print the URL to connect to (for DATABASE_URL), if it runs
    python -m localpg install   install Debian's `postgresql` package when its programs are missing

With DATABASE_URL set, nothing is started or stopped: `start` and `status` check that that server answers.
Other settings (environment): POSTGRES_PORT (5432), POSTGRES_HOME (var/postgres: data folder and log),
POSTGRES_START_TIMEOUT_S (30).

Every failure is one line naming the cause and the fix, exit status 1, and no server left half-started.
"""

from __future__ import annotations

import os
import sys

from .client import wait_until_answers
from .errors import PostgresSetupError, shown, shown_url
from .install import ensure_installed
from .server import LocalPostgres, from_environment
from .throwaway import SERVICE_DATABASES, external_url

COMMANDS = {"start", "stop", "status", "url", "install"}


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) == 2 else ""
    if command not in COMMANDS:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    try:
        return _run(command)
    except PostgresSetupError as error:
        print(f"postgres: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("postgres: interrupted", file=sys.stderr)
        return 130


def _run(command: str) -> int:
    if command == "install":
        binaries, installed = ensure_installed()
        how = "installed" if installed else "already installed"
        print(f"postgres: PostgreSQL {binaries.version()} {how}, in {binaries.folder}")
        return 0
    url = external_url()
    if url is not None:
        return _external(command, url)
    server = from_environment()
    if command == "start":
        _start(server)
    elif command == "stop":
        print("postgres: stopped" if server.stop() else "postgres: not running")
    elif not server.running():
        print(f"postgres: not running (start it with make postgres; data in {shown(server.home)})",
              file=sys.stderr if command == "url" else sys.stdout)
        return 1
    elif command == "url":
        print(server.url)
    else:
        print(f"postgres: running, pid {server.running_pid()}, at {server.url}")
    return 0


def _start(server: LocalPostgres) -> None:
    was_running = server.running()
    seconds = server.start(float(os.environ.get("POSTGRES_START_TIMEOUT_S", "30")))
    how = "already running" if was_running else f"started in {seconds:.1f} s"
    print(f"postgres: {how}, pid {server.running_pid()}, on 127.0.0.1:{server.port} "
          f"(data and log in {shown(server.home)})")
    for name in SERVICE_DATABASES:
        server.create_database(name)
    print(f"postgres: databases ready: {', '.join(SERVICE_DATABASES)}")
    print(f"export DATABASE_URL={server.url}")


def _external(command: str, url: str) -> int:
    if command in {"start", "status"}:
        wait_until_answers(url, 10.0, "check DATABASE_URL, or unset it to use a local server (make postgres)")
        print(f"postgres: the server at {shown_url(url)} answers (DATABASE_URL); nothing started")
    elif command == "url":
        print(url)
    else:
        print(f"postgres: DATABASE_URL is set: nothing to {command} here")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
