"""Pure: judge a step from what its run saw: its checks, its verdict, its variant.

Nothing here runs a command: execute.py gathers the facts (command results, what
a variant left, and `Facts`, whose lookups a check asks on demand) and these
functions turn them into records, "not in this engine" included. Guided and
practice runs both judge through them; tests feed them plain values.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .checks import CheckCategory, Facts, category_of, evaluate, last_json, step_status
from .features import absent_reason
from .metrics import ImageFacts
from .model import Check, Step
from .records import (
    CheckResult,
    CommandResult,
    Leftover,
    StageReport,
    Status,
    StepRecord,
    VariantRecord,
    failure_reason,
)
from .stages import stage_report


@dataclass(frozen=True)
class VariantFacts:
    """What a step's variant left on the engine and in the lab."""

    image: str
    # The image as the engine reports it, None when absent.
    found: ImageFacts | None
    lines: int
    leftovers: tuple[Leftover, ...]
    # The JSON its image printed, when it runs the app.
    output: Any = None


def variant_output(commands: Sequence[CommandResult]) -> Any:
    """The JSON the last `run` command printed (the app's counts), None when none ran."""
    runs = [c for c in commands if c.role == "run"]
    return last_json(runs[-1].output) if runs else None


def reads_output(check: Check) -> bool:
    return category_of(check.type) is CheckCategory.OUTPUT


def reads_state(check: Check) -> bool:
    """A check of what is on the engine or in the work folder, not of an output."""
    return category_of(check.type) in (CheckCategory.IMAGE, CheckCategory.STATE)


def state_checks(step: Step, facts: Facts) -> dict[int, CheckResult]:
    """The step's checks of the engine's state, by their position in the step."""
    return {i: evaluate(check, facts) for i, check in enumerate(step.checks) if reads_state(check)}


def blocking_check(results: Iterable[CheckResult]) -> CheckResult | None:
    """The first failed image check: running that image would say nothing more."""
    return next(
        (r for r in results if category_of(r.type) is CheckCategory.IMAGE and r.passed is False),
        None,
    )


def expected_output(check: Check, facts: Facts, count: int) -> str:
    """What an output check expects, in its own words ("hello from mobylab"), for a
    command that did not run."""
    silent = replace(facts, outputs=[""] * count, exit_codes=[0] * count)
    return evaluate(check, silent).expected


def causes_first(checks: Iterable[CheckResult]) -> list[CheckResult]:
    """The checks with the failed image checks first: a missing or too large image
    explains why the checks that would run it failed."""
    return sorted(
        checks, key=lambda c: not (c.passed is False and category_of(c.type) is CheckCategory.IMAGE)
    )


def judge_checks(
    step: Step, facts: Facts, ran: Collection[int], done: Mapping[int, CheckResult] | None = None
) -> tuple[CheckResult, ...]:
    """The step's checks in the lab's order. `ran`: the commands that ran (by position);
    `done`: checks already decided. An output check whose command did not run fails,
    saying why: a failed image check before it, or its command not reached."""
    done = done or {}
    blocked = blocking_check(done.values())
    count = len(step.commands)
    results = []
    for index, check in enumerate(step.checks):
        if index in done:
            results.append(done[index])
        elif reads_output(check) and blocked is not None:
            seen = f"not run: {blocked.type} failed first"
            expected = expected_output(check, facts, count)
            results.append(CheckResult(check.type, False, expected, seen, check.hint))
        elif reads_output(check) and check.command % max(count, 1) not in ran:
            expected = expected_output(check, facts, count)
            results.append(CheckResult(check.type, False, expected, "it did not run", check.hint))
        else:
            results.append(evaluate(check, facts))
    return tuple(results)


def stage_record(commands: Sequence[CommandResult]) -> StageReport | None:
    """What the step's last `--target` build built and skipped."""
    found = None
    for command in commands:
        if command.target and command.stages:
            found = stage_report(
                command.stages, command.stages_built, command.builder, command.target
            )
    return found


def judge_step(
    number: int,
    step: Step,
    engine: str,
    log: str,
    commands: Sequence[CommandResult],
    checks: Sequence[CheckResult],
    *,
    by_hand: bool = False,
) -> StepRecord:
    """The step's record: passed, failed, or absent ("not in this engine").

    `by_hand` (practice): the learner did the step and the commands only probe it, so
    the checks alone decide, and a failure is the learner's, not a feature the engine
    lacks. A step that declares its needs (and so ran on an engine that has them)
    fails when it fails.
    """
    counted = () if by_hand else commands
    ran_all = by_hand or len(commands) == len(step.commands)
    status = step_status([c.exited_as_expected for c in counted], checks, ran_all)
    reason = failure_reason(counted, causes_first(checks)) if status == Status.FAILED else ""
    # A step that declared its needs ran because the engine has them: its failure is one.
    if status == Status.FAILED and not by_hand and not step.declares_needs:
        marked = [check.shows_feature for check in step.checks]
        missing = absent_reason(step.feature, counted, checks, marked)
        if missing:
            status, reason = Status.ABSENT, missing
    return StepRecord(
        index=number,
        engine=engine,
        title=step.title,
        status=status,
        reason=reason,
        log=log,
        commands=tuple(commands),
        checks=tuple(checks),
        stages=stage_record(commands),
    )


def variant_record(
    step: Step, record: StepRecord, facts: VariantFacts, *, timed: bool = True
) -> VariantRecord:
    """The step's variant as measured: a row of the comparison. `timed` False: built
    by hand (practice), so no build time."""
    variant = step.variant
    assert variant is not None
    builds = [c for c in record.commands if c.role == "build"]
    found = facts.found
    return VariantRecord(
        name=variant.name,
        engine=record.engine,
        image=facts.image,
        image_id=found.id if found else None,
        size_bytes=found.size_bytes if found else None,
        layers=found.layers if found else None,
        build_seconds=round(sum(c.seconds for c in builds), 3) if timed else None,
        cached_steps=sum(c.cached_steps for c in builds),
        commands_typed=sum(1 for c in step.commands if c.role == "build"),
        builder=next((c.builder for c in record.commands if c.builder), None),
        files=len(variant.maintain),
        maintained_files=tuple(variant.maintain),
        lines=facts.lines,
        output=facts.output,
        produces_app=variant.produces_app,
        leftovers=facts.leftovers,
        passed=record.status == Status.PASSED and found is not None,
        absent=record.status == Status.ABSENT,
    )
