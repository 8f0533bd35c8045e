"""Lab overhead: `invoke lab.multistage --yes` against the same docker commands in a script.

Both sides build from a copy of labs/multistage whose app.go starts with a comment
holding a nonce. Cold rounds take a new nonce per side and round, so every build
misses the layer cache from `COPY app.go` on (the `go build -a` and everything
after it; the steps before it, `go get` on the offline base, stay cached for both).
Warm rounds reuse one nonce built once before the rounds. The images a round made
are removed before the next (untimed), by their labels.
"""

from __future__ import annotations

import json
import secrets
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .common import (
    ROOT,
    BenchError,
    engine_hiccup,
    remove_folder,
    remove_labelled_images,
    retrying,
    run_quiet,
    run_task,
    scratch,
    wait_for_bridge,
)
from .harness import Benchmark, Outcome, Ratio, Side, Stats, ratio_of, verdict

SCRIPT = Path(__file__).with_name("multistage_by_hand.sh")
LAB_SOURCE = ROOT / "labs" / "multistage"
OVERHEAD_LIMIT = 1.10
RERUN_LIMIT = 0.25
EXPECTED_RUNS = 5  # the app runs once per variant


def stamped_app(text: str, nonce: str) -> str:
    """Pure: app.go with a first comment line that makes its layer new."""
    return f"// benchmark round {nonce}\n{text}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LabSides:
    """The two ways, each with its own lab copy, workspace and images."""

    def __init__(self, name: str) -> None:
        self.root = scratch(name)
        self.labs = self.root / "labs"
        self.lab = self.labs / "multistage"
        shutil.copytree(LAB_SOURCE, self.lab)
        self.app_text = (LAB_SOURCE / "app" / "app.go").read_text()
        self.config = self.root / "mobylab.yaml"
        self.config.write_text(f"mobylab:\n  labs_dir: {self.labs}\n")
        self.workspace = self.root / "ws"
        self.expected = json.loads((LAB_SOURCE / "site" / "EXPECTED.json").read_text())
        self.script_runs: list[str] = []

    def stamp(self, nonce: str) -> None:
        (self.lab / "app" / "app.go").write_text(stamped_app(self.app_text, nonce))

    # -- the mobylab way --------------------------------------------------------------
    def mobylab(self) -> None:
        run_task(self.workspace, "-f", str(self.config), "lab.multistage", "--yes")

    def lab_run_ids(self) -> list[str]:
        reports = self.workspace / "reports"
        if not reports.is_dir():
            return []
        return [p.name for p in reports.iterdir() if p.is_dir() and (p / "report.json").exists()]

    # -- the by-hand way ---------------------------------------------------------------
    def script(self) -> None:
        run_id = secrets.token_hex(4)
        self.script_runs.append(run_id)
        tag = f"mobylab-bench/multistage-{run_id}"
        done = run_quiet(
            [
                "sh",
                str(SCRIPT),
                str(self.lab),
                str(self.root / "by-hand"),
                tag,
                str(free_port()),
                run_id,
            ]
        )
        counts = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if len(counts) != EXPECTED_RUNS or any(json.loads(c) != self.expected for c in counts):
            raise BenchError(f"the script's app runs printed {counts}, not {self.expected}")

    # -- cleanup -----------------------------------------------------------------------
    def remove_images(self) -> None:
        for run_id in self.lab_run_ids():
            remove_labelled_images(f"org.mobylab.run={run_id}")
        for run_id in self.script_runs:
            remove_labelled_images(f"org.mobylab.bench={run_id}")
        reports = self.workspace / "reports"
        for run_id in self.lab_run_ids():
            # Forget the run: its images are gone.
            remove_folder(reports / run_id)
        self.script_runs.clear()

    def close(self) -> None:
        self.remove_images()
        remove_folder(self.root)


def overhead_benchmark(
    name: str,
    description: str,
    sides: dict[str, LabSides],
    prepare: Callable[[str], Any],
    setup: Callable[[], Any],
    rounds: int = 3,
) -> Benchmark:
    """mobylab against the script, each side reset by `prepare(side)` before its round."""

    def teardown() -> None:
        for side in sides.values():
            side.close()

    return Benchmark(
        name=name,
        description=description,
        target=f"mobylab within {OVERHEAD_LIMIT - 1:.0%} of the script",
        sides=[
            Side("mobylab", lambda: sides["mobylab"].mobylab(), prepare("mobylab")),
            Side("script", lambda: sides["script"].script(), prepare("script")),
        ],
        ratios=[Ratio("mobylab / script", "mobylab", "script", OVERHEAD_LIMIT)],
        setup=setup,
        teardown=teardown,
        transient=engine_hiccup,
        recover=wait_for_bridge,
        rounds=rounds,
    )


