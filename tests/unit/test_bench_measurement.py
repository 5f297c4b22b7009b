"""What the bench reads of its processes (bench/measurement.py): the CPU of a JVM's JIT compiler threads, by
which the warm-up knows the broker has settled."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# bench/ is a folder of scripts, not a package (see test_bench_guard.py): last on the path.
sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))

import measurement


class TestCompilingCpuSeconds:
    def test_a_process_without_jit_compiler_threads_has_compiled_for_no_time(self) -> None:
        assert measurement.compiling_cpu_seconds(os.getpid()) == 0.0

    def test_a_process_that_is_gone_has_no_figure(self) -> None:
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()

        assert measurement.compiling_cpu_seconds(gone.pid) is None

    def test_counts_only_the_threads_named_as_a_jvm_names_its_compilers(self, tmp_path: Path, monkeypatch) -> None:
        tasks = tmp_path / "4242" / "task"
        # utime and stime are fields 14 and 15 of stat; the name in parentheses may hold spaces.
        for tid, name, utime, stime in [(1, "java", 500, 100), (2, "C2 CompilerThre", 30, 10),
                                        (3, "C1 CompilerThre", 5, 5), (4, "GC Thread#0", 70, 0)]:
            (tasks / str(tid)).mkdir(parents=True)
            (tasks / str(tid) / "comm").write_text(name + "\n")
            fields = ["S"] + ["0"] * 10 + [str(utime), str(stime)] + ["0"] * 8
            (tasks / str(tid) / "stat").write_text(f"{tid} ({name}) " + " ".join(fields) + "\n")
        real_path = measurement.Path
        monkeypatch.setattr(measurement, "Path", lambda p: real_path(str(p).replace("/proc", str(tmp_path), 1)))

        assert measurement.compiling_cpu_seconds(4242) == (30 + 10 + 5 + 5) / measurement.CLK_TCK
