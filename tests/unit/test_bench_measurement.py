"""What the bench reads of its processes (bench/measurement.py): the CPU of a JVM's JIT compiler threads, by
which the warm-up knows the broker has settled; the services' counters, by which each run says how many events
went in each Kafka transaction and how many records in each consumer's database transaction."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# bench/ is a folder of scripts, not a package (see test_bench_guard.py): last on the path.
sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))

import measurement
import report


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


class TestServiceCounters:
    """The relay's and the consumers' counters, read from each instance's GET /metrics and summed."""

    @staticmethod
    def serving(text: str):
        class Metrics(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = text.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                """Quiet."""

        server = ThreadingHTTPServer(("127.0.0.1", 0), Metrics)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def test_sums_each_counter_over_the_instances_of_its_service(self) -> None:
        order = self.serving(
            "# HELP ordering_events_published_total ...\n"
            "ordering_events_published_total 300.0\n"
            "ordering_outbox_transactions_total 6.0\n"
            "ordering_availability_questions_total 100.0\n"
            "ordering_availability_requests_total 40.0\n"
            'ordering_records_applied_total{group="order-service"} 2.0\n'
        )
        products = [
            self.serving(
                f'ordering_records_applied_total{{group="product-service"}} {applied}\n'
                f'ordering_consumer_transactions_total{{group="product-service"}} {transactions}\n'
            )
            for applied, transactions in ((60.0, 2.0), (40.0, 3.0))
        ]
        try:
            ports = {"order": [order.server_port], "product": [p.server_port for p in products]}

            counted = measurement.service_counters(ports)
        finally:
            for server in (order, *products):
                server.shutdown()
                server.server_close()

        assert counted == {
            "events published": 300.0,
            "kafka transactions": 6.0,
            "availability questions": 100.0,
            "availability requests": 40.0,
            "product service records applied": 100.0,
            "product service database transactions": 5.0,
        }
        assert report.consumer_batches(counted) == [
            "product service 100 records in 5 database transactions (20.0 each)"
        ]
