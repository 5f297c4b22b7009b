"""The figures that guard themselves: the headline figures of a report, over its rounds, and this run's beside
the last committed results of the same kind, figure by figure, each judged against its noise.

A report's headline figures come from each round's closed-loop order run (accepted orders/s, that against
the echo, CPU milliseconds per accepted order) and open-loop run at half that rate (p99, propagation p99).
Over the rounds: the median, min, max, and the relative noise (max - min) / median. A results file written
before rounds (no "headline") is read as one round, whose noise is unknown.

The committed file is read from git (HEAD's blob), never from the working tree: this very run may just have
overwritten the file of the day. "The same kind" is the same number of CPUs, service instances, database and
closed-loop tool; among those, the latest by the date in its name. The guard only prints: the bench's exit
status stays the correctness verdict's, and nothing here can stop the bench (any failure is one line).
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
from pathlib import Path
from typing import Any, NamedTuple

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = "bench/results"

ORDERS_PER_S = "orders/s"
X_ECHO = "orders x echo"
CPU_ALL = "CPU ms per accepted order, all processes"
CPU_OF = "CPU ms per accepted order, "  # + the process's name, for each process in "all processes"
P99_HALF = "p99 ms at half rate"
STOCK_P99 = "propagation p99 ms at half rate, stock"
MESSAGE_P99 = "propagation p99 ms at half rate, message"
NOT_THE_SYSTEM = ("echo", "load tool")  # watched, but no part of what an order costs

# The least relative change the guard calls worse or better, however calm the rounds were: three rounds
# understate the run-to-run spread. BENCHMARKS.md: the closed-loop rate moves by about +-10% from run to run,
# and the CPU per order with it; the open-loop p99 by +-50%, and the propagation p99 is measured in the same run.
X_ECHO_FLOOR = 0.10
CPU_FLOOR = 0.10
P99_FLOOR = 0.50
PROPAGATION_FLOOR = 0.50

# "<date>-<host>.json", or "<date>-<host>-<N>x-<db>.json" for another configuration (report.write).
RESULT_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2})-.+\.json$")


class Rule(NamedTuple):
    higher_is_better: bool
    floor: float


def rule_of(figure: str) -> Rule | None:
    """How a figure is judged; None for orders/s, which measures the machine as much as the code (x echo is
    its comparable form)."""
    if figure == X_ECHO:
        return Rule(higher_is_better=True, floor=X_ECHO_FLOOR)
    if figure.startswith(CPU_OF):
        return Rule(higher_is_better=False, floor=CPU_FLOOR)
    if figure == P99_HALF:
        return Rule(higher_is_better=False, floor=P99_FLOOR)
    if figure in (STOCK_P99, MESSAGE_P99):
        return Rule(higher_is_better=False, floor=PROPAGATION_FLOOR)
    return None


# --- A report's figures ---------------------------------------------------------------------------------


def accepted_rate(run: dict[str, Any]) -> float:
    """Accepted (201) answers per second, as report.print_configuration counts them."""
    seconds = run["duration_us"] / 1e6
    return run["statuses"].get("201", 0) / seconds if seconds else 0.0


def cpu_ms_per_order(run: dict[str, Any]) -> dict[str, float]:
    """CPU milliseconds each watched process used per accepted (201) answer of `run`; {} without any."""
    accepted = run["statuses"].get("201", 0)
    if not accepted:
        return {}
    return {key: seconds * 1000 / accepted for key, seconds in run.get("cpu_seconds", {}).items()}


def figures_of_round(echo_rate: float, closed: dict[str, Any], open_loop: dict[str, Any]) -> dict[str, float]:
    """One round's headline figures; a figure the runs cannot give (no echo rate, no accepted order, no
    propagation, a file from before CPU seconds were kept) is left out rather than guessed."""
    rate = accepted_rate(closed)
    figures = {ORDERS_PER_S: rate}
    if echo_rate:
        figures[X_ECHO] = rate / echo_rate
    per_order = {key: ms for key, ms in cpu_ms_per_order(closed).items() if key not in NOT_THE_SYSTEM}
    if per_order:
        figures[CPU_ALL] = sum(per_order.values())
        figures.update({CPU_OF + key: ms for key, ms in per_order.items()})
    figures[P99_HALF] = open_loop["latency_us"]["p99"] / 1000
    for figure, destination in ((STOCK_P99, "stock taken"), (MESSAGE_P99, "message recorded")):
        p99 = open_loop.get("propagation", {}).get(destination, {}).get("p99_ms")
        if p99 is not None:
            figures[figure] = p99
    return figures


def round_figures(runs: list[dict[str, Any]]) -> list[dict[str, float]]:
    """Each round's figures, in round order. The echo is the first echo run (the closed-loop tool's); a run
    without "round" (a file from before rounds) is round 1."""
    echo_rate = next(r["rate"] for r in runs if r["short"].startswith("echo/"))
    rounds: dict[int, dict[str, dict[str, Any]]] = {}
    for r in runs:
        if r["short"].startswith("orders/"):
            rounds.setdefault(r.get("round", 1), {})["closed"] = r
        elif r["short"].startswith("orders open"):
            rounds.setdefault(r.get("round", 1), {})["open"] = r
    return [figures_of_round(echo_rate, pair["closed"], pair["open"]) for _, pair in sorted(rounds.items())]


def spread(values: list[float]) -> dict[str, float | None]:
    """Median, min, max, and the relative noise (max - min) / median: unknown (None) from a single value."""
    median = statistics.median(values)
    noise = (max(values) - min(values)) / median if len(values) > 1 and median else None
    return {"median": round(median, 4), "min": round(min(values), 4), "max": round(max(values), 4),
            "noise": None if noise is None else round(noise, 4)}


def summarise(per_round: list[dict[str, float]]) -> dict[str, Any]:
    """The "headline" of a report: the rounds, and each figure's spread over the rounds that have it."""
    names = dict.fromkeys(name for figures in per_round for name in figures)
    return {"rounds": len(per_round),
            "figures": {name: spread([f[name] for f in per_round if name in f]) for name in names}}


