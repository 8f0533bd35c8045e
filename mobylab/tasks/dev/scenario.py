"""dev.try and dev.bisect: one scenario asked of several engines, or of a stretch of history."""

from __future__ import annotations

import json
from typing import Any

from invoke import task

from ... import ui
from ...errors import MobylabError
from ...scenario.model import DEFAULT_TIMEOUT
from ...session import Session
from ..base import friendly_errors
from .environment import timeout_seconds

SCENARIO_HELP = (
    "an executable file, or a folder with an executable `run` (exit 0: present), or "
    "lab:NAME:STEP (a lab step's reference commands and checks)"
)
SEED_HELP = "an image on the host engine to copy into each dev daemon first (repeatable)"
TIMEOUT_HELP = "seconds the scenario may take on one engine before it counts as not tested"


@task(
    name="try",
    iterable=["engine", "ref", "seed"],
    help={
        "scenario": SCENARIO_HELP,
        "engine": "host, dev or dev:<commit> (repeatable; default host when nothing else)",
        "ref": "a tag, branch or commit to build and run (repeatable)",
        "pr": "a pull request: its head and its base, side by side",
        "seed": SEED_HELP,
        "timeout": TIMEOUT_HELP,
        "json": "print the report as JSON",
    },
)
@friendly_errors
def try_(c, scenario, engine=None, ref=None, pr=None, seed=None, timeout=None, json_=False):
    """Run a scenario on several engines: present, absent or could not test, an engine a row."""
    from ...dev.source import validate_pr
    from ...scenario.model import load_scenario
    from ...scenario.report import TRY_COLUMNS, try_rows
    from ...scenario.trial import TryRequest, try_scenario

    request = TryRequest(
        engines=tuple(engine or ()),
        refs=tuple(ref or ()),
        pr=validate_pr(pr) if pr not in (None, "") else None,
        timeout=timeout_seconds(timeout, DEFAULT_TIMEOUT),
    )
    session = Session.from_context(c)
    chosen = load_scenario(scenario, seed or (), session.settings)
    report, folder = try_scenario(session, chosen, request)
    if json_:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        rows = try_rows(report, lines=1, width=48)
        ui.out.print(ui.table(TRY_COLUMNS, rows, title=f"Scenario {report.scenario}"))
        ui.info(f"report: {folder / 'report.html'}")
    if not report.all_tested:
        raise MobylabError(
            "some engines could not be tested", "See the table and the report for why."
        )


@task(
    iterable=["seed"],
    help={
        "scenario": SCENARIO_HELP,
        "old": "the older end (a tag, branch or commit)",
        "new": "the newer end; the scenario's results at the two ends must differ",
        "all_commits": "walk every commit instead of the first-parent line (merged PRs)",
        "seed": SEED_HELP,
        "timeout": TIMEOUT_HELP,
        "json": "print the report as JSON",
    },
)
@friendly_errors
def bisect(c, scenario, old, new, all_commits=False, seed=None, timeout=None, json_=False):
    """Find the first commit between --old and --new where the scenario's result changed."""
    from ...scenario.bisect import BisectRequest, bisect_scenario
    from ...scenario.model import load_scenario
    from ...scenario.report import STEP_COLUMNS, answer_line, step_rows

    request = BisectRequest(
        old=str(old),
        new=str(new),
        first_parent=not all_commits,
        timeout=timeout_seconds(timeout, DEFAULT_TIMEOUT),
    )
    session = Session.from_context(c)
    chosen = load_scenario(scenario, seed or (), session.settings)
    report, folder = bisect_scenario(session, chosen, request)
    if json_:
        print(json.dumps(report.to_dict(), indent=2))
        return
    ui.out.print(ui.table(STEP_COLUMNS, step_rows(report.log.steps), title="Bisect steps"))
    ui.out.print(answer_line(report))
    ui.info(f"report: {folder / 'report.html'}")


TASKS: tuple[Any, ...] = (try_, bisect)
