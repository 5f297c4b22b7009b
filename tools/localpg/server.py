"""One local server's life cycle: initialise its data folder once, start it with pg_ctl, wait until it
answers, stop it; and which server the environment describes."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from . import client
from .account import Account, server_account
from .binaries import Binaries, find_binaries
from .errors import PostgresSetupError, first_error, last_fatal, shown
from .ports import free_port_after, port_is_free
from .processes import postmaster, remove_stale_pid_file, terminate

REPO = Path(__file__).resolve().parents[2]
DEFAULT_HOME = REPO / "var" / "postgres"
DEFAULT_PORT = 5432
# The role initdb makes the superuser, and the one every URL of ours names. Trust authentication on
# 127.0.0.1 only: a local throwaway server; a real DATABASE_URL carries its own credentials.
USER = "ordering"
# -h: TCP on loopback only. -k '': no Unix socket, whose path (home/.s.PGSQL.PORT) must stay under 108 bytes,
# which a test's temporary folder can pass; every client of ours connects over TCP.
_SERVER_OPTIONS = "-p {port} -h 127.0.0.1 -k ''"


@dataclass(frozen=True)
class LocalPostgres:
    """One PostgreSQL server on 127.0.0.1:`port`, its data folder and log under `home`."""

    home: Path
    port: int = DEFAULT_PORT

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def log_file(self) -> Path:
        return self.home / "postgres.log"

    @property
    def url(self) -> str:
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{name}"

    def create_database(self, name: str) -> str:
        """Create database `name` on this server unless it exists; returns its URL."""
        return client.create_database(self.url, name)

    # -- state --

    def running_pid(self) -> int | None:
        """The pid of the server started on this home's data folder, if it still runs."""
        found = postmaster(self.data_dir)
        return found[0] if found else None

    def running(self) -> bool:
        return self.running_pid() is not None

    # -- life cycle --

    def start(self, timeout_s: float = 30.0) -> float:
        """Start the server (or find it running) and wait until it answers; returns the seconds it took."""
        started = time.monotonic()
        if self._reuse_running(timeout_s):
            return time.monotonic() - started
        binaries = find_binaries()
        account = server_account()
        self._refuse_taken_port()
        account.make_home(self.home)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(binaries, account)
        try:
            self._pg_ctl_start(binaries, account, timeout_s - (time.monotonic() - started))
            client.wait_until_answers(
                self.url, max(timeout_s - (time.monotonic() - started), 1.0), self._timeout_fix()
            )
        except BaseException:
            self.stop()  # whatever came up is ours: nothing is left half-started
            raise
        return time.monotonic() - started

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop the server started on this home's data folder; False when none was running."""
        pid = self.running_pid()
        if pid is not None:
            terminate(pid, grace_s=timeout_s)
        # The server removes its pid file on a clean stop, but not when it was killed. One naming a live
        # process is left alone: a server started on this folder some other way would stop without it.
        remove_stale_pid_file(self.data_dir)
        return pid is not None

    def _reuse_running(self, timeout_s: float) -> bool:
        found = postmaster(self.data_dir)
        if found is None:
            return False
        if found[1] != self.port:
            raise PostgresSetupError(
                f"the server in {shown(self.home)} already runs on port {found[1]}, not {self.port}: use "
                f"POSTGRES_PORT={found[1]}, or stop it first (make postgres-stop)"
            )
        client.wait_until_answers(self.url, timeout_s, self._timeout_fix())
        return True

    def _refuse_taken_port(self) -> None:
        if not port_is_free(self.port):
            raise PostgresSetupError(
                f"port {self.port} on 127.0.0.1 is already in use by another program (another PostgreSQL?): "
                f"stop it, or choose another port with POSTGRES_PORT (e.g. POSTGRES_PORT="
                f"{free_port_after(self.port)} make postgres), or set DATABASE_URL to use a running server"
            )

    def _initdb(self, binaries: Binaries, account: Account) -> None:
        # UTF8 with the C locale: any text stored, the same sort order on every machine, whatever LANG says.
        # --no-sync: initdb's own files only; the running server still syncs as configured.
        result = self._run(account, binaries["initdb"], "-D", str(self.data_dir), "-U", USER, "-A", "trust",
                           "-E", "UTF8", "--locale=C", "--no-sync")
        if result.returncode != 0:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise PostgresSetupError(
                f"initdb could not initialise {shown(self.data_dir)} ({first_error(result.stdout)}): "
                "fix that, then start again (nothing was kept)"
            )

    def _pg_ctl_start(self, binaries: Binaries, account: Account, timeout_s: float) -> None:
        # -w: pg_ctl returns once the server says it is ready (postmaster.pid), or fails with its exit.
        result = self._run(account, binaries["pg_ctl"], "start", "-D", str(self.data_dir),
                           "-l", str(self.log_file), "-w", "-t", str(max(math.ceil(timeout_s), 1)),
                           "-o", _SERVER_OPTIONS.format(port=self.port))
        if result.returncode == 0:
            return
        if "did not start in time" in result.stdout:
            raise PostgresSetupError(
                f"PostgreSQL was not ready on port {self.port} within {timeout_s:.0f} s: "
                f"{self._timeout_fix()}"
            )
        raise PostgresSetupError(
            f"PostgreSQL stopped at start-up ({last_fatal(self.log_file)}): see {shown(self.log_file)}"
        )

    def _run(self, account: Account, *argv: str) -> subprocess.CompletedProcess[str]:
        # cwd: the server's own folder, which its user can enter (root's working folder may shut it out).
        # LC_ALL=C: messages in English, as the lines picked out of pg_ctl's output and the log are matched.
        return subprocess.run(account.command(*argv), cwd=self.home, check=False, capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, env={**os.environ, "LC_ALL": "C"})

    def _timeout_fix(self) -> str:
        return f"see {shown(self.log_file)}, or raise POSTGRES_START_TIMEOUT_S on a slow machine"


def from_environment() -> LocalPostgres:
    """The local server POSTGRES_HOME and POSTGRES_PORT describe (defaults: var/postgres, 5432)."""
    return LocalPostgres(
        home=Path(os.environ.get("POSTGRES_HOME", DEFAULT_HOME)).resolve(),
        port=int(os.environ.get("POSTGRES_PORT", DEFAULT_PORT)),
    )
