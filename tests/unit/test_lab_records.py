"""The typed records of a lab run read and write report.json exactly as it is kept."""

from __future__ import annotations

import json

import pytest

from mobylab.errors import LabError
from mobylab.lab.records import (
    REPORT_VERSION,
    Builder,
    CheckResult,
    CommandResult,
    Report,
    Status,
    StepRecord,
    failure_reason,
)

BUILD = {
    "shown": "docker build -t mobylab-lab/multistage-r1:multi --target final .",
    "argv": ["docker", "build", "--label", "org.mobylab.run=r1", "-t",
             "mobylab-lab/multistage-r1:multi", "--target", "final", "."],
    "exit_code": 0, "seconds": 12.345, "output_tail": ["#9 DONE 0.1s", "#10 naming to x"],
    "cached_steps": 3, "builder": "buildkit", "stages_built": ["builder", "final"],
    "target": "final", "stages": ["builder", "test", "final"], "started_building": True,
    "role": "build", "expect_exit": 0,
}  # fmt: skip
RUN = {
    "shown": "docker run --rm mobylab-lab/multistage-r1:multi", "argv": ["docker", "run", "--rm",
    "mobylab-lab/multistage-r1:multi"], "exit_code": 0, "seconds": 0.8,
    "output_tail": ['{"external": 5, "internal": 8}'], "cached_steps": 0, "builder": None,
    "stages_built": [], "target": None, "stages": [], "started_building": False, "role": "run",
    "expect_exit": 0,
}  # fmt: skip
VARIANT = {
    "name": "multi-stage", "engine": "host", "image": "mobylab-lab/multistage-r1:multi",
    "image_id": "sha256:abc", "size_bytes": 9_000_000, "layers": 4, "build_seconds": 12.345,
    "cached_steps": 3, "commands_typed": 1, "builder": "buildkit", "files": 1,
    "maintained_files": ["Dockerfile.multi"], "lines": 10,
    "output": {"internal": 8, "external": 5}, "produces_app": True,
    "leftovers": [{"kind": "file", "name": "app", "present": True, "size_bytes": 7_000_000},
                  {"kind": "container", "name": "extract-r1", "present": False,
                   "size_bytes": None}],
    "passed": True, "absent": False,
}  # fmt: skip
STEP = {
    "index": 1, "engine": "host", "title": "Multi-stage", "status": "passed", "reason": "",
    "log": "reports/r1/logs/host-step1.log", "commands": [BUILD, RUN],
    "checks": [{"type": "json-equals", "passed": True, "expected": "{}", "seen": "{}",
                "hint": "", "note": ""}],
    "measurements": [{"name": "multi", "image": "t:multi", "id": "sha256:abc",
                      "size_bytes": 9_000_000, "layers": 4, "workdir": "/"},
                     {"name": "gone", "image": "t:gone", "missing": True}],
    "stages": {"builder": "buildkit", "target": "final", "stages": ["builder", "test", "final"],
               "built": ["builder", "final"], "skipped": ["test"],
               "skipped_before_target": ["test"], "text": "BuildKit built builder, final"},
    "variant": VARIANT,
}  # fmt: skip
ENGINE = {
    "name": "host", "kind": "host", "url": "unix:///var/run/docker.sock", "version": "20.10.24",
    "commit": "5d6db84", "api_version": "1.41", "storage_driver": "overlay2",
    "image_store": "graphdriver", "builder": "legacy", "builder_reason": "no buildx",
    "builder_image": "mobylab/golang:1.19", "builder_image_size_bytes": 900_000_000,
    "site_url": "http://127.0.0.1:8080/",
}  # fmt: skip


