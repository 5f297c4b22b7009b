"""The bench's guard (bench/guard.py): the headline figures of a report over its rounds, the committed results
file of the same kind, and each figure judged worse, better or within noise against it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

# bench/ is a folder of scripts, not a package: its modules are imported by their bare names. Last on the
# path, so that none of them (errors, report, ...) stands in for a module of the same name for later tests.
sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))

import guard


def order_run(short: str, *, round_: int | None = None, accepted: int = 1_000, seconds: float = 10.0,
              p99_ms: float = 20.0, cpu: dict[str, float] | None = None,
              propagation: dict[str, float] | None = None) -> dict:
    run = {"short": short, "rate": accepted / seconds, "statuses": {"201": accepted},
           "duration_us": seconds * 1e6, "latency_us": {"p99": p99_ms * 1000}}
    if round_ is not None:
        run["round"] = round_
    if cpu is not None:
        run["cpu_seconds"] = cpu
    if propagation is not None:
        run["propagation"] = {
            "stock taken": {"orders": accepted, "missing": 0, "p99_ms": propagation["stock"]},
            "message recorded": {"orders": accepted, "missing": 0, "p99_ms": propagation["message"]},
        }
    return run


def echo(short: str = "echo/loadgen", rate: float = 10_000.0) -> dict:
    return {"short": short, "rate": rate, "statuses": {"200": int(rate * 8)}}


CPU = {"order service": 2.0, "product service": 1.0, "kafka broker": 3.0, "echo": 0.5, "load tool": 4.0}


def a_round(n: int, *, accepted: int, p99_ms: float, stock_ms: float = 70.0) -> list[dict]:
    return [order_run("orders/loadgen", round_=n, accepted=accepted, cpu=CPU),
            order_run("orders open", round_=n, accepted=accepted // 2, p99_ms=p99_ms,
                      propagation={"stock": stock_ms, "message": 60.0})]


def settings(cpus: int = 2, tool: str = "loadgen", **more: object) -> dict:
    return {"machine": {"cpus": cpus}, "settings": {"closed_loop_tool": tool, **more}}


class TestTheFiguresOfARound:
    def test_the_closed_loop_gives_the_accepted_rate_and_its_ratio_to_the_first_echo_run(self):
        [figures] = guard.round_figures([echo("echo/wrk", 20_000.0), echo("echo/loadgen", 40_000.0),
                                         *a_round(1, accepted=3_000, p99_ms=20.0)])

        assert figures[guard.ORDERS_PER_S] == 300.0
        assert figures[guard.X_ECHO] == 0.015

    def test_cpu_per_accepted_order_is_every_process_but_the_echo_and_the_load_tool(self):
        [figures] = guard.round_figures([echo(), *a_round(1, accepted=2_000, p99_ms=20.0)])

        assert figures[guard.CPU_ALL] == 3.0  # (2 + 1 + 3) s * 1000 / 2,000 accepted orders
        assert figures[guard.CPU_OF + "order service"] == 1.0
        assert figures[guard.CPU_OF + "kafka broker"] == 1.5
        assert guard.CPU_OF + "echo" not in figures
        assert guard.CPU_OF + "load tool" not in figures

    def test_the_open_loop_at_half_rate_gives_the_p99_and_the_propagation_p99s(self):
        [figures] = guard.round_figures([echo(), *a_round(1, accepted=2_000, p99_ms=29.0, stock_ms=71.0)])

        assert figures[guard.P99_HALF] == 29.0
        assert figures[guard.STOCK_P99] == 71.0
        assert figures[guard.MESSAGE_P99] == 60.0

    def test_each_round_is_paired_with_its_own_open_loop_in_round_order(self):
        runs = [echo(), *a_round(2, accepted=4_000, p99_ms=40.0), *a_round(1, accepted=2_000, p99_ms=20.0)]

        assert [f[guard.P99_HALF] for f in guard.round_figures(runs)] == [20.0, 40.0]

    def test_a_figure_the_runs_cannot_give_is_left_out_not_guessed(self):
        closed = order_run("orders/loadgen", accepted=0)  # no accepted order, no CPU seconds kept
        open_loop = order_run("orders open", accepted=0)  # no propagation

        figures = guard.figures_of_round(0.0, closed, open_loop)

        assert set(figures) == {guard.ORDERS_PER_S, guard.P99_HALF}


class TestTheHeadlineOverRounds:
    def test_each_figure_is_its_median_min_and_max_with_the_spread_relative_to_the_median(self):
        per_round = [{guard.X_ECHO: 0.030}, {guard.X_ECHO: 0.033}, {guard.X_ECHO: 0.027}]

        headline = guard.summarise(per_round)

        assert headline["rounds"] == 3
        assert headline["figures"][guard.X_ECHO] == {"median": 0.030, "min": 0.027, "max": 0.033, "noise": 0.2}

    def test_one_round_has_no_spread_to_measure_its_noise_by(self):
        assert guard.spread([42.0]) == {"median": 42.0, "min": 42.0, "max": 42.0, "noise": None}

    def test_a_report_with_a_headline_is_read_as_written(self):
        report = {"headline": guard.summarise([{guard.X_ECHO: 0.031}]), "runs": []}

        assert guard.headline_of(report) is report["headline"]

    def test_a_report_of_rounds_without_its_headline_gives_the_same_figures_from_its_runs(self):
        runs = [echo(), *a_round(1, accepted=2_000, p99_ms=20.0), *a_round(2, accepted=3_000, p99_ms=60.0)]

        figures = guard.headline_of({"runs": runs})["figures"]

        assert figures[guard.ORDERS_PER_S] == {"median": 250.0, "min": 200.0, "max": 300.0, "noise": 0.4}
        assert figures[guard.P99_HALF]["noise"] == 1.0

    def test_a_file_from_before_rounds_is_one_round_of_unknown_noise_and_without_cpu_when_it_kept_none(self):
        # As 2026-11-25-vm.json: wrk's echo first, then loadgen's; no "round", no "cpu_seconds".
        runs = [echo("echo/wrk", 16_000.0), echo("echo/loadgen", 19_000.0),
                order_run("orders/wrk", accepted=4_000, seconds=8.0),
                order_run("orders open", accepted=2_000, seconds=8.0, p99_ms=25.0,
                          propagation={"stock": 61.0, "message": 72.0})]

        headline = guard.headline_of({"runs": runs})

        assert headline["rounds"] == 1
        figures = headline["figures"]
        assert figures[guard.X_ECHO] == {"median": 0.0312, "min": 0.0312, "max": 0.0312, "noise": None}
        assert figures[guard.STOCK_P99]["median"] == 61.0
        assert guard.CPU_ALL not in figures


class TestTheJudgement:
    def test_a_rate_against_the_echo_lower_by_more_than_the_noise_is_worse_and_higher_is_better(self):
        assert guard.judge(0.027, 0.031, 0.10, higher_is_better=True) == "worse"
        assert guard.judge(0.035, 0.031, 0.10, higher_is_better=True) == "better"

    def test_more_cpu_or_latency_by_more_than_the_noise_is_worse_and_less_is_better(self):
        assert guard.judge(6.7, 5.7, 0.10, higher_is_better=False) == "worse"
        assert guard.judge(5.0, 5.7, 0.10, higher_is_better=False) == "better"

    def test_a_change_no_larger_than_the_noise_is_within_noise_either_way(self):
        assert guard.judge(45.0, 30.0, 0.50, higher_is_better=False) == "within noise"
        assert guard.judge(15.0, 30.0, 0.50, higher_is_better=False) == "within noise"
        assert guard.judge(0.029, 0.031, 0.10, higher_is_better=True) == "within noise"

    def test_the_floors_are_ten_percent_for_the_rate_and_cpu_and_fifty_for_the_p99s(self):
        assert guard.rule_of(guard.X_ECHO) == guard.Rule(higher_is_better=True, floor=0.10)
        assert guard.rule_of(guard.CPU_ALL) == guard.Rule(higher_is_better=False, floor=0.10)
        assert guard.rule_of(guard.CPU_OF + "order service") == guard.Rule(higher_is_better=False, floor=0.10)
        assert guard.rule_of(guard.P99_HALF) == guard.Rule(higher_is_better=False, floor=0.50)
        assert guard.rule_of(guard.STOCK_P99) == guard.Rule(higher_is_better=False, floor=0.50)
        assert guard.rule_of(guard.MESSAGE_P99) == guard.Rule(higher_is_better=False, floor=0.50)

    def test_orders_per_second_is_not_judged_it_measures_the_machine_as_much_as_the_code(self):
        assert guard.rule_of(guard.ORDERS_PER_S) is None

    def test_the_noise_is_the_larger_spread_of_the_two_runs_and_never_below_the_floor(self):
        cpu = guard.Rule(higher_is_better=False, floor=0.10)

        assert guard.noise_of(cpu, 0.04, 0.25) == 0.25
        assert guard.noise_of(cpu, 0.30, 0.02) == 0.30
        assert guard.noise_of(cpu, 0.04, 0.02) == 0.10
        assert guard.noise_of(cpu, 0.04, None) == 0.10  # a committed file from before rounds

    def test_a_comparison_says_each_figure_s_change_noise_and_verdict_and_which_are_worse(self):
        new = {guard.X_ECHO: spread(0.027, noise=0.05), guard.CPU_ALL: spread(5.0, noise=0.20),
               guard.P99_HALF: spread(40.0, noise=0.1), guard.ORDERS_PER_S: spread(300.0, noise=0.0)}
        old = {guard.X_ECHO: spread(0.031), guard.CPU_ALL: spread(6.0), guard.P99_HALF: spread(29.0),
               guard.ORDERS_PER_S: spread(350.0)}

        lines, verdicts = guard.comparison(new, old)

        assert verdicts == {guard.X_ECHO: "worse", guard.CPU_ALL: "within noise", guard.P99_HALF: "within noise"}
        words = [" ".join(line.split()) for line in lines]  # the columns' padding aside
        assert words == ["orders x echo 0.031 -> 0.027 -13% (noise 10%) WORSE",
                         "CPU ms per accepted order, all processes 6.00 -> 5.00 -17% (noise 20%) within noise",
                         "p99 ms at half rate 29.0 -> 40.0 +38% (noise 50%) within noise"]

    def test_a_figure_on_one_side_only_is_said_and_not_judged(self):
        new = {guard.CPU_OF + "postgres server": spread(1.2)}
        old = {guard.STOCK_P99: spread(70.0)}

        lines, verdicts = guard.comparison(new, old)

        assert verdicts == {}
        assert [line.split("  ")[-1] for line in lines] == ["not in the committed file", "not measured in this run"]


def spread(median: float, noise: float | None = None) -> dict:
    return {"median": median, "min": median, "max": median, "noise": noise}


class TestTheSameKind:
    KIND = guard.Kind(cpus=2, instances=1, database="sqlite", tool="loadgen")

    def test_a_file_from_before_instances_and_database_is_one_instance_on_sqlite(self):
        assert guard.kind_of(settings()) == self.KIND
        assert guard.kind_of(settings(instances=2, database="postgres")) == guard.Kind(2, 2, "postgres", "loadgen")

    def test_the_latest_by_the_date_in_its_name_among_the_same_cpus_instances_database_and_tool(self):
        kinds = {
            "2026-11-25-vm.json": guard.Kind(2, 1, "sqlite", "wrk"),
            "2026-11-30-vm.json": self.KIND,
            "2026-11-29-vm.json": self.KIND,
            "2026-12-01-vm-2x-postgres.json": guard.Kind(2, 2, "postgres", "loadgen"),
            "2026-12-02-bigbox.json": guard.Kind(8, 1, "sqlite", "loadgen"),
        }

        assert guard.latest_of_kind(kinds, self.KIND) == "2026-11-30-vm.json"
        assert guard.latest_of_kind(kinds, guard.Kind(2, 1, "sqlite", "wrk")) == "2026-11-25-vm.json"
        assert guard.latest_of_kind(kinds, guard.Kind(2, 2, "postgres", "loadgen")) == "2026-12-01-vm-2x-postgres.json"

    def test_no_file_of_the_kind_is_none(self):
        assert guard.latest_of_kind({"2026-11-30-vm.json": guard.Kind(4, 1, "sqlite", "loadgen")}, self.KIND) is None

    def test_a_file_not_named_by_its_date_is_not_a_results_file(self):
        assert guard.latest_of_kind({"baseline-vm.json": self.KIND}, self.KIND) is None


class TestAgainstGit:
    """The one function the bench calls; git is replaced by what a repository would answer."""

    def committed(self, monkeypatch: pytest.MonkeyPatch, files: dict[str, str]) -> None:
        def git(*args: str) -> str:
            if args[0] == "ls-tree":
                return "\n".join(f"bench/results/{name}" for name in files)
            if args[0] == "show":
                return files[args[1].removeprefix("HEAD:bench/results/")]
            return "63fb462\n"  # log -1 --format=%h

        monkeypatch.setattr(guard, "git", git)

    def report(self, accepted: int) -> dict:
        return {**settings(), "runs": [echo(), *a_round(1, accepted=accepted, p99_ms=20.0)]}

    def test_the_committed_file_of_the_kind_is_named_with_its_commit_and_each_figure_judged(self, monkeypatch,
                                                                                            capsys):
        self.committed(monkeypatch, {"2026-12-01-vm.json": json.dumps(self.report(accepted=3_000)),
                                     "profile-order.txt": "not a report"})

        guard.compare_with_committed(self.report(accepted=2_000))

        out = capsys.readouterr().out.splitlines()
        assert out[0] == ("bench: compared with bench/results/2026-12-01-vm.json as committed in 63fb462 "
                          "(same kind: 2 cpus, 1 instance, sqlite, loadgen):")
        assert out[1].split()[-1] == "WORSE"  # orders x echo 0.030 -> 0.020
        cpu = [guard.CPU_ALL, *(guard.CPU_OF + name for name in ("order service", "product service", "kafka broker"))]
        assert out[-1] == "bench: 5 of 8 figures compared got worse beyond the noise: " + "; ".join(
            [guard.X_ECHO, *cpu])  # the same CPU seconds over two thirds of the orders; the p99s as committed

    def test_no_committed_file_of_the_kind_is_one_line(self, monkeypatch, capsys):
        self.committed(monkeypatch, {"2026-12-01-vm.json": json.dumps({**self.report(2_000), **settings(cpus=8)})})

        guard.compare_with_committed(self.report(accepted=2_000))

        assert capsys.readouterr().out == ("bench: no committed results of the same kind (2 cpus, 1 instance, "
                                           "sqlite, loadgen) in bench/results/ to compare with\n")

    def test_a_malformed_committed_file_is_one_line_and_left_out(self, monkeypatch, capsys):
        self.committed(monkeypatch, {"2026-12-01-vm.json": "{not json"})

        guard.compare_with_committed(self.report(accepted=2_000))

        out = capsys.readouterr().out.splitlines()
        assert out[0].startswith("bench: bench/results/2026-12-01-vm.json as committed is not a report the guard "
                                 "can read (JSONDecodeError: ")
        assert out[1].startswith("bench: no committed results of the same kind")

    def test_without_git_the_guard_says_so_in_one_line_and_raises_nothing(self, monkeypatch, capsys):
        def no_git(*_args: str) -> str:
            raise FileNotFoundError(2, "No such file or directory", "git")

        monkeypatch.setattr(guard, "git", no_git)

        guard.compare_with_committed(self.report(accepted=2_000))

        assert capsys.readouterr().out == ("bench: no comparison with committed results (FileNotFoundError: "
                                           "[Errno 2] No such file or directory: 'git')\n")
