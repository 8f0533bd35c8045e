"""Practice mode in a real terminal (tmux) on the real engine: the learner types, `lab`
checks, hints, solves, resets; leaving and coming back resumes."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mobylab.engine import Engine
from mobylab.lab.execute import remove_run_resources
from tests.fixtures.cli import REPO, invoke_argv
from tests.fixtures.terminal import Terminal, framed, tmux_terminal, unspaced

pytestmark = [pytest.mark.engine]


@pytest.fixture
def terminal(tmp_path: Path, engine: Engine) -> Iterator[Terminal]:
    term = tmux_terminal(tmp_path)
    yield term
    term.close()
    for report in (tmp_path / "ws" / "reports").glob("2*/report.json"):
        remove_run_resources(engine, json.loads(report.read_text())["run_id"])


def practice_env(tmp_path: Path, engine: Engine) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "SHELL": "/bin/bash",
        "TERM": "xterm-256color",
        "COLUMNS": "200",
        "MOBYLAB_WORKSPACE": str(tmp_path / "ws"),
        "MOBYLAB_OFFLINE": "yes",
        "DOCKER_HOST": engine.url,
    }


def start(terminal: Terminal, tmp_path: Path, engine: Engine, *args: str) -> None:
    terminal.start(invoke_argv(*args), practice_env(tmp_path, engine), REPO)


def report_of(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "ws" / "reports" / "latest" / "report.json").read_text())


@pytest.fixture
def hello(terminal: Terminal, tmp_path: Path, engine: Engine) -> Terminal:
    """`invoke lab.practice hello` in the terminal, at its shell's prompt."""
    start(terminal, tmp_path, engine, "lab.practice", "hello")
    terminal.wait_for(r"\[lab hello 1/1\] host #\s*$", timeout=120)
    return terminal


def test_hello_typed_by_hand_passes_with_one_attempt(
    hello: Terminal, tmp_path: Path, engine: Engine
) -> None:
    terminal = hello
    terminal.type("lab next")
    terminal.wait_for(r"error: step 1 has not passed yet \(not started\)")
    terminal.type("docker build -q -t $TAG:latest .")
    terminal.type("lab check")
    shown = terminal.wait_for(r"step 1 passed")
    assert "✓ output-equals: hello from mobylab" in shown
    # Ctrl-C belongs to the shell: the lab stays.
    mark = len(terminal.screen())
    terminal.keys("C-c")
    terminal.type("echo still-$((20+1))")
    terminal.wait_for(r"still-21", after=mark)
    terminal.type("exit")
    terminal.wait_for(r"TERMINAL-EXITED 0")
    report = report_of(tmp_path)
    step = report["steps"][0]
    assert report["mode"] == "practice" and report["status"] == "passed"
    assert (step["status"], step["practice"]["attempts"], step["practice"]["how"]) == (
        "passed", 1, "by hand",
    )  # fmt: skip
    assert report["practice"]["steps"][0]["hints_used"] == 0
    assert report["variants"][0]["passed"]
    assert "## Practice" in (tmp_path / "ws" / "reports" / "latest" / "report.md").read_text()
    # What the learner built carries the run's labels, so lab.clean finds it.
    image = engine.client().images.get(report["variants"][0]["image"])
    assert image.labels["org.mobylab.run"] == report["run_id"]


@pytest.mark.parametrize("width", [80, 160])
def test_hello_at_the_terminals_width_leads_with_the_cause(
    terminal: Terminal, tmp_path: Path, engine: Engine, width: int
) -> None:
    env = {**practice_env(tmp_path, engine), "COLUMNS": str(width)}
    terminal.start(invoke_argv("lab.practice", "hello"), env, REPO, width=width)
    shown = terminal.wait_for(r"\[lab hello 1/1\] host #\s*$", timeout=120)
    (task,) = framed(shown, "Your task", width)
    assert unspaced("run it once (docker run --rm $TAG:latest) to see the line it prints.") in (
        unspaced(task)
    )
    # Built under another name: the image check comes first and says both names.
    mark = len(shown)
    terminal.type("docker build -q -t hello-by-hand:latest . && lab check")
    shown = terminal.wait_for(r"step 1: failed.*", after=mark)[mark:]
    verdict = " ".join(shown.split())
    assert verdict.index("✗ image-exists") < verdict.index("✗ output-equals")
    assert "you built hello-by-hand:latest; the check looks for $TAG:latest" in verdict
    assert "expected: hello from mobylab seen: not run: image-exists failed first" in verdict
    assert "step 1: failed — image-exists:" in verdict
    mark = len(terminal.screen())
    terminal.type("docker build -q -t $TAG:latest . && lab check")
    shown = terminal.wait_for(r"step 1 passed — `lab next` moves on", after=mark)[mark:]
    assert "step 1: passed" not in shown
    terminal.type("exit")
    terminal.wait_for(r"TERMINAL-EXITED 0")
    engine.client().images.remove("hello-by-hand:latest", force=True)


