"""A lab step as a scenario (`lab:NAME:STEP`) on the real host engine: present when its
checks pass after the steps before it set up, absent when a check fails, could not test
when the engine lacks the step's declared need or a step before it does not set up. No
engine is built: each runs with --engine host in seconds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from mobylab.engine import Engine
from mobylab.lab.features import api_tuple
from tests.fixtures.cli import run_task

pytestmark = [pytest.mark.engine]

LABS = Path(__file__).resolve().parents[2] / "labs"
# A second step that runs what the first built: it needs the first's image.
RUN_AGAIN = """
[[steps]]
title = "Run it again"
commands = ["docker run --rm {tag_prefix}:latest"]

[[steps.checks]]
type = "output-equals"
expected = "EXPECTED"
"""


def try_json(workspace: Path, scenario: str) -> tuple[int, dict[str, Any], str]:
    done = run_task(workspace, "dev.try", scenario, "--engine", "host", "--json", timeout=300)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout), done.stderr


def run_objects(engine: Engine, run_id: str) -> list[str]:
    """Containers and images still carrying the scenario run's label."""
    wanted = [f"org.mobylab.run={run_id}"]
    api = engine.api(timeout=30)
    try:
        containers = api.containers(all=True, filters={"label": wanted})
        images = api.images(filters={"label": wanted})
    finally:
        api.close()
    return [c["Id"] for c in containers] + [i["Id"] for i in images]


def two_step_lab(root: Path, first: str, second: str) -> Path:
    """The hello lab with a second step running its image; each step expects a line."""
    lab = root / "greet"
    shutil.copytree(LABS / "hello", lab)
    toml = lab / "lab.toml"
    text = toml.read_text().replace('expected = "hello from mobylab"', f'expected = "{first}"')
    toml.write_text(text + RUN_AGAIN.replace("EXPECTED", second))
    return lab


def test_a_step_whose_checks_pass_after_the_steps_before_it_is_present(
    tmp_path: Path, engine: Engine
) -> None:
    workspace = tmp_path / "ws"
    code, report, _ = try_json(workspace, "lab:health:2")
    assert code == 0
    (row,) = report["rows"]
    assert row["engine"]["name"] == "host"
    assert (row["result"]["outcome"], row["result"]["reason"]) == ("present", "every check passed")
    assert row["result"]["tail"][-1] == "output-equals: 2 exited 3"
    # The lab's base image is its seed; the lab run's report is beside the row's.
    assert report["seeds"] and report["scenario"] == "lab:health:2"
    folder = workspace / "reports" / "try" / report["run_id"]
    lab_report = json.loads((folder / "host" / "lab" / "report.json").read_text())
    assert [(s["index"], s["status"]) for s in lab_report["steps"]] == [
        (1, "passed"),
        (2, "passed"),
    ]
    # What it built and ran is gone, and it is no lab run of the workspace's own.
    assert run_objects(engine, report["run_id"]) == []
    assert not (workspace / "reports" / "latest").exists()
    runs = workspace / "runs"
    assert not runs.exists() or not any(runs.iterdir())


def test_a_step_whose_declared_need_the_engine_lacks_could_not_test(
    tmp_path: Path, engine: Engine
) -> None:
    speaks = engine.version().get("ApiVersion", "")
    if api_tuple(speaks) >= (1, 44):
        pytest.skip(f"the host engine speaks API {speaks}: it has what health step 3 needs")
    code, report, stderr = try_json(tmp_path / "ws", "lab:health:3")
    # dev.try's rule: exit 0 only when every engine could be tested.
    assert code == 1
    assert stderr.strip().splitlines()[-1].startswith("error: some engines could not be tested")
    (row,) = report["rows"]
    assert row["result"]["outcome"] == "could not test"
    assert row["result"]["reason"] == (
        f"not in this engine: needs API 1.44; this engine speaks {speaks}"
    )
    # Not run at all: not even the steps before it.
    folder = tmp_path / "ws" / "reports" / "try" / report["run_id"]
    assert not (folder / "host" / "lab").exists()


def test_a_failing_check_is_absent_and_a_step_that_does_not_set_up_could_not_test(
    tmp_path: Path, engine: Engine
) -> None:
    absent = two_step_lab(tmp_path / "a", "hello from mobylab", "goodbye")
    code, report, _ = try_json(tmp_path / "ws", f"lab:{absent}:2")
    assert code == 0
    result = report["rows"][0]["result"]
    assert (result["outcome"], result["reason"]) == (
        "absent",
        "FAILED: output-equals: expected goodbye, saw hello from mobylab",
    )
    assert result["tail"][-1] == "output-equals: expected goodbye, saw hello from mobylab"
    assert run_objects(engine, report["run_id"]) == []

    broken = two_step_lab(tmp_path / "b", "goodbye", "hello from mobylab")
    code, report, _ = try_json(tmp_path / "ws", f"lab:{broken}:2")
    assert code == 1
    result = report["rows"][0]["result"]
    assert result["outcome"] == "could not test"
    assert result["reason"] == (
        "step 1 did not set up: FAILED: output-equals: expected goodbye, saw hello from mobylab"
    )
    assert run_objects(engine, report["run_id"]) == []
