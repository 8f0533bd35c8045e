"""Whether a failed step is an engine lacking its feature, in the daemon's words, and the
features x engines matrix of a report."""

from __future__ import annotations

import pytest

from mobylab.lab.features import (
    absent_reason,
    cell_text,
    daemon_words,
    refused_before_building,
)
from mobylab.lab.records import (
    CheckResult,
    CommandResult,
    FeatureCell,
    Status,
    StepRecord,
    feature_matrix,
)
from mobylab.lab.stages import StageLog

ABSENT = Status.ABSENT

# A 2017 daemon reading `FROM x AS builder` as an image reference.
LEGACY_REFUSED = """\
Sending build context to Docker daemon  4.096kB
Step 1/15 : FROM mobylab/golang:1.19-bookworm AS builder
Error response from daemon: invalid reference format""".splitlines()

LEGACY_FAILED_BUILDING = """\
Sending build context to Docker daemon  4.096kB
Step 1/15 : FROM mobylab/golang:1.19-bookworm
 ---> fa4825dbe13c
Step 2/15 : WORKDIR /go/src/app
 ---> Using cache
Step 3/15 : RUN go build -o app .
 ---> Running in 1b2c3d4e5f60
main.go:3:8: cannot find package "github.com/x/y"
The command '/bin/sh -c go build -o app .' returned a non-zero code: 1""".splitlines()

BUILDKIT_FAILED_BUILDING = """\
#0 building with "default" instance using docker driver
#1 [internal] load build definition from Dockerfile
#1 transferring dockerfile: 312B done
#2 [internal] load metadata for docker.io/mobylab/golang:1.19-bookworm
#4 [builder 1/5] FROM docker.io/mobylab/golang:1.19-bookworm
#7 [builder 4/5] RUN go build -o app .
#7 ERROR: process "/bin/sh -c go build -o app ." did not complete successfully: exit code: 1
ERROR: failed to solve: process "/bin/sh -c go build" did not complete successfully: exit code: 1
""".splitlines()

BUILDKIT_PARSE_ERROR = """\
#0 building with "default" instance using docker driver
#1 [internal] load build definition from Dockerfile
#1 transferring dockerfile: 125B done
#1 DONE 0.0s
Dockerfile:3
--------------------
   3 | >>> COPY --chmod=755 app /app
--------------------
ERROR: failed to solve: dockerfile parse error on line 3: unknown flag: chmod""".splitlines()


def build(output: list[str], exit_code: int = 1, expect_exit: int = 0) -> CommandResult:
    """A build's record as the lab run makes it: StageLog reads every line; the record
    keeps the last 60."""
    stages = StageLog()
    for line in output:
        stages.feed(line)
    return CommandResult(
        "docker build .", (), exit_code, 1.0, tuple(output[-60:]), "build", expect_exit,
        started_building=stages.started,
    )  # fmt: skip


def run(exit_code: int, tail: list[str] | None = None) -> CommandResult:
    return CommandResult("docker run x", (), exit_code, 1.0, tuple(tail or []), "run")


def check(
    passed: bool | None, shows_feature: bool = False, seen: str = ""
) -> tuple[CheckResult, bool]:
    return CheckResult("output-contains", passed, "", seen), shows_feature


def absent(
    feature: str, commands: list[CommandResult], checks: list[tuple[CheckResult, bool]]
) -> str:
    """absent_reason with each check next to whether it shows the feature."""
    return absent_reason(
        feature, commands, [result for result, _ in checks], [marked for _, marked in checks]
    )


# --- refused or failed ----------------------------------------------------------------------


def test_a_legacy_build_stopping_at_its_first_step_was_refused():
    assert refused_before_building(build(LEGACY_REFUSED))


def test_a_legacy_build_that_reached_later_steps_was_not_refused():
    assert not refused_before_building(build(LEGACY_FAILED_BUILDING))
    assert not refused_before_building(build(["Step 2/2 : RUN false", "non-zero code: 1"]))


def test_a_buildkit_build_that_started_a_stage_was_not_refused():
    assert not refused_before_building(build(BUILDKIT_FAILED_BUILDING))
    assert not refused_before_building(build(["#4 [builder 1/5] FROM docker.io/library/go"]))
    assert not refused_before_building(build(["  #5 [stage-1 2/3] COPY --from=builder /a /a"]))
    # A single unnamed stage: BuildKit prints no stage name.
    assert not refused_before_building(build(["#5 [2/3] RUN make"]))


def test_a_buildkit_build_with_only_internal_steps_was_refused():
    assert refused_before_building(build(BUILDKIT_PARSE_ERROR))
    assert refused_before_building(
        build(["#2 [auth] library/golang:pull token", *BUILDKIT_PARSE_ERROR])
    )


def test_a_build_that_died_in_a_long_dump_had_started_though_its_tail_shows_no_step():
    """A RUN whose process dumps its registers: the last 60 lines hold no step line."""
    dump = [f"#9 0.{n} r{n}    0x0" for n in range(80)]
    output = [*BUILDKIT_FAILED_BUILDING[:6], *dump, "ERROR: failed to solve: exit code: 2"]
    record = build(output)
    assert not any("[builder" in line for line in record.output_tail)
    assert not refused_before_building(record)
    assert absent("multi-stage builds", [record], []) == ""


def test_only_a_build_can_be_refused_before_building():
    assert not refused_before_building(run(1, LEGACY_REFUSED))


