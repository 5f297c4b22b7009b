"""A server for a test run: DATABASE_URL's when set (nothing started), else a new one on a free port.

    with localpg.throwaway() as server:
        url = server.create_database("ordering_order")

The folder is made under the system's temporary folder, not pytest's `tmp_path`: pytest makes its folders
mode 0700 for root, and as root the server runs as the `postgres` user, which could not enter them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .client import ExternalPostgres, PostgresServer, wait_until_answers
from .ports import free_port
from .server import LocalPostgres

# One database per service, as the PostgreSQL adapters will use them.
SERVICE_DATABASES = ("ordering_order", "ordering_product", "ordering_message")


def external_url() -> str | None:
    """DATABASE_URL when set: the server to use instead of starting one."""
    return os.environ.get("DATABASE_URL", "").strip() or None


@contextmanager
def throwaway(parent: Path | None = None, timeout_s: float = 30.0) -> Iterator[PostgresServer]:
    """DATABASE_URL's server once it answers; else a server started on a free port in a new folder under
    `parent` (default: the system's temporary folder), stopped and its folder deleted at the end."""
    url = external_url()
    if url is not None:
        wait_until_answers(url, timeout_s, "check DATABASE_URL, or unset it to start a throwaway server")
        yield ExternalPostgres(url)
        return
    home = Path(tempfile.mkdtemp(prefix="localpg-", dir=parent))
    server = LocalPostgres(home, port=free_port())
    try:
        server.start(timeout_s)
        yield server
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)