def headline_of(report: dict[str, Any]) -> dict[str, Any]:
    """A report's headline: its own, or, for a file from before rounds, derived from its runs."""
    return report.get("headline") or summarise(round_figures(report["runs"]))


# --- Which committed file ---------------------------------------------------------------------------------


class Kind(NamedTuple):
    cpus: int
    instances: int
    database: str
    tool: str

    def describe(self) -> str:
        return (f"{self.cpus} cpus, {self.instances} instance{'' if self.instances == 1 else 's'}, "
                f"{self.database}, {self.tool}")


def kind_of(report: dict[str, Any]) -> Kind:
    """Files from before --instances and --database have neither setting: one instance on SQLite."""
    s = report["settings"]
    return Kind(report["machine"]["cpus"], s.get("instances", 1), s.get("database", "sqlite"),
                s["closed_loop_tool"])


def latest_of_kind(kinds: dict[str, Kind], kind: Kind) -> str | None:
    """Of results files (name: kind), the latest of `kind` by the date in its name (when it was measured: a
    later run the same day replaces the file); None when there is none."""
    dated = [(match[1], name) for name, its in kinds.items() if its == kind and (match := RESULT_NAME.match(name))]
    return max(dated)[1] if dated else None


# --- The judgement ----------------------------------------------------------------------------------------


def noise_of(rule: Rule, new_noise: float | None, old_noise: float | None) -> float:
    """The larger of the two runs' spreads, at least the figure's floor; an unknown spread counts for nothing."""
    return max(rule.floor, new_noise or 0.0, old_noise or 0.0)


