"""Alternating rounds, statistics and result files for the benchmarks.

A benchmark has two or more sides (the mobylab way, the by-hand way, or one tool
at several sizes). Every round runs each side once; odd rounds run them in the
reverse order, so a side never always pays for a cold page cache or benefits
from the other's warm-up. Only `run` is timed; `prepare` (reset state) is not.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import resource
import socket
import statistics
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


@dataclass
class Side:
    """One way of doing the thing: `run` is timed; `prepare` runs before each round, untimed."""

    name: str
    run: Callable[[], Any]
    prepare: Callable[[], Any] | None = None


@dataclass(frozen=True)
class Ratio:
    """median(numerator) / median(denominator); met when at most `limit` (if any)."""

    label: str
    numerator: str
    denominator: str
    limit: float | None = None


@dataclass
class Stats:
    samples: list[float]
    median: float = 0.0
    low: float = 0.0
    high: float = 0.0

    def __post_init__(self) -> None:
        if self.samples:
            self.median = statistics.median(self.samples)
            self.low = min(self.samples)
            self.high = max(self.samples)


@dataclass
class Benchmark:
    name: str
    description: str
    target: str
    sides: list[Side]
    # Ratios to report; empty: the first side over the second, no limit.
    ratios: list[Ratio] = field(default_factory=list)
    # Absolute targets: given each side's stats, whether they are met (None: nothing to judge).
    judge: Callable[[dict[str, Stats]], bool | None] = lambda stats: None
    setup: Callable[[], Any] | None = None
    teardown: Callable[[], Any] | None = None
    # Extra numbers measured once, after the rounds (given the stats so far).
    extra: Callable[[dict[str, Stats]], dict[str, Any]] | None = None
    # False when a side depends on the one before it (a re-run after a first run).
    alternate: bool = True
    # Rounds when the command line does not say (kept small: the suite runs on demand).
    rounds: int = 3
    # Failures caused by something outside both sides (a shared engine's hiccup): the
    # round's side is prepared and run again, up to RETRIES times; counted in "retries".
    transient: Callable[[BaseException], bool] = lambda exc: False
    # Called before such a retry (wait until the cause is gone).
    recover: Callable[[], Any] = lambda: time.sleep(2)


@dataclass
class Outcome:
    name: str
    description: str
    target: str
    rounds: int
    stats: dict[str, Stats]
    ratios: dict[str, float | None]
    met: bool | None
    extra: dict[str, Any] = field(default_factory=dict)
    load: dict[str, list[float]] = field(default_factory=dict)
    error: str = ""
    # CPU seconds (user + sys) of this process and the children it waited for, per
    # side: what the side itself computed, whatever else the machine was doing.
    # Work done by daemons (dockerd, sshd) is not in it.
    cpu: dict[str, Stats] = field(default_factory=dict)


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


RETRIES = 3


def attempt(
    side: Side,
    transient: Callable[[BaseException], bool],
    recover: Callable[[], Any] = lambda: time.sleep(2),
) -> tuple[float, float, int]:
    """Prepare and time one run of a side; (wall, cpu, retries). Only the last try counts."""
    retries = 0
    while True:
        if side.prepare:
            side.prepare()
        try:
            wall, used = timed_with_cpu(side.run)
            return wall, used, retries
        except Exception as exc:
            if retries >= RETRIES or not transient(exc):
                raise
            retries += 1
            recover()


def timed_with_cpu(action: Callable[[], Any]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one call."""
    cpu = cpu_seconds()
    wall = timed(action)
    return wall, cpu_seconds() - cpu


def round_order(sides: list[Side], index: int, alternate: bool = True) -> list[Side]:
    """Pure: the sides in the order round `index` runs them (reversed every other round)."""
    return list(sides) if index % 2 == 0 or not alternate else list(reversed(sides))


def ratio_of(stats: dict[str, Stats], ratio: Ratio) -> float | None:
    """Pure: the ratio of two sides' medians, None when either is missing or zero."""
    top, bottom = stats.get(ratio.numerator), stats.get(ratio.denominator)
    if not top or not bottom or not top.samples or not bottom.samples or bottom.median <= 0:
        return None
    return top.median / bottom.median


def verdict(
    judged: bool | None, ratios: list[Ratio], values: dict[str, float | None]
) -> bool | None:
    """Pure: met when every judged part is met; None when nothing had a target."""
    parts = [] if judged is None else [judged]
    for ratio in ratios:
        if ratio.limit is None:
            continue
        value = values.get(ratio.label)
        parts.append(value is not None and value <= ratio.limit)
    if not parts:
        return None
    return all(parts)


def default_ratios(benchmark: Benchmark) -> list[Ratio]:
    if benchmark.ratios:
        return benchmark.ratios
    names = [side.name for side in benchmark.sides]
    if len(names) < 2:
        return []
    return [Ratio(f"{names[0]} / {names[1]}", names[0], names[1])]


def load_average() -> list[float]:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return []


