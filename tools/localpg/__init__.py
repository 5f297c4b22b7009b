"""A real PostgreSQL for dev and tests, from the machine's own programs (Debian's `postgresql` package).

`python -m localpg start|stop|status|url|install` is its command line (__main__.py says what each command
does and which settings it reads). Tests import `throwaway` from here for a server on a free port in a new
folder, or DATABASE_URL's server when that is set.

One module per concept, in the order a start meets them:

    binaries.py    initdb, pg_ctl and postgres of the newest version installed
    install.py     Debian's package, installed with apt-get when those are missing
    account.py     whom the server runs as: this user, or `postgres` for root (the server refuses root)
    ports.py       whether a port is free, a free one, one to suggest instead of a taken one
    processes.py   the server's process as its postmaster.pid names it: whether it is ours, stopping it
    server.py      one server's life cycle (LocalPostgres: initdb once, pg_ctl start, wait, stop)
    client.py      any server, ours or DATABASE_URL's, through psycopg: whether it answers, its databases
    throwaway.py   a server for a test run, always stopped and deleted at the end
    errors.py      PostgresSetupError, and the one line of a log or a tool's output that names a failure
    __main__.py    the command line
"""

from .binaries import Binaries, find_binaries
from .client import ExternalPostgres, PostgresServer, create_database, database_url, wait_until_answers
from .errors import PostgresSetupError
from .install import ensure_installed
from .ports import free_port, port_is_free
from .server import LocalPostgres, from_environment
from .throwaway import SERVICE_DATABASES, external_url, throwaway

__all__ = [
    "SERVICE_DATABASES",
    "Binaries",
    "ExternalPostgres",
    "LocalPostgres",
    "PostgresServer",
    "PostgresSetupError",
    "create_database",
    "database_url",
    "ensure_installed",
    "external_url",
    "find_binaries",
    "free_port",
    "from_environment",
    "port_is_free",
    "throwaway",
    "wait_until_answers",
]
