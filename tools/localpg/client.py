"""Any server, ours or the one DATABASE_URL names, through psycopg: whether it answers, and databases on it.

Connection URLs are libpq's (postgresql://user[:password]@host:port/database); a database of the same
server is the same URL with another path.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote, urlsplit

from .errors import PostgresSetupError, shown_url

# A server that answers with FATAL has refused (a wrong password or user, a database that does not exist),
# which no retry fixes, unless it says it is not ready yet. psycopg gives no SQLSTATE for a failed connect.
_NOT_YET = ("starting up", "shutting down", "too many clients", "recovery")


class PostgresServer(Protocol):
    """What a test or a tool needs of a server, whether this tool started it or DATABASE_URL names it."""

    @property
    def url(self) -> str: ...

    def database_url(self, name: str) -> str: ...

    def create_database(self, name: str) -> str: ...


@dataclass(frozen=True)
class ExternalPostgres:
    """A server someone else runs (DATABASE_URL): used as it is, never started or stopped here."""

    url: str

    def database_url(self, name: str) -> str:
        return database_url(self.url, name)

    def create_database(self, name: str) -> str:
        return create_database(self.url, name)


def database_url(server_url: str, name: str) -> str:
    """The URL of database `name` on the server `server_url` reaches."""
    parts = urlsplit(server_url)
    if parts.scheme not in {"postgresql", "postgres"}:
        raise PostgresSetupError(
            f"{shown_url(server_url)!r} is not a postgresql:// URL: write it as "
            "postgresql://USER[:PASSWORD]@HOST:PORT/DATABASE"
        )
    return parts._replace(path="/" + quote(name, safe="")).geturl()


def wait_until_answers(url: str, timeout_s: float, fix: str) -> None:
    """Wait until the server answers `SELECT 1` at `url`; else one line with psycopg's reason and `fix`."""
    import psycopg

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with psycopg.connect(url, connect_timeout=max(2, round(deadline - time.monotonic()))) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError as error:
            reason = (str(error).strip().splitlines() or ["no reason given"])[0]
            if _refused(str(error)):
                raise PostgresSetupError(
                    f"the PostgreSQL server at {shown_url(url)} refused the connection ({reason}): {fix}"
                ) from None
            if time.monotonic() > deadline:
                raise PostgresSetupError(
                    f"no PostgreSQL server answered at {shown_url(url)} within {timeout_s:.0f} s "
                    f"({reason}): {fix}"
                ) from None
        time.sleep(0.05)


def _refused(message: str) -> bool:
    return "FATAL:" in message and not any(phrase in message for phrase in _NOT_YET)


def create_database(server_url: str, name: str) -> str:
    """Create database `name` unless it exists (owned by the URL's user); returns its URL."""
    import psycopg
    from psycopg import errors, sql

    with psycopg.connect(server_url, autocommit=True) as conn:  # CREATE DATABASE cannot run in a transaction
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists is None:
            # Another process may make it between the look and the create: then it is there, as wanted.
            with contextlib.suppress(errors.DuplicateDatabase):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return database_url(server_url, name)