def test_a_wrong_image_fails_with_the_hint_and_reset_restores_the_files(
    hello: Terminal, tmp_path: Path
) -> None:
    terminal = hello
    terminal.type("sed -i 's/hello from/bye from/' Dockerfile")
    terminal.type("docker build -q -t $TAG:latest . && lab check")
    shown = terminal.wait_for(r"step 1: failed")
    assert "seen:     bye from mobylab" in shown
    assert "hint:     The image's CMD prints this line; check the Dockerfile." in shown
    terminal.type("lab hint")
    terminal.wait_for(r"hint 1/2: `docker build -t NAME \.` builds the Dockerfile")
    terminal.type("lab reset")
    terminal.wait_for(r"restored Dockerfile \(it was changed\)")
    terminal.type("rm Dockerfile; lab reset")
    terminal.wait_for(r"restored Dockerfile \(it was missing\)")
    terminal.type("lab reset")
    terminal.wait_for(r"nothing to restore")
    terminal.type("docker build -q -t $TAG:latest . && lab check")
    terminal.wait_for(r"step 1 passed")
    terminal.type("lab status")
    terminal.wait_for(r"> 1 .*passed .* 2 .* 1 .* by hand")
    terminal.type("exit")
    terminal.wait_for(r"TERMINAL-EXITED 0")
    practice = report_of(tmp_path)["practice"]["steps"][0]
    assert (practice["attempts"], practice["failed_attempts"], practice["hints_used"]) == (2, 1, 1)


def test_multistage_first_steps_solve_wrong_right_and_resume(
    terminal: Terminal, tmp_path: Path, engine: Engine
) -> None:
    start(terminal, tmp_path, engine, "lab.multistage", "--practice")
    terminal.wait_for(r"\[lab multistage 1/6\] host #\s*$", timeout=900)
    terminal.type("lab solve")
    shown = terminal.wait_for(r"step 1 passed", timeout=600)
    assert "$ docker build -t mobylab-lab/multistage-" in shown
    terminal.type("lab next")
    terminal.wait_for(r"Step 2/6: Multi-stage build")
    terminal.wait_for(r"\[lab multistage 2/6\] host #\s*$")
    # The SDK image tagged as the multi-stage one: the image check fails, with its hint.
    terminal.type("docker build -q -t $TAG:multi -f Dockerfile.build . && lab check")
    shown = terminal.wait_for(r"step 2: failed", timeout=600)
    assert "✗ image-smaller" in shown
    assert "The final image is the last stage only" in shown
    terminal.type("docker build -q -t $TAG:multi -f Dockerfile.multi . && lab check")
    terminal.wait_for(r"step 2 passed", timeout=600)
    terminal.type("exit")
    terminal.wait_for(r"resumes at step 3")
    terminal.wait_for(r"TERMINAL-EXITED 0")
    run_id = report_of(tmp_path)["run_id"]

    terminal.close()
    start(terminal, tmp_path, engine, "lab.practice", "multistage")
    terminal.wait_for(rf"run {run_id} \(resumed at step 3\)", timeout=120)
    terminal.wait_for(r"\[lab multistage 3/6\] host #\s*$")
    terminal.type("exit")
    terminal.wait_for(r"TERMINAL-EXITED 0")
    report = report_of(tmp_path)
    assert report["run_id"] == run_id
    practice = {s["index"]: s for s in report["practice"]["steps"]}
    assert (practice[1]["how"], practice[1]["attempts"]) == ("solved", 0)
    assert (practice[2]["how"], practice[2]["attempts"], practice[2]["failed_attempts"]) == (
        "by hand", 2, 1,
    )  # fmt: skip
    assert practice[3]["status"] == "not started"
    variants = {v["name"]: v for v in report["variants"]}
    assert variants["multi-stage"]["passed"] and variants["builder-pattern"]["passed"]
    assert variants["multi-stage"]["build_seconds"] is None  # typed by hand: not timed
