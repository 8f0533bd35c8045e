"""Scenarios: dev.bisect against `git bisect run` by hand, dev.try against the scenario run
by hand against each daemon.

Both use the named-stages scenario of tests/fixtures/scenarios and the mirror's real 2017
history (MOBYLAB_TEST_MIRRORS, else ../shared/upstream beside the clone).

- scenario-bisect: `invoke dev.bisect SCENARIO --old 1325f667ee --new 3de58eb2bc` in a
  fresh workspace (no build cached, the Go caches warm) against `git bisect run` of a
  script that does what a contributor would with mobylab's own steps: `dev.build --route
  source`, `dev.up --build HEAD`, `dev.seed`, the scenario, `dev.down` (exit 125, skip,
  when the build fails). Target: within 1.15x of by hand, mobylab's steps after the first
  under 90 s each. The by-hand step is bench/bisect_by_hand.sh.
- scenario-try: `invoke dev.try SCENARIO` on the host engine and two 2017 daemons already
  built and running, against `./run` in a copy of the scenario with DOCKER_HOST on each
  daemon's socket, for named-stages (a fraction of a second an engine: mobylab's start-up
  dominates) and bench/scenarios/busy-build (a few seconds of uncached build an engine).
  Target: within 1.2x.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .common import ROOT, host_engine, remove_folder, run_quiet, run_task, scratch
from .harness import Benchmark, Ratio, Side, Stats
from .source import mirror

SCENARIO = ROOT / "tests" / "fixtures" / "scenarios" / "named-stages"
BUSY_SCENARIO = Path(__file__).parent / "scenarios" / "busy-build"
BUSY_IMAGE = "mobylab-scenario/busy-build"
TRY_SCENARIOS = (SCENARIO, BUSY_SCENARIO)
SEED_CONTEXT = ROOT / "tests" / "fixtures" / "scenarios" / "seed-image"
SEED_IMAGE = "mobylab-test/scenario-seed:1"
OLD, NEW = "1325f667eeb42b717c2f9d369f2ee6d701a280e3", "3de58eb2bca720be0f5940cdd928de7a96220174"
TRY_REFS = ("2fa8fe400d926b3ceb0c84640a8f4e0f36e51463", "2e96c1739be45f2ff8342cb3e222db3eb1616839")
BISECT_LIMIT, STEP_LIMIT, TRY_LIMIT = 1.15, 90.0, 1.20

STEP_SCRIPT = Path(__file__).with_name("bisect_by_hand.sh")


def close_all(opened: Sequence[Bisects | Tries]) -> None:
    """Stop what a benchmark's setup started."""
    for one in opened:
        one.close()


def make_seed_image() -> None:
    run_quiet(["docker", "build", "-q", "-t", SEED_IMAGE, "--label", "org.mobylab.managed=true",
               "--label", "org.mobylab.component=bench", str(SEED_CONTEXT)],
              env={"DOCKER_BUILDKIT": "0"})  # fmt: skip


class Bisects:
    """A fresh workspace per side and round: nothing built, the Go caches shared and warm."""

    def __init__(self) -> None:
        self.root = scratch("bisect")
        self.env = {"MOBYLAB_MIRRORS": str(mirror())}
        self.round = 0
        self.steps: list[float] = []

    def workspace(self, side: str) -> Path:
        return self.root / f"{side}-{self.round}" / "ws"

    def prepare(self) -> None:
        self.round += 1

    def mobylab(self) -> None:
        done = run_task(
            self.workspace("mobylab"),
            "dev.bisect", str(SCENARIO), "--old", OLD, "--new", NEW, "--json",
            env=self.env, timeout=7200,
        )  # fmt: skip
        report = json.loads(done.stdout)
        assert report["first_commit"] == TRY_REFS[1], report["first_commit"]
        self.steps += [s["build_seconds"] + s["result"]["seconds"] for s in report["steps"][1:]]

    def by_hand(self) -> None:
        workspace = self.workspace("by-hand")
        checkout = workspace.parent / "moby"
        run_quiet(["git", "init", "-q", str(checkout)])
        # A shallow mirror gives the range with its shallow roots: --update-shallow.
        mirror_url = f"file://{mirror()}/moby.git"
        # dev.build fetches the era's fixes from the checkout's origin.
        run_quiet(["git", "-C", str(checkout), "remote", "add", "origin", mirror_url])
        run_quiet(["git", "-C", str(checkout), "fetch", "-q", "--update-shallow", "origin", NEW])
        run_quiet(["git", "-C", str(checkout), "checkout", "-q", "--detach", NEW])
        env = {**self.env, "MOBYLAB_CLONE": str(ROOT), "MOBYLAB_WORKSPACE": str(workspace),
               "SCENARIO": str(SCENARIO), "SEED": SEED_IMAGE,
               "SCRATCH": str(workspace.parent / "scratch")}  # fmt: skip
        git = ["git", "-C", str(checkout)]
        # The same search: both ends are tested first (exit 0: absent, 1: present).
        for commit, expected in ((OLD, 0), (NEW, 1)):
            run_quiet([*git, "checkout", "-q", "--detach", commit])
            end = run_quiet([str(STEP_SCRIPT)], cwd=checkout, env=env, check=False, timeout=3600)
            assert end.returncode == expected, (commit, end.returncode)
        run_quiet([*git, "bisect", "start", "--first-parent", "--term-old=absent",
                   "--term-new=present", NEW, OLD], env=env)  # fmt: skip
        done = run_quiet([*git, "bisect", "run", str(STEP_SCRIPT)], env=env, timeout=7200)
        assert TRY_REFS[1] in done.stdout, done.stdout[-2000:]
        run_task(workspace, "dev.clean", "--yes", check=False)

    def close(self) -> None:
        for folder in self.root.glob("*/ws"):
            run_task(folder, "dev.down", "--all", check=False)
            run_task(folder, "dev.clean", "--yes", check=False)
        remove_folder(self.root)


