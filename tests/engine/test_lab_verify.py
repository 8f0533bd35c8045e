"""The lab catalog on the real engine: lab.new then lab.verify of what it wrote, a met
need whose step fails FAILED, a dev build that does not exist refused, and practice of
a new lab in a real terminal (a wrong attempt fails with its hint, the right one passes,
a step the engine lacks is passed by)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mobylab.engine import Engine
from mobylab.lab.execute import remove_run_resources
from tests.engine.test_lab_practice import report_of, start, terminal  # noqa: F401
from tests.fixtures.cli import run_task
from tests.fixtures.terminal import Terminal

pytestmark = [pytest.mark.engine]


def cleanup(engine: Engine, output: str) -> None:
    for lab in json.loads(output)["labs"]:
        remove_run_resources(engine, lab["run_id"])


def test_a_new_lab_passes_lab_verify_at_once(tmp_path: Path, engine: Engine) -> None:
    labs = tmp_path / "mylabs"
    new = run_task(tmp_path / "ws", "lab.new", "first", "--dir", str(labs))
    assert new.returncode == 0, new.stderr
    verify = run_task(tmp_path / "ws", "lab.verify", "--json", "--", str(labs / "first"))
    assert verify.returncode == 0, verify.stderr[-2000:]
    matrix = json.loads(verify.stdout)
    cleanup(engine, verify.stdout)
    assert matrix["failed"] == 0
    assert [(s["lab"], s["engines"]["host"]["status"]) for s in matrix["steps"]] == [
        ("first", "passed")
    ]


def test_a_met_need_whose_check_fails_is_failed(tmp_path: Path, engine: Engine) -> None:
    labs = tmp_path / "mylabs"
    assert run_task(tmp_path / "ws", "lab.new", "rotten", "--dir", str(labs)).returncode == 0
    toml = labs / "rotten" / "lab.toml"
    text = toml.read_text().replace('feature = "docker build and docker run"',
                                    'feature = "docker run"\nneeds_api = "1.24"')  # fmt: skip
    toml.write_text(text.replace('expected = "hello from rotten"', 'expected = "hello"'))
    verify = run_task(tmp_path / "ws", "lab.verify", "--lab", str(labs / "rotten"))
    assert verify.returncode == 1
    assert "FAILED" in verify.stdout
    last = verify.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "error: lab.verify: 1 step(s) FAILED; first: rotten step 1 (Build and run an image) "
        "on host: output-equals: expected hello, saw hello from rotten"
    )
    assert "check output-equals: hello from rotten" in last
    run_id = json.loads((tmp_path / "ws/reports/latest/report.json").read_text())["run_id"]
    remove_run_resources(engine, run_id)


def test_a_dev_build_that_does_not_exist_is_refused(tmp_path: Path, engine: Engine) -> None:
    verify = run_task(tmp_path / "ws", "lab.verify", "--lab", "hello", "--engine", "dev:abcdef0")
    assert verify.returncode != 0
    lines = verify.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and "abcdef0" in lines[-1]
    bad = run_task(tmp_path / "ws", "lab.verify", "--lab", "hello", "--engine", "dev:xyz")
    assert bad.returncode == 2 and "'xyz' is not a commit prefix" in bad.stderr


def test_practice_of_run_options_wrong_then_right(
    terminal: Terminal,  # noqa: F811 (the practice tests' tmux fixture)
    tmp_path: Path,
    engine: Engine,
) -> None:
    start(terminal, tmp_path, engine, "lab.practice", "run-options")
    shown = terminal.wait_for(r"\[lab run-options 1/4\] host #\s*$", timeout=180)
    # The host engine (API 1.41) lacks image mounts: practice says so and moves past it.
    assert "step 4 (Another image's files, mounted: --mount type=image): not in this engine" in (
        " ".join(shown.split())
    )
    terminal.type(
        "docker build -q -t $TAG:base . && docker run -d --name $EXTRACT-init $TAG:base sleep 300"
    )
    terminal.type("lab check")
    failed = terminal.wait_for(r"step 1: failed")
    assert "seen:     sleep" in failed
    assert "hint:     Without --init, PID 1 is the command itself (sleep)" in failed
    terminal.type("docker rm -f $EXTRACT-init")
    terminal.type("docker run -d --name $EXTRACT-init --init $TAG:base sleep 300")
    terminal.type("lab check")
    passed = terminal.wait_for(r"step 1 passed")
    assert "✓ output-contains: docker-init" in passed
    terminal.type("lab next")
    terminal.wait_for(r"\[lab run-options 2/4\] host #\s*$")
    terminal.type("exit")
    terminal.wait_for(r"TERMINAL-EXITED 0")
    report = report_of(tmp_path)
    steps = {(s["index"], s["status"]) for s in report["steps"]}
    assert {(1, "passed"), (4, "absent")} <= steps
    practice = report["practice"]["steps"][0]
    assert (practice["attempts"], practice["failed_attempts"]) == (2, 1)
