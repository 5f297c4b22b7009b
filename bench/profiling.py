"""--profile: py-spy samples each service during the closed-loop order run; the collapsed stacks go to
bench/results/profile-<service>.txt and their top costs are printed (bench/profile_summary.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import profile_summary
from errors import BenchError

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def start_profilers(services: dict[str, subprocess.Popen[bytes]],
                    duration: float) -> dict[str, tuple[Path, subprocess.Popen[bytes]]]:
    """py-spy on each service for `duration` seconds (100 samples/s, by function, Python and native frames off)."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        raise BenchError("--profile needs py-spy: .venv/bin/pip install py-spy (it is in the bench extra)")
    profilers = {}
    for name, process in services.items():
        out = HERE / "results" / f"profile-{name}.txt"
        out.parent.mkdir(exist_ok=True)
        profilers[name] = (out, subprocess.Popen(
            [spy, "record", "--pid", str(process.pid), "--duration", str(int(duration)), "--format", "raw",
             "--function", "--threads", "--rate", "100", "--nonblocking", "--output", str(out)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        ))
    return profilers


def finish_profilers(profilers: dict[str, tuple[Path, subprocess.Popen[bytes]]]) -> None:
    for name, (out, process) in profilers.items():
        try:
            _, err = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise BenchError(f"py-spy on the {name} service did not finish") from None
        if process.returncode != 0 or not out.exists():
            raise BenchError(f"py-spy on the {name} service failed: {err.decode(errors='replace')[-300:]}")
        where = f"{name} service ({out.relative_to(REPO)})"
        profile_summary.print_summary(f"{where}, event loop", profile_summary.summarise(out, 15, "MainThread"), 15)
        profile_summary.print_summary(f"{where}, every thread", profile_summary.summarise(out, 10), 10)
