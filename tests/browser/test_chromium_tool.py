"""tools/chromium.py, which `make test` runs: Chromium is installed with apt-get when it is missing.

apt-get and sudo are stand-ins on PATH that record how they were called and do what each test says, and the
path the tool looks at is a temporary one: nothing is installed on this machine.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

import chromium

# A stand-in for a command: logs "<name> <args>" and exits with the status a file beside it holds; when it
# runs "install" with status 0 it creates the browser, as the real package does.
STAND_IN = """#!/bin/sh
echo "$(basename "$0") $*" >> "{log}"
if [ "$(basename "$0")" = sudo ]; then exec "$@"; fi
status=$(head -n 1 "{statuses}"); sed -i 1d "{statuses}"
if [ "$status" = 0 ] && [ "$1" = install ]; then printf '#!/bin/sh\\n' > "{browser}"; chmod +x "{browser}"; fi
exit "$status"
"""


class Machine:
    def __init__(self, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.bin = home / "bin"
        self.bin.mkdir()
        self.log = home / "calls.log"
        self.log.touch()
        self.statuses = home / "statuses"
        self.browser = home / "usr-bin-chromium"
        monkeypatch.setattr(chromium, "CHROMIUM", self.browser)
        # Only what the tool and the stand-ins use is on PATH, so the machine's own apt-get and sudo are not.
        for tool in ("env", "basename", "head", "sed", "chmod"):
            found = shutil.which(tool)
            assert found is not None, f"{tool} is needed by this test"
            (self.bin / tool).symlink_to(found)
        monkeypatch.setenv("PATH", str(self.bin))
        monkeypatch.setattr(os, "geteuid", lambda: 0)

    def has(self, command: str) -> None:
        script = self.bin / command
        script.write_text(
            STAND_IN.format(log=self.log, statuses=self.statuses, browser=self.browser), encoding="utf-8"
        )
        script.chmod(script.stat().st_mode | stat.S_IXUSR)

    def apt_get_answers(self, *statuses: int) -> None:
        self.statuses.write_text("".join(f"{status}\n" for status in statuses), encoding="utf-8")

    def calls(self) -> list[str]:
        return self.log.read_text(encoding="utf-8").splitlines()


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Machine:
    return Machine(tmp_path, monkeypatch)


INSTALL = "apt-get install -y --quiet --no-install-recommends chromium"
UPDATE = "apt-get update --quiet"


class TestChromiumTool:
    def test_does_nothing_when_chromium_is_there(self, machine: Machine) -> None:
        machine.has("apt-get")
        machine.browser.write_text("#!/bin/sh\n")
        machine.browser.chmod(0o755)

        assert chromium.main() == 0
        assert machine.calls() == []

    def test_installs_debians_package_when_chromium_is_missing(self, machine: Machine, capsys) -> None:
        machine.has("apt-get")
        machine.apt_get_answers(0)

        assert chromium.main() == 0
        assert machine.calls() == [INSTALL]
        assert machine.browser.is_file()
        assert "$ env DEBIAN_FRONTEND=noninteractive apt-get install" in capsys.readouterr().out

    def test_reads_the_package_lists_and_tries_again_when_the_install_fails(self, machine: Machine) -> None:
        machine.has("apt-get")
        machine.apt_get_answers(100, 0, 0)

        assert chromium.main() == 0
        assert machine.calls() == [INSTALL, UPDATE, INSTALL]

    def test_uses_sudo_when_not_root(self, machine: Machine, monkeypatch: pytest.MonkeyPatch) -> None:
        machine.has("apt-get")
        machine.has("sudo")
        machine.apt_get_answers(0)
        monkeypatch.setattr(os, "geteuid", lambda: 1000)

        assert chromium.main() == 0
        assert machine.calls() == [f"sudo env DEBIAN_FRONTEND=noninteractive {INSTALL}", INSTALL]

    def test_fails_saying_what_to_install_when_apt_get_cannot(self, machine: Machine, capsys) -> None:
        machine.has("apt-get")
        machine.apt_get_answers(100, 0, 100)

        assert chromium.main() == 1
        assert "apt-get install -y chromium" in capsys.readouterr().err

    def test_fails_saying_what_to_install_when_not_root_and_without_sudo(
        self, machine: Machine, monkeypatch: pytest.MonkeyPatch, capsys
    ) -> None:
        machine.has("apt-get")
        monkeypatch.setattr(os, "geteuid", lambda: 1000)

        assert chromium.main() == 1
        message = capsys.readouterr().err
        assert "not root and sudo is not installed" in message
        assert "apt-get install -y chromium" in message
        assert machine.calls() == []

    def test_fails_saying_what_to_install_on_a_machine_without_apt_get(
        self, machine: Machine, capsys
    ) -> None:
        assert chromium.main() == 1
        assert "apt-get is not on this machine" in capsys.readouterr().err