def guided_report() -> dict:
    """A guided run's report.json as the runner writes it (derived fields included)."""
    failed = StepRecord.failed(2, "host", "Compare", "the engine went away").to_dict()
    interrupted = StepRecord.interrupted(3, "host", "Clean", 1).to_dict()
    return {
        "version": REPORT_VERSION, "lab": "multistage", "title": "Builder pattern",
        "features": {"1": "multi-stage builds"}, "source": None, "run_id": "r1",
        "status": "failed", "started": "2026-01-01T00:00:00Z", "finished": "2026-01-01T00:01:00Z",
        "options": {"engine": "host", "url": None}, "url": "http://127.0.0.1:8080/",
        "site": "fixture", "expected": {"internal": 8, "external": 5},
        "base_images": {"builder": "mobylab/golang:1.19", "runtime": "mobylab/alpine",
                        "offline": True, "reason": "offline = yes",
                        "substitutions": [{"file": "Dockerfile", "line": 1, "old": "golang",
                                           "new": "mobylab/golang:1.19"}]},
        "engines": [ENGINE], "builder_image_size_bytes": 900_000_000,
        "steps": [STEP, failed, interrupted], "step_count": 3,
        "workdirs": {"host": "runs/r1/host"},
        "failed_steps": [
            {"index": 2, "engine": "host", "title": "Compare", "reason": "the engine went away"},
            {"index": 3, "engine": "host", "title": "Clean",
             "reason": "interrupted (Ctrl-C); 1 container(s) removed"},
        ],
        "variants": [{**VARIANT, "ratio_to_builder": 0.01}],
        "matrix": {"engines": ["host"], "rows": [
            {"step": 1, "feature": "multi-stage builds",
             "engines": {"host": {"status": "passed", "reason": ""}}}]},
    }  # fmt: skip


def practice_report() -> dict:
    report = guided_report()
    step = {**STEP, "practice": {"index": 1, "title": "Multi-stage", "status": "passed",
            "attempts": 2, "failed_attempts": 1, "not_counted": 0, "hints_used": 1,
            "how": "by hand", "seconds": 61.5}}  # fmt: skip
    report.update(
        mode="practice",
        steps=[step],
        failed_steps=[],
        status="running",
        finished=None,
        practice={"current": 2, "active": True, "steps": [step["practice"]]},
    )
    return report


@pytest.mark.parametrize("make", [guided_report, practice_report])
def test_a_report_reads_and_writes_the_same_json(make) -> None:
    data = make()
    report = Report.from_dict(data)
    assert json.loads(json.dumps(report.to_dict(), sort_keys=True)) == data
    assert Report.from_dict(report.to_dict()) == report


def test_records_are_typed() -> None:
    report = Report.from_dict(guided_report())
    assert report.status is Status.FAILED
    step = report.steps[0]
    assert step.commands[0].builder is Builder.BUILDKIT and step.commands[1].builder is None
    assert step.variant is not None and step.variant.leftovers_present[0].name == "app"
    assert report.ratio_to_builder(step.variant) == pytest.approx(0.01)
    assert [f.index for f in report.failed_steps] == [2, 3]
    assert report.matrix is not None and report.matrix.rows[0].engines["host"].status == "passed"
    # StrEnum: the JSON keeps the words.
    assert json.dumps(report.to_dict()["status"]) == '"failed"'


def test_an_old_report_without_derived_fields_or_a_version_reads() -> None:
    data = guided_report()
    for key in ("version", "failed_steps", "variants", "matrix", "builder_image_size_bytes"):
        del data[key]
    report = Report.from_dict(data)
    assert report.to_dict() == Report.from_dict(guided_report()).to_dict()


def test_a_newer_report_is_refused() -> None:
    with pytest.raises(LabError, match="format version"):
        Report.from_dict({**guided_report(), "version": REPORT_VERSION + 1})


def test_with_step_replaces_the_same_step_and_keeps_the_order() -> None:
    report = Report.from_dict(guided_report())
    again = StepRecord.failed(1, "host", "Multi-stage", "boom")
    changed = report.with_step(again).with_step(StepRecord.failed(1, "dev", "Multi-stage", "x"))
    assert [(s.engine, s.index, s.reason) for s in changed.steps] == [
        ("dev", 1, "x"),
        ("host", 1, "boom"),
        ("host", 2, "the engine went away"),
        ("host", 3, "interrupted (Ctrl-C); 1 container(s) removed"),
    ]
    assert report.steps[0].status is Status.PASSED  # the old report is untouched


def test_failure_reason_names_the_command_first_then_the_check() -> None:
    ok = CommandResult.from_dict(BUILD)
    bad = CommandResult.from_dict({**RUN, "exit_code": 1, "output_tail": ["boom", ""]})
    check = CheckResult("output-equals", False, "hi", "ho")
    assert failure_reason([ok, bad], [check]) == f"`{RUN['shown']}` exited 1: boom"
    assert failure_reason([ok], [check]) == "output-equals: expected hi, saw ho"
    assert failure_reason([ok], [CheckResult("exit-code", True, "0", "0")]) == ""
