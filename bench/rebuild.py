"""A build that is already built: `invoke dev.build` on a built commit, against the
fixture's own `make tgz` (which runs the whole build every time).

The by-hand side runs in a second clone of the same commit, with the make command
line mobylab would use (dev.build_upstream.make_argv: the engine refuses --privileged, so
the Makefile's docker run gets the fallback security flags).
"""

from __future__ import annotations

import secrets
from typing import Any

from .common import engine_hiccup, run_quiet, run_task, wait_for_bridge
from .devfixture import shared_build
from .harness import Benchmark, Side, Stats

LIMIT_SECONDS = 1.0


def benchmark() -> Benchmark:
    state: dict[str, Any] = {}

    def setup() -> None:
        state["build"] = shared_build()

    def mobylab_build() -> None:
        build = state["build"]
        done = run_task(build.workspace, "dev.build", "--checkout", str(build.checkout))
        if "already built" not in done.stdout + done.stderr:
            raise RuntimeError("dev.build built again: " + done.stderr.strip()[-300:])

    def make_tgz() -> None:
        from mobylab.dev.build_upstream import make_argv

        build = state["build"]
        argv, _ = make_argv(build.plan, security=build.security, build_id=secrets.token_hex(4))
        run_quiet(argv, cwd=build.by_hand, timeout=1800)

    def judge(stats: dict[str, Stats]) -> bool:
        return stats["dev.build"].median < LIMIT_SECONDS

    return Benchmark(
        name="dev-build-built",
        description="`invoke dev.build` on a commit already built (2017 fixture) vs the "
        "fixture's `make tgz`, which rebuilds",
        target=f"dev.build under {LIMIT_SECONDS:.0f} s",
        sides=[Side("dev.build", mobylab_build), Side("make tgz", make_tgz)],
        judge=judge,
        setup=setup,
        transient=engine_hiccup,
        recover=wait_for_bridge,
    )
