"""lab.verify of the whole catalog on the host engine against running each lab with
`--yes` one after the other (what a maintainer checking the catalog did before).

Both sides run in workspaces of their own, warm (the offline base images made, the
layer cache filled by one untimed lab.verify first); the images a round made are
removed before the next (untimed), by the run labels. Target: lab.verify within 1.1x.
"""

from __future__ import annotations

from pathlib import Path

from .common import (
    engine_hiccup,
    remove_folder,
    remove_labelled_images,
    run_task,
    scratch,
    wait_for_bridge,
)
from .harness import Benchmark, Ratio, Side

LIMIT = 1.10


def _labs() -> list[str]:
    from mobylab.catalog import available
    from mobylab.config import Settings

    return list(available(Settings()))


def _forget_runs(workspace: Path) -> None:
    """Remove the images the runs in `workspace` made, and the runs."""
    reports = workspace / "reports"
    for run in reports.iterdir() if reports.is_dir() else ():
        if (run / "report.json").is_file():
            remove_labelled_images(f"org.mobylab.run={run.name}")
    remove_folder(reports)


def verify_catalog() -> Benchmark:
    root = scratch("catalog")
    workspaces = {"lab.verify": root / "verify", "each --yes": root / "yes"}
    labs = _labs()

    def each_yes() -> None:
        for name in labs:
            run_task(workspaces["each --yes"], "lab.run", name, "--yes")

    def setup() -> None:
        # One untimed run fills the engine's layer cache for both sides.
        run_task(workspaces["lab.verify"], "lab.verify")

    def prepare(side: str) -> None:
        _forget_runs(workspaces[side])

    def teardown() -> None:
        for workspace in workspaces.values():
            _forget_runs(workspace)
        remove_folder(root)

    return Benchmark(
        name="lab-verify",
        description=f"`invoke lab.verify` of the catalog ({len(labs)} labs) on the host "
        "engine against `invoke lab.run LAB --yes` for each lab, one after the other",
        target=f"lab.verify within {LIMIT - 1:.0%} of the --yes runs",
        sides=[
            Side(
                "lab.verify",
                lambda: run_task(workspaces["lab.verify"], "lab.verify"),
                lambda: prepare("lab.verify"),
            ),
            Side("each --yes", each_yes, lambda: prepare("each --yes")),
        ],
        ratios=[Ratio("lab.verify / each --yes", "lab.verify", "each --yes", LIMIT)],
        setup=setup,
        teardown=teardown,
        transient=engine_hiccup,
        recover=wait_for_bridge,
        rounds=2,
    )
