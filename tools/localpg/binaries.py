"""The machine's PostgreSQL programs: initdb, pg_ctl and postgres of the newest version installed.

Debian installs each major version side by side in /usr/lib/postgresql/<major>/bin and puts only wrappers
(pg_wrapper) on PATH, so that folder is looked in first; PATH is the fallback for other systems.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import INSTALL_HINT, PostgresSetupError

DEBIAN_ROOT = Path("/usr/lib/postgresql")
NEEDED = ("initdb", "pg_ctl", "postgres")


@dataclass(frozen=True)
class Binaries:
    """A folder holding initdb, pg_ctl and postgres of one version."""

    folder: Path

    def __getitem__(self, program: str) -> str:
        return str(self.folder / program)

    def version(self) -> str:
        """`15.18`, as `postgres --version` says it."""
        banner = subprocess.run([self["postgres"], "--version"], check=False, capture_output=True, text=True)
        found = re.search(r"\(PostgreSQL\) (\S+)", banner.stdout)  # postgres (PostgreSQL) 15.18 (Debian ...)
        return found.group(1) if found else "unknown"


def find_binaries(roots: Iterable[Path] = (DEBIAN_ROOT,), path: str | None = None) -> Binaries:
    """The newest version's programs under `roots` (<root>/<major>/bin), else those beside PATH's pg_ctl."""
    for root in roots:
        for folder in sorted(_version_folders(root), key=_major, reverse=True):
            if _complete(folder):
                return Binaries(folder)
    pg_ctl = shutil.which("pg_ctl", path=path)
    if pg_ctl is not None and _complete(Path(pg_ctl).resolve().parent):
        return Binaries(Path(pg_ctl).resolve().parent)
    raise PostgresSetupError(
        f"PostgreSQL's initdb, pg_ctl and postgres are not on this machine: {INSTALL_HINT}"
    )


def _version_folders(root: Path) -> list[Path]:
    return [folder / "bin" for folder in root.glob("*") if folder.name.isdigit()] if root.is_dir() else []


def _major(folder: Path) -> int:
    return int(folder.parent.name)


def _complete(folder: Path) -> bool:
    return all(os.access(folder / program, os.X_OK) for program in NEEDED)