def measure(
    benchmark: Benchmark, rounds: int, on_sample: Callable[[str, float], None] | None = None
) -> Outcome:
    """Run every side once per round, alternating which goes first, and time `run`.

    A failure anywhere ends the benchmark; the outcome then carries the error and
    counts as missed, and the samples taken so far.
    """
    samples: dict[str, list[float]] = {side.name: [] for side in benchmark.sides}
    cpu: dict[str, list[float]] = {side.name: [] for side in benchmark.sides}
    load = {"before": load_average()}
    extra: dict[str, Any] = {}
    error = ""
    try:
        if benchmark.setup:
            benchmark.setup()
        for index in range(rounds):
            for side in round_order(benchmark.sides, index, benchmark.alternate):
                seconds, used, retried = attempt(side, benchmark.transient, benchmark.recover)
                if retried:
                    extra["retries"] = extra.get("retries", 0) + retried
                samples[side.name].append(seconds)
                cpu[side.name].append(round(used, 3))
                if on_sample:
                    on_sample(side.name, seconds)
        if benchmark.extra:
            extra.update(benchmark.extra({n: Stats(v) for n, v in samples.items()}))
    except Exception as exc:  # the suite goes on with the next benchmark
        error = f"{type(exc).__name__}: {exc}".strip()
        extra["traceback"] = traceback.format_exc(limit=6)
    finally:
        try:
            if benchmark.teardown:
                benchmark.teardown()
        except Exception as exc:
            extra["teardown_error"] = f"{type(exc).__name__}: {exc}"
    load["after"] = load_average()
    stats = {name: Stats(values) for name, values in samples.items()}
    ratios = default_ratios(benchmark)
    values = {ratio.label: ratio_of(stats, ratio) for ratio in ratios}
    judged = benchmark.judge(stats)
    # An extra measurement with a target of its own says so with "met".
    extra_met = extra.get("met")
    if isinstance(extra_met, bool):
        judged = extra_met if judged is None else (judged and extra_met)
    met = False if error else verdict(judged, ratios, values)
    return Outcome(
        benchmark.name,
        benchmark.description,
        benchmark.target,
        rounds,
        stats,
        values,
        met,
        extra,
        load,
        error,
        {name: Stats(values) for name, values in cpu.items()},
    )


def machine() -> dict[str, Any]:
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {
        "host": socket.gethostname(),
        "cpus": os.cpu_count(),
        "memory": memory,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def results_path(folder: Path, now: dt.datetime, host: str) -> Path:
    """Pure: bench/results/<date>-<host>.json."""
    return folder / f"{now:%Y-%m-%d}-{host}.json"


def write_results(
    outcomes: list[Outcome], folder: Path = RESULTS, context: dict[str, Any] | None = None
) -> Path:
    """Append this run to the day's file for this host (written atomically)."""
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    path = results_path(folder, now, socket.gethostname())
    previous = json.loads(path.read_text()) if path.exists() else {"runs": []}
    previous["machine"] = machine()
    previous["runs"].append(
        {
            "at": now.isoformat(timespec="seconds"),
            **(context or {}),
            "outcomes": [asdict(o) for o in outcomes],
        }
    )
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(previous, indent=2, default=str) + "\n")
    tmp.replace(path)
    return path


def outcome_from_dict(data: dict[str, Any]) -> Outcome:
    """Pure: an Outcome read back from a results file."""

    def stats(values: dict[str, Any]) -> dict[str, Stats]:
        return {name: Stats(list(entry.get("samples", []))) for name, entry in values.items()}

    return Outcome(
        name=data["name"],
        description=data.get("description", ""),
        target=data.get("target", ""),
        rounds=int(data.get("rounds", 0)),
        stats=stats(data.get("stats", {})),
        ratios=dict(data.get("ratios", {})),
        met=data.get("met"),
        extra=dict(data.get("extra", {})),
        load=dict(data.get("load", {})),
        error=data.get("error", ""),
        cpu=stats(data.get("cpu", {})),
    )


def table_from_results(path: Path) -> list[str]:
    """The markdown table of a results file: the latest outcome of each name, the
    latest one that ran to the end when there is one."""
    runs = json.loads(path.read_text()).get("runs", [])
    latest: dict[str, Outcome] = {}
    for run in runs:
        for data in run.get("outcomes", []):
            outcome = outcome_from_dict(data)
            if outcome.error and outcome.name in latest and not latest[outcome.name].error:
                continue
            latest[outcome.name] = outcome
    return [*TABLE_HEADER, *markdown_rows(list(latest.values()))]


def seconds_text(value: float) -> str:
    """Pure: a duration for the table, ms below one second."""
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.2f} s"


def cell_text(text: str) -> str:
    """Pure: text safe inside a markdown table cell."""
    return text.replace("|", "\\|")


def markdown_rows(outcomes: list[Outcome]) -> list[str]:
    """Rows for the table in docs/benchmarks.md:
    | benchmark | side: median (min-max), cpu | ratios | target | verdict | load |"""
    rows = []
    for outcome in outcomes:
        cells = []
        for name, stats in outcome.stats.items():
            if not stats.samples:
                continue
            used = outcome.cpu.get(name)
            cpu_text = f", cpu {seconds_text(used.median)}" if used and used.samples else ""
            cells.append(
                f"{cell_text(name)}: {seconds_text(stats.median)} "
                f"({seconds_text(stats.low)}-{seconds_text(stats.high)}){cpu_text}"
            )
        ratios = "; ".join(
            f"{cell_text(label)} = {value:.2f}" if value is not None else f"{cell_text(label)} = -"
            for label, value in outcome.ratios.items()
        )
        met = {True: "met", False: "MISSED", None: "-"}[outcome.met]
        if outcome.error:
            met = "ERROR: " + cell_text(outcome.error.splitlines()[0][:160])
        load = outcome.load.get("before", [])
        load_text = f"{load[0]:.1f}" if load else "-"
        rows.append(
            f"| {outcome.name} | {'<br>'.join(cells) or '-'} | {ratios or '-'} | "
            f"{outcome.target} | {met} | {load_text} |"
        )
    return rows


TABLE_HEADER: list[str] = [
    "| benchmark | wall median (min-max), client cpu | ratio | target | verdict | load (1 min) |",
    "|---|---|---|---|---|---|",
]
