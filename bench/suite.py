"""The benchmark registry and its command-line entry point (`invoke bench`)."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console

from . import startup
from .harness import Benchmark, markdown_rows, measure, write_results

BENCHMARKS: dict[str, Callable[[], Benchmark]] = {
    "startup": startup.benchmark,
}


def run(only: list[str], rounds: int, console: Console) -> bool:
    """Run the chosen benchmarks; True when no target was missed."""
    unknown = [name for name in only if name not in BENCHMARKS]
    if unknown:
        raise KeyError(", ".join(unknown))
    outcomes = []
    for name, make in BENCHMARKS.items():
        if only and name not in only:
            continue
        console.print(f"[bold]{name}[/]: {rounds} rounds")
        outcome = measure(make(), rounds)
        outcomes.append(outcome)
        for row in markdown_rows([outcome]):
            console.print(row, markup=False)
    path = write_results(outcomes)
    console.print(f"results: {path}")
    return all(o.met is not False for o in outcomes)
