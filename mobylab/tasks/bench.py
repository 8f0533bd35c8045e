"""bench: run the benchmarks, from a clone only (bench/ is not installed with the package)."""

from __future__ import annotations

import sys
from pathlib import Path

from invoke import task

from .. import ui
from ..errors import MobylabError, UsageError
from .base import friendly_errors

REPO = Path(__file__).resolve().parents[2]


@task(
    iterable=["only"],
    help={
        "only": "run just this benchmark (repeat the flag for several)",
        "rounds": "rounds per benchmark (default: each benchmark's own, mostly 3)",
    },
)
@friendly_errors
def bench(c, only=None, rounds=None):
    """Run the benchmarks (from a clone): the mobylab way against the by-hand way, alternating."""
    if not (REPO / "bench" / "suite.py").exists():
        raise MobylabError(
            "bench runs from a clone of mobylab: its benchmarks are not installed with the package"
        )
    if rounds is not None and int(rounds) < 1:
        raise UsageError(f"--rounds must be at least 1, not {rounds}")
    sys.path.insert(0, str(REPO))
    from bench import suite

    try:
        met = suite.run(list(only or []), int(rounds) if rounds is not None else None, ui.out)
    except KeyError as exc:
        names = ", ".join(suite.BENCHMARKS)
        raise UsageError(f"unknown benchmark {exc.args[0]}", f"Choose from: {names}.") from None
    if not met:
        raise MobylabError("a benchmark missed its target", "See the table above.")