def bisect() -> Benchmark:
    bisects: list[Bisects] = []

    def setup() -> None:
        make_seed_image()
        bisects.append(Bisects())

    def judge(stats: dict[str, Stats]) -> bool:
        return bool(bisects) and max(bisects[0].steps or [0.0]) <= STEP_LIMIT

    def extra(stats: dict[str, Stats]) -> dict[str, Any]:
        steps = bisects[0].steps if bisects else []
        return {"mobylab steps after the first (s)": [round(s, 1) for s in steps]}

    return Benchmark(
        name="scenario-bisect",
        description="the named-stages scenario bisected over 1325f667ee..3de58eb2bc (57 "
        "commits), nothing built, Go caches warm: `invoke dev.bisect` vs `git bisect run` "
        "of a script running dev.build, dev.up, dev.seed, the scenario and dev.down",
        target=f"within {BISECT_LIMIT}x of by hand, steps after the first under {STEP_LIMIT:.0f} s",
        sides=[
            Side("dev.bisect", lambda: bisects[0].mobylab(), lambda: bisects[0].prepare()),
            Side("git bisect run by hand", lambda: bisects[0].by_hand()),
        ],
        ratios=[Ratio("mobylab / by hand", "dev.bisect", "git bisect run by hand", BISECT_LIMIT)],
        judge=judge,
        extra=extra,
        setup=setup,
        teardown=lambda: close_all(bisects),
        rounds=1,
    )


class Tries:
    """One workspace with the two 2017 merges built and their daemons up, each scenario
    run once on them (so its seeds are there for both sides)."""

    def __init__(self) -> None:
        self.root = scratch("try")
        self.workspace = self.root / "ws"
        self.env = {"MOBYLAB_MIRRORS": str(mirror())}
        args = [arg for ref in TRY_REFS for arg in ("--ref", ref)]
        for scenario in TRY_SCENARIOS:
            run_task(self.workspace, "dev.try", str(scenario), *args, env=self.env, timeout=7200)
        statuses = json.loads(run_task(self.workspace, "dev.status", "--all", "--json").stdout)
        self.sockets = [host_engine().url] + [
            next(s["socket"] for s in statuses if s.get("commit") == ref) for ref in TRY_REFS
        ]

    def mobylab(self, scenario: Path) -> None:
        engines = ["--engine", "host"] + [
            a for r in TRY_REFS for a in ("--engine", f"dev:{r[:12]}")
        ]
        run_task(self.workspace, "dev.try", str(scenario), *engines, env=self.env)

    def by_hand(self, scenario: Path) -> None:
        copy = self.root / "scratch"
        for url in self.sockets:
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(scenario, copy)
            buildkit = "1" if url == host_engine().url else "0"
            env = {"DOCKER_HOST": url, "DOCKER_BUILDKIT": buildkit}
            run_quiet(["./run"], cwd=copy, env=env, check=False)

    def close(self) -> None:
        run_task(self.workspace, "dev.down", "--all", check=False)
        run_task(self.workspace, "dev.clean", "--yes", check=False)
        # What the by-hand runs left on the host (dev.try removes what it labelled).
        run_quiet(["docker", "rmi", "mobylab-scenario/named-stages", BUSY_IMAGE], check=False)
        remove_folder(self.root)


def try_built() -> Benchmark:
    tries: list[Tries] = []

    def setup() -> None:
        make_seed_image()
        tries.append(Tries())

    return Benchmark(
        name="scenario-try",
        description="two scenarios on the host engine and two 2017 dev daemons already "
        "built and up: `invoke dev.try` vs `./run` with DOCKER_HOST on each; named-stages "
        "(a fraction of a second an engine) and busy-build (a few seconds of uncached build)",
        target=f"within {TRY_LIMIT}x of by hand",
        sides=[
            Side("dev.try", lambda: tries[0].mobylab(SCENARIO)),
            Side("./run by hand", lambda: tries[0].by_hand(SCENARIO)),
            Side("dev.try busy-build", lambda: tries[0].mobylab(BUSY_SCENARIO)),
            Side("./run by hand busy-build", lambda: tries[0].by_hand(BUSY_SCENARIO)),
        ],
        ratios=[
            Ratio("mobylab / by hand", "dev.try", "./run by hand", TRY_LIMIT),
            Ratio(
                "busy-build: mobylab / by hand",
                "dev.try busy-build",
                "./run by hand busy-build",
                TRY_LIMIT,
            ),
        ],
        setup=setup,
        teardown=lambda: close_all(tries),
    )