def cold() -> Benchmark:
    sides: dict[str, LabSides] = {}

    def setup() -> None:
        sides["mobylab"] = LabSides("lab-cold-mobylab")
        sides["script"] = LabSides("lab-cold-script")

    def prepare(which: str) -> Any:
        def reset() -> None:
            side = sides[which]
            side.remove_images()
            side.stamp(secrets.token_hex(8))

        return reset

    return overhead_benchmark(
        "lab-cold",
        "`invoke lab.multistage --yes` vs the same docker commands in "
        "bench/multistage_by_hand.sh, no layer cache for the app",
        sides,
        prepare,
        setup,
        rounds=2,
    )


def warm() -> Benchmark:
    """Both ways again on an app whose layers a first run of each already built."""
    sides: dict[str, LabSides] = {}
    kept: dict[str, list[str]] = {}

    def setup() -> None:
        nonce = secrets.token_hex(8)
        for which in ("mobylab", "script"):
            side = sides[which] = LabSides(f"lab-warm-{which}")
            side.stamp(nonce)
        # The first runs fill the layer cache; they are not timed.
        retrying(sides["mobylab"].mobylab)
        kept["mobylab"] = sides["mobylab"].lab_run_ids()
        retrying(sides["script"].script)
        kept["script"] = list(sides["script"].script_runs)

    def prepare(which: str) -> Any:
        def reset() -> None:
            # Keep the first run's images (they are the cache); drop the later rounds'.
            side = sides[which]
            if which == "mobylab":
                for run_id in side.lab_run_ids():
                    if run_id not in kept["mobylab"]:
                        remove_labelled_images(f"org.mobylab.run={run_id}")
                        remove_folder(side.workspace / "reports" / run_id)
            else:
                for run_id in side.script_runs:
                    if run_id not in kept["script"]:
                        remove_labelled_images(f"org.mobylab.bench={run_id}")
                side.script_runs[:] = kept["script"]

        return reset

    return overhead_benchmark(
        "lab-warm",
        "the same, with the layer cache of a first run of the same app",
        sides,
        prepare,
        setup,
    )


def rerun() -> Benchmark:
    """A first lab run on a new app, then a second one that finds its layers cached."""
    sides: dict[str, LabSides] = {}

    def setup() -> None:
        sides["lab"] = LabSides("lab-rerun")

    def new_app() -> None:
        sides["lab"].remove_images()
        sides["lab"].stamp(secrets.token_hex(8))

    def teardown() -> None:
        for side in sides.values():
            side.close()

    return Benchmark(
        name="lab-rerun",
        description="`invoke lab.multistage --yes` twice on the same app: the second run "
        "uses the layer cache of the first",
        target=f"second run under {RERUN_LIMIT:.0%} of the first",
        sides=[
            Side("first run", lambda: sides["lab"].mobylab(), new_app),
            Side("second run", lambda: sides["lab"].mobylab()),
        ],
        ratios=[Ratio("second / first", "second run", "first run", RERUN_LIMIT)],
        setup=setup,
        teardown=teardown,
        transient=engine_hiccup,
        recover=wait_for_bridge,
        alternate=False,
    )


def rerun_from(cold_outcome: Outcome, warm_outcome: Outcome) -> Outcome | None:
    """Pure: the re-run ratio from the mobylab sides of lab-cold (first runs of a new
    app) and lab-warm (runs that find the app's layers cached), without more runs."""
    first = cold_outcome.stats.get("mobylab")
    second = warm_outcome.stats.get("mobylab")
    if not first or not second or not first.samples or not second.samples:
        return None
    stats = {"first run": first, "second run": second}
    ratio = Ratio("second / first", "second run", "first run", RERUN_LIMIT)
    values = {ratio.label: ratio_of(stats, ratio)}
    cpu = {
        "first run": cold_outcome.cpu.get("mobylab", Stats([])),
        "second run": warm_outcome.cpu.get("mobylab", Stats([])),
    }
    return Outcome(
        name="lab-rerun",
        description="derived: lab-warm's mobylab runs over lab-cold's",
        target=f"second run under {RERUN_LIMIT:.0%} of the first",
        rounds=min(cold_outcome.rounds, warm_outcome.rounds),
        stats=stats,
        ratios=values,
        met=verdict(None, [ratio], values),
        load=warm_outcome.load,
        cpu=cpu,
    )
