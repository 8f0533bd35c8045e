"""A lab's step as a scenario (`lab:NAME:STEP`): its reference commands, then its checks.

It runs as `lab.verify` runs a lab (the guided run's execute and judge), on the engine
under test, from the lab's first step to the one named: the steps before it set up
its state (the images it uses), and must pass. Present when every check of the step
passes; absent when one fails (or the engine refuses what the step shows); could not
test when the step could not run: the engine lacks what it declares it needs ("not
in this engine: needs API 1.44": it was not run, so it says nothing either way), or
a step before it did not set up. The lab's base images are the scenario's seeds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from ..engine import Engine
from ..errors import EngineError, Interrupted, MobylabError
from ..lab.bases import prepare_bases
from ..lab.execute import base_refs, engine_record, remove_run_resources
from ..lab.features import lacking_need
from ..lab.records import Status as StepStatus
from ..lab.records import StepRecord
from ..lab.runner import GuidedRun
from ..lab.setup import RunOptions, lab_bases, prepare
from ..lab.verify import VerifyPresenter, cell_of
from ..session import Session
from .model import TAIL_LINES, Scenario, time_limit_or
from .records import ScenarioResult
from .search import Outcome

# Where in a scenario's folder the lab run's report (and its step logs) are kept.
LAB_REPORT = "lab"


def with_lab_seeds(session: Session, host: Engine, scenario: Scenario) -> Scenario:
    """A lab step with its lab's base images among its seeds (made on the host engine
    when they are mobylab's offline ones, as lab runs make them); others as they are."""
    if scenario.lab_step is None:
        return scenario
    lab = scenario.lab_step.lab
    bases = lab_bases(session, lab)
    if bases.offline:
        prepare_bases(host, session.workspace, session.settings, lab.images)
    seeds = tuple(dict.fromkeys([*scenario.seeds, *base_refs(lab, bases)]))
    return dataclasses.replace(scenario, seeds=seeds)


def step_verdict(
    records: Sequence[StepRecord], number: int, lacking: str = ""
) -> tuple[Outcome, str, StepRecord | None]:
    """Pure: what a run of the lab up to step `number` says of that step as a scenario,
    why, and the record that decided it. `lacking`: what the engine lacks of the step's
    declared needs (the run was then not made)."""
    if lacking:
        return Outcome.UNTESTED, f"not in this engine: {lacking}", None
    by_index = {record.index: record for record in records}
    for index in range(1, number):
        before = by_index.get(index)
        if before is None or before.status is not StepStatus.PASSED:
            return Outcome.UNTESTED, f"step {index} did not set up: {cell_of(before).text}", before
    judged = by_index.get(number)
    if judged is None:
        return Outcome.UNTESTED, f"step {number} did not run", None
    if judged.status is StepStatus.PASSED:
        return Outcome.PRESENT, "every check passed", judged
    # FAILED, or ABSENT: the engine refused or ignored what the step shows.
    if judged.status in (StepStatus.FAILED, StepStatus.ABSENT):
        return Outcome.ABSENT, cell_of(judged).text, judged
    return Outcome.UNTESTED, cell_of(judged).text, judged


def step_tail(record: StepRecord) -> tuple[str, ...]:
    """Pure: a step's last lines: its last command's output, then what each check saw
    (the last line, the one a table shows, is the behaviour's)."""
    output = record.commands[-1].output_tail if record.commands else ()
    checks = [
        f"{c.type}: {c.seen}" if c.passed else f"{c.type}: expected {c.expected}, saw {c.seen}"
        for c in record.checks
        if c.passed is not None
    ]
    return (*output, *checks)[-TAIL_LINES:]


def run_lab_step(
    session: Session,
    scenario: Scenario,
    engine: Engine,
    *,
    run_id: str,
    folder: Path,
    timeout: float,
) -> ScenarioResult:
    """Run the lab up to the scenario's step on `engine`, its report under `folder`; what
    the run made (labelled with `run_id`) is removed after. Ctrl-C is raised."""
    asked = scenario.lab_step
    assert asked is not None
    lab, number = asked.lab, asked.number
    options = RunOptions(yes=True, engine=engine.name, until=number, time_limit=timeout)
    setup = dataclasses.replace(
        prepare(session, lab, options, run_id=run_id), report_dir=folder / LAB_REPORT
    )
    record = engine_record(session, setup, engine)
    lacking = lacking_need(lab.steps[number - 1], record)
    if lacking:
        outcome, reason, _ = step_verdict((), number, lacking)
        return ScenarioResult(outcome, reason, 0.0, (), "", record.builder, record.builder_reason)
    run = GuidedRun(session, setup, VerifyPresenter(lab.name), engines=[engine])
    started = time.monotonic()
    try:
        report = run.run()
    except Interrupted:
        raise
    except MobylabError as exc:
        seconds = time.monotonic() - started
        return ScenarioResult.untested(
            time_limit_or(exc.message, seconds, timeout), seconds, str(setup.report_dir)
        )
    finally:
        shutil.rmtree(setup.workdir(engine.name), ignore_errors=True)
        with contextlib.suppress(OSError):
            setup.runs_dir.rmdir()  # when no other engine's copy is in it
        with contextlib.suppress(EngineError):
            remove_run_resources(engine, run_id)
    outcome, reason, decided = step_verdict(report.steps, number)
    return ScenarioResult(
        outcome=outcome,
        reason=reason,
        seconds=time.monotonic() - started,
        tail=step_tail(decided) if decided is not None else (),
        log=(decided.log if decided is not None else None) or report.paths.get("md", ""),
        builder=record.builder,
        builder_reason=record.builder_reason,
    )
