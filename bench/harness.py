"""Alternating rounds, statistics and result files for the benchmarks."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import socket
import statistics
import time
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


@dataclass
class Benchmark:
    name: str
    description: str
    target: str
    sides: list[Side]
    # Given each side's stats, whether the target is met (None: nothing to judge).
    judge: Callable[[dict[str, Stats]], bool | None] = lambda stats: None
    setup: Callable[[], Any] | None = None
    teardown: Callable[[], Any] | None = None
    extra: Callable[[], dict[str, Any]] | None = None


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
class Outcome:
    name: str
    description: str
    target: str
    rounds: int
    stats: dict[str, Stats]
    ratio: float | None
    met: bool | None
    extra: dict[str, Any] = field(default_factory=dict)


def timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def measure(benchmark: Benchmark, rounds: int) -> Outcome:
    """Run every side once per round, alternating which goes first, and time `run`."""
    samples: dict[str, list[float]] = {side.name: [] for side in benchmark.sides}
    if benchmark.setup:
        benchmark.setup()
    try:
        for index in range(rounds):
            order = benchmark.sides if index % 2 == 0 else list(reversed(benchmark.sides))
            for side in order:
                if side.prepare:
                    side.prepare()
                samples[side.name].append(timed(side.run))
        extra = benchmark.extra() if benchmark.extra else {}
    finally:
        if benchmark.teardown:
            benchmark.teardown()
    stats = {name: Stats(values) for name, values in samples.items()}
    names = [side.name for side in benchmark.sides]
    ratio = None
    if len(names) >= 2 and stats[names[1]].median > 0:
        ratio = stats[names[0]].median / stats[names[1]].median
    return Outcome(
        benchmark.name,
        benchmark.description,
        benchmark.target,
        rounds,
        stats,
        ratio,
        benchmark.judge(stats),
        extra,
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


def write_results(outcomes: list[Outcome], folder: Path = RESULTS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    path = folder / f"{now:%Y-%m-%d}-{socket.gethostname()}.json"
    previous = json.loads(path.read_text()) if path.exists() else {"runs": []}
    previous["machine"] = machine()
    previous["runs"].append(
        {"at": now.isoformat(timespec="seconds"), "outcomes": [asdict(o) for o in outcomes]}
    )
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(previous, indent=2) + "\n")
    tmp.replace(path)
    return path


def markdown_rows(outcomes: list[Outcome]) -> list[str]:
    """Rows for the table in docs/benchmarks.md."""
    rows = []
    for outcome in outcomes:
        cells = []
        for name, stats in outcome.stats.items():
            cells.append(f"{name}: {stats.median:.3f} s ({stats.low:.3f}-{stats.high:.3f})")
        ratio = f"{outcome.ratio:.2f}" if outcome.ratio is not None else "-"
        met = {True: "met", False: "MISSED", None: "-"}[outcome.met]
        rows.append(f"| {outcome.name} | {'; '.join(cells)} | {ratio} | {outcome.target} | {met} |")
    return rows