def test_daemon_words():
    assert daemon_words(LEGACY_REFUSED) == "invalid reference format"
    assert (
        daemon_words(BUILDKIT_PARSE_ERROR)
        == "dockerfile parse error on line 3: unknown flag: chmod"
    )
    assert daemon_words(
        ["unknown flag: --target", "error: unknown flag: --target", "See help"]
    ) == ("unknown flag: --target")
    # The last of them counts.
    assert daemon_words(
        ["Error response from daemon: first", "Error response from daemon: last"]
    ) == ("last")
    # Without the daemon's own words, the last line that says something.
    assert daemon_words(["", "something odd happened", "   "]) == "something odd happened"
    assert daemon_words([]) == "no output"


# --- absent or failed -------------------------------------------------------------------------


def test_a_step_showing_no_feature_is_never_absent():
    assert absent("", [build(LEGACY_REFUSED)], []) == ""


def test_a_refused_build_is_absent_in_the_daemons_words():
    assert absent("multi-stage builds", [build(LEGACY_REFUSED)], []) == ("invalid reference format")
    commands = [run(0), build(BUILDKIT_PARSE_ERROR)]
    assert absent("COPY --chmod", commands, [check(False)]) == (
        "dockerfile parse error on line 3: unknown flag: chmod"
    )


def test_a_build_that_failed_after_building_is_a_failure():
    assert absent("multi-stage builds", [build(LEGACY_FAILED_BUILDING)], []) == ""
    assert absent("multi-stage builds", [build(BUILDKIT_FAILED_BUILDING)], []) == ""


def test_a_failing_command_that_is_not_a_build_is_a_failure():
    assert absent("--target", [run(125, ["docker: Error response from daemon: x"])], []) == ""
    # The first failing command decides, even when a refused build follows it.
    commands = [run(1, ["boom"]), build(LEGACY_REFUSED)]
    assert absent("--target", commands, []) == ""


def test_an_expected_exit_code_is_no_failure():
    commands = [build(LEGACY_REFUSED, exit_code=1, expect_exit=1)]
    assert absent("multi-stage builds", commands, []) == ""
    ignored = [check(True), check(False, shows_feature=True, seen="stages built: builder, stage-1")]
    assert absent("--target", commands, ignored) == (
        "it ignored it and built something else: stages built: builder, stage-1"
    )


def test_an_ignored_option_shows_in_the_feature_checks():
    checks = [
        check(True),
        check(False, shows_feature=True, seen="the image holds the whole toolchain (812 MB)"),
        check(None),
    ]
    assert absent("--target", [build(LEGACY_FAILED_BUILDING, exit_code=0)], checks) == (
        "it ignored it and built something else: the image holds the whole toolchain (812 MB)"
    )


def test_a_feature_check_failing_with_another_failing_check_is_a_failure():
    checks = [check(False, shows_feature=True, seen="812 MB"), check(False, seen="no app")]
    assert absent("--target", [build([], exit_code=0)], checks) == ""


def test_passing_checks_give_no_reason():
    assert absent("--target", [build([], exit_code=0)], [check(True, True)]) == ""
    assert absent("--target", [build([], exit_code=0)], []) == ""
    # A skipped feature check is not a failing one.
    assert absent("--target", [build([], exit_code=0)], [check(None, True)]) == ""


@pytest.mark.parametrize(
    "tail",
    [
        [
            "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
            "Is the docker daemon running?"
        ],
        [
            "Step 1/4 : FROM mobylab/golang:1.19-bookworm AS builder",
            "Error response from daemon: pull access denied for mobylab/golang, repository does "
            "not exist or may require 'docker login'",
        ],
    ],
)
def test_a_build_that_never_reached_the_dockerfile_is_a_failure(tail):
    assert absent("multi-stage builds", [build(tail)], []) == ""


# --- the matrix ---------------------------------------------------------------------------------

STEPS = [
    StepRecord(1, "master", "", Status.PASSED),
    StepRecord(1, "v17.05", "", Status.ABSENT, "invalid reference format"),
    StepRecord(3, "master", "", Status.FAILED, "exit status 1"),
    StepRecord(2, "master", "", Status.PASSED),
]
ENGINES = ["v17.05", "master"]


def test_feature_matrix_rows_by_step_and_engines_in_report_order():
    matrix = feature_matrix(ENGINES, STEPS, {3: "--target", 1: "multi-stage builds"}).to_dict()
    assert matrix["engines"] == ["v17.05", "master"]
    assert [(row["step"], row["feature"]) for row in matrix["rows"]] == [
        (1, "multi-stage builds"),
        (3, "--target"),
    ]
    first, third = matrix["rows"]
    assert list(first["engines"]) == ["v17.05", "master"]
    assert first["engines"]["v17.05"] == {"status": ABSENT, "reason": "invalid reference format"}
    assert first["engines"]["master"] == {"status": "passed", "reason": ""}
    assert third["engines"]["v17.05"] == {"status": "not run", "reason": ""}
    assert third["engines"]["master"] == {"status": "failed", "reason": "exit status 1"}


def test_feature_matrix_of_an_empty_report():
    assert feature_matrix([], [], {1: "x"}).to_dict() == {
        "engines": [],
        "rows": [{"step": 1, "feature": "x", "engines": {}}],
    }


def test_cell_text():
    matrix = feature_matrix(ENGINES, STEPS, {3: "--target", 1: "multi-stage builds"})
    texts = [[cell_text(row.engines[e]) for e in matrix.engines] for row in matrix.rows]
    assert texts == [
        ["not in this engine (invalid reference format)", "yes"],
        ["-", "failed: exit status 1"],
    ]
    assert cell_text(FeatureCell(ABSENT, "")) == "not in this engine (?)"
    assert cell_text(FeatureCell(Status.INTERRUPTED)) == "interrupted: ?"
