"""What a step declares it needs (needs_api, needs_builder): lab.toml's fields, the pure
decision "this engine lacks it", and a met need whose step fails failing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mobylab.lab.checks import Facts
from mobylab.lab.features import api_tuple, lacking_need
from mobylab.lab.judge import judge_checks, judge_step
from mobylab.lab.model import Check, Command, Lab, Step
from mobylab.lab.practice.start import lacking_steps
from mobylab.lab.records import Builder, CommandResult, EngineRecord, Status
from tests.unit.test_lab_model import VALID, error_of

BUILD = Command("docker build -t {tag_prefix}:x .", "build")
STEP = Step(
    title="heredocs",
    commands=(BUILD,),
    checks=(Check(type="image-exists", image="{tag_prefix}:x"),),
    feature="heredocs",
    needs_api="1.42",
    needs_builder=Builder.BUILDKIT,
)
HOST = EngineRecord(
    name="host",
    kind="host",
    url="unix:///var/run/docker.sock",
    version="20.10.24",
    api_version="1.41",
    builder=Builder.BUILDKIT,
    builder_reason="buildx",
)
MASTER = replace(HOST, name="dev", version="dev", api_version="1.56")


def test_an_engine_below_the_api_version_lacks_the_step() -> None:
    assert lacking_need(STEP, HOST) == "needs API 1.42; this engine speaks 1.41"
    assert lacking_need(STEP, MASTER) == ""
    # Versions compare as numbers, not as text: 1.100 is after 1.99.
    assert api_tuple("1.100") > api_tuple("1.99")
    # An engine that did not say its API version is given the step.
    assert lacking_need(STEP, replace(HOST, api_version="")) == ""


def test_an_engine_with_another_builder_lacks_the_step() -> None:
    legacy = replace(MASTER, builder=Builder.LEGACY, builder_reason="engine before 18.09")
    assert lacking_need(STEP, legacy) == (
        "needs the buildkit builder; this engine builds with legacy (engine before 18.09)"
    )
    assert lacking_need(replace(STEP, needs_builder=Builder.LEGACY), legacy) == ""


def test_a_met_need_whose_build_is_refused_fails() -> None:
    checks = judge_checks(STEP, Facts(values={"tag_prefix": "t"}), [0])
    refused = CommandResult(
        BUILD.text, ("docker", "build"), 1, 0.5, ("ERROR: unknown instruction: ECHO",), "build"
    )
    declared = judge_step(3, STEP, "dev", "log", [refused], checks)
    assert declared.status is Status.FAILED
    # The same failure of a step that declares nothing is told apart by what it did.
    undeclared = replace(STEP, needs_api="", needs_builder=None)
    assert judge_step(3, undeclared, "dev", "log", [refused], checks).status is Status.ABSENT


def test_practice_moves_past_the_steps_the_engine_lacks() -> None:
    lab = Lab(name="x", path=Path("labs/x"), title="X", steps=(replace(STEP, needs_api=""), STEP))
    missing = lacking_steps(lab, HOST)
    assert [(m.index, m.status, m.reason) for m in missing] == [
        (2, Status.ABSENT, "needs API 1.42; this engine speaks 1.41")
    ]


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ('needs_api = "latest"', "steps[0].needs_api: 'latest' is not an engine API version"),
        ('needs_api = "25.0"', "steps[0].needs_api: '25.0' is not an engine API version"),
        (
            'needs_builder = "kaniko"',
            "steps[0].needs_builder: 'kaniko' is not one of buildkit, legacy",
        ),
    ],
)
def test_a_bad_need_names_its_field(tmp_path: Path, field: str, message: str) -> None:
    text = VALID.replace('title = "one"\n', f'title = "one"\n{field}\n')
    assert error_of(tmp_path, text) == f"labs/x/lab.toml: {message}"
