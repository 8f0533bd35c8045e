"""Start-up: how long a person waits for `invoke --list` and `mobylab --help`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from .common import remove_folder, scratch
from .harness import Benchmark, Ratio, Side, Stats

# What `invoke --list` and `mobylab --help` import before they print anything.
IMPORTED = "import tasks; import mobylab.tasks.program"

ROOT = Path(__file__).resolve().parents[1]
LIMIT_SECONDS = 0.5


FLOOR_TASKS = "from invoke import task\n\n\n@task\ndef hello(c):\n    pass\n"
FLOOR = "invoke --list (one empty task)"


def _quiet(argv: list[str], cwd: Path = ROOT) -> None:
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)


def benchmark() -> Benchmark:
    mobylab = str(Path(sys.executable).with_name("mobylab"))
    invoke = str(Path(sys.executable).with_name("invoke"))

    # The floor: the interpreter and invoke alone, on the same machine at the same time.
    floor = scratch("startup")
    (floor / "tasks.py").write_text(FLOOR_TASKS)

    def judge(stats: dict[str, Stats]) -> bool:
        return all(s.median < LIMIT_SECONDS for name, s in stats.items() if name != FLOOR)

    def extra(stats: dict[str, Stats]) -> dict[str, Any]:
        return {"slowest_imports": slowest_imports(IMPORTED)}

    return Benchmark(
        name="startup",
        description="`mobylab --help` and `invoke --list` in a clone, wall time; the floor is "
        "`invoke --list` over a one-task tasks.py",
        target=f"each under {LIMIT_SECONDS} s",
        sides=[
            Side("mobylab --help", lambda: _quiet([mobylab, "--help"])),
            Side("invoke --list", lambda: _quiet([invoke, "--list"])),
            Side(FLOOR, lambda: _quiet([invoke, "--list"], cwd=floor)),
        ],
        ratios=[
            Ratio("mobylab --help / floor", "mobylab --help", FLOOR),
            Ratio("invoke --list / floor", "invoke --list", FLOOR),
        ],
        judge=judge,
        teardown=lambda: remove_folder(floor),
        extra=extra,
    )


def importtime_rows(stderr: str) -> list[tuple[str, int, int]]:
    """Pure: (module, self us, cumulative us) from `python -X importtime` output.

    The module name keeps its leading spaces: two per level of nesting.
    """
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line.split(":", 1)[1].split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue
        name = parts[2][1:] if parts[2].startswith(" ") else parts[2]
        rows.append((name.rstrip(), int(parts[0]), int(parts[1])))
    return rows


def top_level(rows: list[tuple[str, int, int]], limit: int = 12) -> list[dict[str, Any]]:
    """Pure: the costliest imports by cumulative time, with who imported them (depth)."""
    ranked = sorted(rows, key=lambda row: row[2], reverse=True)
    return [
        {
            "module": name.strip(),
            "depth": (len(name) - len(name.lstrip(" "))) // 2,
            "cumulative_ms": round(cumulative / 1000, 1),
            "self_ms": round(own / 1000, 1),
        }
        for name, own, cumulative in ranked[:limit]
    ]


def slowest_imports(code: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return top_level(importtime_rows(done.stderr))
