"""Start-up: how long a person waits for `invoke --list` and `mobylab --help`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .harness import Benchmark, Side, Stats

ROOT = Path(__file__).resolve().parents[1]
LIMIT_SECONDS = 0.5


def _quiet(argv: list[str]) -> None:
    subprocess.run(argv, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)


def benchmark() -> Benchmark:
    mobylab = str(Path(sys.executable).with_name("mobylab"))
    invoke = str(Path(sys.executable).with_name("invoke"))

    def judge(stats: dict[str, Stats]) -> bool:
        return all(s.median < LIMIT_SECONDS for s in stats.values())

    return Benchmark(
        name="startup",
        description="`mobylab --help` and `invoke --list` in a clone, wall time",
        target=f"each under {LIMIT_SECONDS} s",
        sides=[
            Side("mobylab --help", lambda: _quiet([mobylab, "--help"])),
            Side("invoke --list", lambda: _quiet([invoke, "--list"])),
        ],
        judge=judge,
    )