def judge(new: float, old: float, noise: float, *, higher_is_better: bool) -> str:
    """"worse" or "better" when `new` is off the committed `old` by more than `noise` (relative to `old`)."""
    change = (new - old) / old
    gain = change if higher_is_better else -change
    if gain < -noise:
        return "worse"
    if gain > noise:
        return "better"
    return "within noise"


def value_text(figure: str, value: float) -> str:
    return f"{value:.3f}" if figure == X_ECHO else f"{value:.2f}" if figure.startswith(CPU_OF) else f"{value:.1f}"


def comparison(new: dict[str, Any], old: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """One line per judged figure of either headline's "figures", and the verdict on each figure in both."""
    judged = [(name, rule) for name in dict.fromkeys([*new, *old]) if (rule := rule_of(name)) is not None]
    width = max((len(name) for name, _ in judged), default=0)
    lines, verdicts = [], {}
    for name, rule in judged:
        if name not in old or name not in new:
            missing = "not in the committed file" if name not in old else "not measured in this run"
            lines.append(f"  {name.ljust(width)}  {missing}")
            continue
        before, now = old[name]["median"], new[name]["median"]
        change = f"{value_text(name, before):>7} -> {value_text(name, now):<7}"
        if not before:
            lines.append(f"  {name.ljust(width)}  {change}  not judged (the committed median is 0)")
            continue
        noise = noise_of(rule, new[name]["noise"], old[name]["noise"])
        verdicts[name] = judge(now, before, noise, higher_is_better=rule.higher_is_better)
        lines.append(f"  {name.ljust(width)}  {change}  {(now - before) / before:+.0%} (noise {noise:.0%})  "
                     f"{'WORSE' if verdicts[name] == 'worse' else verdicts[name]}")
    return lines, verdicts


# --- Against git ------------------------------------------------------------------------------------------


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=REPO, check=False, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise OSError(f"git {args[0]}: {done.stderr.strip() or f'status {done.returncode}'}")
    return done.stdout


def committed_reports() -> dict[str, dict[str, Any]]:
    """HEAD's results files by name, as committed. A file that is not a report is one line, and left out."""
    reports = {}
    for path in git("ls-tree", "--name-only", "HEAD", f"{RESULTS}/").split():
        name = path.rsplit("/", 1)[-1]
        if not RESULT_NAME.match(name):
            continue
        try:
            report = json.loads(git("show", f"HEAD:{path}"))
            kind_of(report)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            print(f"bench: {path} as committed is not a report the guard can read "
                  f"({type(error).__name__}: {error}); left out", flush=True)
            continue
        reports[name] = report
    return reports


def compare_with_committed(report: dict[str, Any]) -> None:
    """Print this run's headline figures beside those of the last committed results of the same kind. Never
    raises: the guard informs, and the bench goes on to its verdict whatever happens here."""
    try:
        print_comparison(report)
    except Exception as error:  # noqa: BLE001 - any failure of the guard is one line, never the bench's failure
        print(f"bench: no comparison with committed results ({type(error).__name__}: {error})", flush=True)


def print_comparison(report: dict[str, Any]) -> None:
    kind = kind_of(report)
    reports = committed_reports()
    name = latest_of_kind({n: kind_of(r) for n, r in reports.items()}, kind)
    if name is None:
        print(f"bench: no committed results of the same kind ({kind.describe()}) in {RESULTS}/ to compare with",
              flush=True)
        return
    path = f"{RESULTS}/{name}"
    commit = git("log", "-1", "--format=%h", "HEAD", "--", path).strip()
    print(f"bench: compared with {path} as committed in {commit} (same kind: {kind.describe()}):")
    lines, verdicts = comparison(headline_of(report)["figures"], headline_of(reports[name])["figures"])
    print("\n".join(lines))
    worse = [figure for figure, verdict in verdicts.items() if verdict == "worse"]
    print(f"bench: {len(worse)} of {len(verdicts)} figures compared got worse beyond the noise"
          + (f": {'; '.join(worse)}" if worse else ""), flush=True)
