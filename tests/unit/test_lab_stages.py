"""Which builder ran a build and which stages it built, read from its output."""

from __future__ import annotations

from mobylab.lab.records import Builder
from mobylab.lab.stages import (
    StageLog,
    dockerfile_of,
    dockerfile_stages,
    stage_report,
    target_of,
)

NAMED = """\
FROM golang:1.7.3 AS builder
WORKDIR /go/src/app
RUN go build -o app .

FROM alpine:latest
COPY --from=builder /go/src/app/app .
"""

BUILDKIT_OUTPUT = """\
#0 building with "default" instance using docker driver
#1 [internal] load build definition from Dockerfile.named
#4 [builder 1/5] FROM docker.io/mobylab/golang:1.19-bookworm
#6 [builder 2/5] WORKDIR /go/src/github.com/alexellis/href-counter/
#6 CACHED
#10 exporting to image
"""

LEGACY_OUTPUT = """\
Sending build context to Docker daemon  10.2kB
Step 1/10 : FROM mobylab/golang:1.19-bookworm AS builder
 ---> fa4825dbe13c
Step 2/10 : WORKDIR /go/src/github.com/alexellis/href-counter/
Successfully tagged x:builder
"""


def feed(text: str, stages: list[str]) -> StageLog:
    log = StageLog(stages)
    for line in text.splitlines():
        log.feed(line)
    return log


def test_stages_of_a_dockerfile() -> None:
    assert dockerfile_stages(NAMED) == ["builder", "stage-1"]
    assert dockerfile_stages("FROM a\nRUN x\nFROM --platform=$X b as Final\n") == [
        "stage-0",
        "final",
    ]


def test_buildkit_output() -> None:
    log = feed(BUILDKIT_OUTPUT, ["builder", "stage-1"])
    assert log.builder == "buildkit" and log.built == ["builder"]
    report = stage_report(log.stages, log.built, log.builder, "builder")
    assert report.skipped == ("stage-1",) and report.skipped_before_target == ()
    assert report.text.startswith("BuildKit built builder for --target builder and skipped")


def test_buildkit_skips_a_stage_before_the_target() -> None:
    report = stage_report(["test", "builder", "stage-2"], ["builder"], Builder.BUILDKIT, "builder")
    assert report.skipped_before_target == ("test",)
    assert "test even comes before it" in report.text


def test_legacy_output() -> None:
    log = feed(LEGACY_OUTPUT, ["builder", "stage-1"])
    assert log.builder == "legacy" and log.built == ["builder"]
    report = stage_report(log.stages, log.built, log.builder, "builder")
    assert "every stage up to --target builder" in report.text
    assert "stage-1 comes after the target" in report.text
    # An unnamed stage is known by its position.
    unnamed = feed("Step 1/3 : FROM a\nStep 2/3 : RUN x\nStep 3/3 : FROM b\n", ["stage-0", "x"])
    assert unnamed.built == ["stage-0", "x"]


def test_output_that_names_no_builder() -> None:
    log = feed("something else\n", [])
    assert log.builder is None
    assert "names no stages" in stage_report([], [], None, "x").text


def test_command_line_words() -> None:
    argv = ["docker", "build", "--target", "builder", "-t", "x", ".", "-f", "Dockerfile.named"]
    assert target_of(argv) == "builder" and dockerfile_of(argv) == "Dockerfile.named"
    assert target_of(["docker", "build", "--target=b", "."]) == "b"
    assert dockerfile_of(["docker", "build", "."]) == "Dockerfile"
    assert dockerfile_of(["docker", "build", "--file=D2", "."]) == "D2"
