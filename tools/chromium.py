"""Debian's Chromium for the demo page's browser test (tests/browser): installed when missing, run headless.

    python tools/chromium.py    # `make test` runs it before pytest

Nothing happens when it is there. Otherwise it installs Debian's `chromium` package with apt-get: as root,
or through sudo when this user is not root and sudo exists. When the install fails it runs `apt-get update`
once (a fresh machine may have no package lists yet) and tries again. Every command is printed before it
runs. When Chromium still is not there it says what to install and exits 1, so `make test` stops there
instead of failing in the middle of the tests.

Debian's package, not Playwright's browser download: the download needs a host this project's machines do not
reach, and apt's mirror is one they do. `headless_chromium` starts it through Playwright's driver, for the test
and for tools/page_screenshot.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

CHROMIUM = Path("/usr/bin/chromium")
PACKAGE = "chromium"
HOW_TO = f"install Debian's {PACKAGE!r} package as root (apt-get update && apt-get install -y {PACKAGE})"
FLAGS = (
    "--headless",
    "--no-sandbox",  # Chromium does not start as root with its sandbox, and CI runs as root
    "--disable-gpu",
    "--no-first-run",
    # Without these Chromium connects to Google's services at start-up; this machine refuses those
    # connections, and a test must not depend on them anyway.
    "--disable-background-networking",
    "--disable-quic",
    "--disable-component-update",
    "--disable-sync",
)
# A laptop's screen.
VIEWPORT_WIDTH, VIEWPORT_HEIGHT = 1280, 800


@contextmanager
def headless_chromium() -> Iterator[BrowserContext]:
    """A headless /usr/bin/chromium with a fresh, empty profile; closed, and the profile removed, at the end.

    Open pages with `new_page()`.
    """
    from playwright.sync_api import sync_playwright  # a test extra: not needed to install Chromium

    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile, sync_playwright() as playwright:
        # A persistent context is how Playwright takes a --user-data-dir: this one is new for each browser.
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            args=list(FLAGS),
            headless=True,
            viewport={"width": VIEWPORT_WIDTH, "height": VIEWPORT_HEIGHT},
        )
        try:
            yield context
        finally:
            context.close()


class CannotInstall(Exception):
    """Chromium is missing and this script cannot install it; the message says why."""


def ensure_chromium() -> None:
    if _runnable(CHROMIUM):
        return
    print(f"chromium: {CHROMIUM} is missing (the browser test needs it); installing Debian's {PACKAGE!r}")
    apt_get = _as_root(["apt-get"])
    # Without recommends: the browser test needs the browser, not the desktop packages it suggests.
    install = [*apt_get, "install", "-y", "--quiet", "--no-install-recommends", PACKAGE]
    if not _run(install):
        print("chromium: the install failed; reading the package lists (apt-get update) and trying again")
        if not _run([*apt_get, "update", "--quiet"]) or not _run(install):
            raise CannotInstall(f"apt-get could not install {PACKAGE!r} (its output is above)")
    if not _runnable(CHROMIUM):
        raise CannotInstall(f"the {PACKAGE!r} package is installed but {CHROMIUM} is not there")
    print(f"chromium: installed {CHROMIUM}")


def _runnable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _as_root(command: list[str]) -> list[str]:
    """`command` run as root, with apt's questions answered by their defaults."""
    if shutil.which(command[0]) is None:
        raise CannotInstall(f"{command[0]} is not on this machine (not Debian or a derivative?)")
    with_env = ["env", "DEBIAN_FRONTEND=noninteractive", *command]
    if os.geteuid() == 0:
        return with_env
    if shutil.which("sudo") is None:
        raise CannotInstall("this user is not root and sudo is not installed")
    return ["sudo", *with_env]


def _run(command: list[str]) -> bool:
    print("chromium: $ " + " ".join(command), flush=True)
    return subprocess.run(command, check=False).returncode == 0


def main() -> int:
    try:
        ensure_chromium()
    except CannotInstall as error:
        print(f"chromium: {CHROMIUM} is needed by the browser test and {error}: {HOW_TO}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
