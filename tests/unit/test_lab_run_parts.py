"""The lab run's pure parts on plain data: the set-up (setup.plan_run) and the judging
(judge): which checks could run, failed or "not in this engine", and the variant's row."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from mobylab.lab.bases import BaseImages
from mobylab.lab.checks import Facts
from mobylab.lab.judge import (
    VariantFacts,
    causes_first,
    judge_checks,
    judge_step,
    state_checks,
    variant_record,
)
from mobylab.lab.metrics import ImageFacts
from mobylab.lab.model import Check, Command, Lab, Step, Variant
from mobylab.lab.records import CommandResult, Report, Status, StepRecord
from mobylab.lab.setup import RunOptions, plan_run

BASES = BaseImages("golang:x", "alpine:y", offline=False, reason="test")
BUILD = Command("docker build -t {tag_prefix}:multi .", "build")
RUN = Command("docker run --rm {tag_prefix}:multi", "run")
IMAGE = Check(type="image-exists", image="{tag_prefix}:multi")
VALUES = {"tag_prefix": "t"}
OUTPUT = Check(type="output-contains", expected="hello", command=-1)
STEP = Step(
    title="Multi-stage",
    commands=(BUILD, RUN),
    checks=(IMAGE, OUTPUT),
    variant=Variant(name="multi-stage", image="{tag_prefix}:multi"),
    feature="named stages",
)
LAB = Lab(name="hello", path=Path("labs/hello"), title="Hello", steps=(STEP, STEP, STEP))


def result(command: Command, code: int = 0, tail: tuple[str, ...] = ()) -> CommandResult:
    return CommandResult(
        command.text, tuple(command.text.split()), code, 1.5, tail, command.role, cached_steps=2
    )


def test_a_run_is_planned_from_plain_data() -> None:
    setup = plan_run(
        LAB, RunOptions(from_step=2), reports=Path("r"), runs=Path("w"), bases=BASES, run_id="new"
    )
    assert setup.numbers == (2, 3) and setup.run_id == "new" and not setup.whole
    assert setup.report_dir == Path("r/new") and setup.workdir("host") == Path("w/new/host")
    assert setup.values("http://site")["tag_prefix"] == "mobylab-lab/hello-new"
    earlier = Report(
        lab="hello",
        title="Hello",
        run_id="old",
        started="then",
        steps=tuple(StepRecord(n, "host", "Multi-stage", Status.PASSED) for n in (1, 2, 3)),
    )
    resumed = plan_run(
        LAB,
        RunOptions(step=2),
        reports=Path("r"),
        runs=Path("w"),
        bases=BASES,
        run_id="new",
        previous=earlier,
        expected={"n": 1},
    )
    assert resumed.run_id == "old" and resumed.numbers == (2,)
    report = resumed.start_report([])
    assert [s.index for s in report.steps] == [1, 3] and report.started == "then"
    # Against a real site the app's exact output is unknown.
    real = plan_run(LAB, RunOptions(url="http://x"), reports=Path("r"), runs=Path("w"),
                    bases=BASES, run_id="n", expected={"n": 1})  # fmt: skip
    assert real.expected is None and real.start_report([]).site == "real"


def test_output_checks_that_could_not_run_fail_saying_why() -> None:
    missing = Facts(image_exists=lambda ref: False, values=VALUES)
    done = state_checks(STEP, missing)
    assert list(done) == [0] and done[0].passed is False
    blocked = judge_checks(STEP, missing, [], done)
    # The output check says what it wanted in its own words, and which check failed first.
    assert (blocked[1].expected, blocked[1].seen) == (
        "output containing 'hello'",
        "not run: image-exists failed first",
    )
    present = Facts(image_exists=lambda ref: True, values=VALUES)
    not_reached = judge_checks(STEP, present, [0])
    assert (not_reached[1].expected, not_reached[1].seen) == (
        "output containing 'hello'",
        "it did not run",
    )
    ran = judge_checks(STEP, Facts(outputs=["", "hello"], exit_codes=[0, 0],
                                   image_exists=lambda ref: True, values=VALUES),
                       [0, 1])  # fmt: skip
    assert [c.passed for c in ran] == [True, True]


def test_a_failure_leads_with_its_cause_the_image_check() -> None:
    output_first = replace(STEP, checks=(OUTPUT, IMAGE))
    missing = Facts(image_exists=lambda ref: False, values=VALUES)
    checks = judge_checks(output_first, missing, [], state_checks(output_first, missing))
    record = judge_step(1, output_first, "host", "log", [], checks, by_hand=True)
    assert record.reason == "image-exists: expected image t:multi, saw no image t:multi"
    assert [c.type for c in causes_first(record.checks)] == ["image-exists", "output-contains"]


def test_a_refused_build_is_not_in_this_engine_a_broken_one_fails() -> None:
    checks = judge_checks(STEP, Facts(image_exists=lambda ref: False, values=VALUES), [0])
    refused = result(BUILD, 1, ("Error response from daemon: invalid reference format",))
    record = judge_step(2, STEP, "dev", "log", [refused], checks)
    assert record.status is Status.ABSENT and record.reason == "invalid reference format"
    unreachable = result(BUILD, 1, ("Cannot connect to the Docker daemon",))
    failed = judge_step(2, STEP, "dev", "log", [unreachable], checks)
    assert failed.status is Status.FAILED and failed.reason.startswith("`docker build")
    # Practice: the learner built it; only the checks decide, and it is their failure.
    by_hand = judge_step(2, STEP, "dev", "log", [], checks, by_hand=True)
    assert by_hand.status is Status.FAILED and by_hand.reason.startswith("image-exists:")


def test_the_variant_row_from_what_the_engine_reported() -> None:
    ran = Facts(outputs=["", "hello"], exit_codes=[0, 0], image_exists=lambda ref: True,
                values=VALUES)  # fmt: skip
    checks = judge_checks(STEP, ran, [0, 1])
    record = judge_step(2, STEP, "host", "log", [result(BUILD), result(RUN)], checks)
    assert record.status is Status.PASSED
    facts = VariantFacts("t:multi", ImageFacts("t:multi", "sha256:1", 7_000_000, 2, "/"), 3, (),
                         {"n": 1})  # fmt: skip
    row = variant_record(STEP, record, facts)
    assert (row.size_bytes, row.layers, row.build_seconds, row.cached_steps) == (
        7_000_000, 2, 1.5, 2,
    )  # fmt: skip
    assert row.passed and row.output == {"n": 1} and row.commands_typed == 1
    assert variant_record(STEP, record, facts, timed=False).build_seconds is None
