"""Whom the server runs as: this user, or, for root, the `postgres` system user through runuser.

PostgreSQL refuses to run as root (initdb and postgres both stop with "cannot be run as root"), and sessions
and CI run as root. Debian's package makes a `postgres` system user; the server's folder is handed to it, and
every folder above it must let it in, which is checked before anything is made.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from .errors import INSTALL_HINT, PostgresSetupError

SERVER_USER = "postgres"


@dataclass(frozen=True)
class Account:
    """The user the server's programs run as; `prefix` is what runs a command as that user."""

    prefix: tuple[str, ...] = ()
    uid: int | None = None  # None: this process's own user
    gids: frozenset[int] = frozenset()

    def command(self, *argv: str) -> list[str]:
        return [*self.prefix, *argv]

    def make_home(self, home: Path) -> None:
        """Create `home` (and its parents) for the server, once sure that the server's user can reach it."""
        if self.uid is not None:
            self._check_it_can_enter(home)
        home.mkdir(parents=True, exist_ok=True)
        if self.uid is not None:
            os.chown(home, self.uid, -1)

    def _check_it_can_enter(self, home: Path) -> None:
        for folder in reversed(home.parents):
            if folder.exists() and not self._can_enter(folder):
                raise PostgresSetupError(
                    f"the `{SERVER_USER}` user, which the server runs as because it refuses to run as root, "
                    f"cannot enter {folder} (mode {stat.S_IMODE(folder.stat().st_mode):o}): choose a "
                    f"folder it can reach (POSTGRES_HOME, e.g. under /tmp)"
                )

    def _can_enter(self, folder: Path) -> bool:
        info = folder.stat()
        if info.st_uid == self.uid:
            return bool(info.st_mode & stat.S_IXUSR)
        if info.st_gid in self.gids:
            return bool(info.st_mode & stat.S_IXGRP)
        return bool(info.st_mode & stat.S_IXOTH)


def server_account() -> Account:
    """This user when it is not root; else the `postgres` system user, run through runuser."""
    if os.geteuid() != 0:
        return Account()
    try:
        user = pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise PostgresSetupError(
            f"running as root, and there is no `{SERVER_USER}` system user to run the server as (it refuses "
            f"to run as root): {INSTALL_HINT}, which creates that user"
        ) from None
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PostgresSetupError("running as root, and `runuser` is missing: install Debian's `util-linux`")
    gids = frozenset(os.getgrouplist(SERVER_USER, user.pw_gid))
    return Account((runuser, "-u", SERVER_USER, "--"), user.pw_uid, gids)
