"""Debian's `postgresql` package, installed with apt-get when the server's programs are missing.

`python -m localpg install` (run by `make test`) does nothing when they are there. Otherwise it runs apt-get
as root, or through sudo when this user is not root and sudo exists; when the install fails it reads the
package lists (`apt-get update`, which a fresh machine may lack) once and tries again. Every command is
printed before it runs. The package also creates the `postgres` system user, which a root run starts the
server as. It may also start the system's own server on port 5432; `make postgres` then says to choose
another port.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from .binaries import Binaries, find_binaries
from .errors import PostgresSetupError

PACKAGE = "postgresql"
HOW_TO = f"install it as root (apt-get update && apt-get install -y {PACKAGE})"


def ensure_installed() -> tuple[Binaries, bool]:
    """The programs, installing the package first when they are missing; True when this call installed it."""
    try:
        return find_binaries(), False
    except PostgresSetupError:
        pass
    print(f"postgres: PostgreSQL's programs are missing (the tests need them); installing {PACKAGE!r}")
    apt_get = _as_root(["apt-get"])
    # Without recommends: the server's programs are needed, not the extras the package suggests.
    install = [*apt_get, "install", "-y", "--quiet", "--no-install-recommends", PACKAGE]
    if not _run(install):
        print("postgres: the install failed; reading the package lists (apt-get update) and trying again")
        if not _run([*apt_get, "update", "--quiet"]) or not _run(install):
            raise PostgresSetupError(
                f"apt-get could not install {PACKAGE!r} (its output is above): {HOW_TO}, "
                "or set DATABASE_URL to use a running server"
            )
    return find_binaries(), True


def _as_root(command: list[str]) -> list[str]:
    """`command` run as root, with apt's questions answered by their defaults."""
    if shutil.which(command[0]) is None:
        raise PostgresSetupError(
            f"{command[0]} is not on this machine (not Debian or a derivative?): install PostgreSQL 15+ so "
            "that initdb and pg_ctl are on PATH, or set DATABASE_URL to use a running server"
        )
    with_env = ["env", "DEBIAN_FRONTEND=noninteractive", *command]
    if os.geteuid() == 0:
        return with_env
    if shutil.which("sudo") is None:
        raise PostgresSetupError(
            f"this user is not root and sudo is not installed: run `apt-get install -y {PACKAGE}` as root"
        )
    return ["sudo", *with_env]


def _run(command: list[str]) -> bool:
    print("postgres: $ " + " ".join(command), flush=True)
    return subprocess.run(command, check=False).returncode == 0
