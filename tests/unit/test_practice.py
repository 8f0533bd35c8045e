"""Practice mode's pure parts: the state and its decisions, which commands a check runs,
what reset restores, the engine choice, the lab fields, and the shell's files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mobylab import catalog as lab_catalog
from mobylab.config import Settings
from mobylab.errors import LabError, UsageError
from mobylab.lab import catalog
from mobylab.lab.checks import Facts, evaluate
from mobylab.lab.engine_choice import parse_engine_choice
from mobylab.lab.execute import copy_workdir
from mobylab.lab.html import render_html
from mobylab.lab.model import Check, parse_lab, practice_problem
from mobylab.lab.practice import state as ps
from mobylab.lab.practice.cli import _without_practice_bin, parser
from mobylab.lab.practice.run import (
    practice_commands,
    restored_files,
    restored_text,
    shown_file,
)
from mobylab.lab.practice.shell import docker_wrapper, shell_argv, shell_environment
from mobylab.lab.records import Report
from mobylab.lab.render import render_markdown
from mobylab.lab.report import practice_table, run_state
from tests.fixtures.cli import REPO

T0 = 1_000_000.0


def two_steps() -> dict:
    return ps.new_state(lab="hello", run_id="r1", titles=["build", "run"], now=T0)


def test_a_check_counts_an_attempt_and_a_pass_stops_the_clock() -> None:
    state = two_steps()
    ps.enter(state, 1, T0)
    ps.record_check(state, False, T0 + 30)
    step = ps.step_of(state)
    assert (step["status"], step["attempts"], step["failed_attempts"]) == ("failing", 1, 1)
    ps.record_check(state, True, T0 + 50)
    assert (step["status"], step["attempts"], step["how"]) == ("passed", 2, "by hand")
    assert step["seconds"] == 50.0 and step["entered"] is None
    assert ps.seconds_on(step, T0 + 500) == 50.0  # no clock after the pass


def test_solve_is_no_attempt_but_marks_the_step_solved() -> None:
    state = two_steps()
    ps.enter(state, 1, T0)
    ps.record_check(state, True, T0 + 5, solved=True)
    step = ps.step_of(state)
    assert (step["attempts"], step["how"], step["status"]) == (0, "solved", "passed")


def test_an_engine_that_does_not_answer_is_not_the_learners_failure() -> None:
    state = two_steps()
    ps.record_not_counted(state, T0)
    step = ps.step_of(state)
    assert (step["attempts"], step["failed_attempts"], step["not_counted"]) == (0, 0, 1)


def test_next_needs_a_pass_or_skip_and_resumes_at_the_first_unfinished() -> None:
    state = two_steps()
    ps.enter(state, 1, T0)
    assert "has not passed yet" in ps.advance_problem(state, skip=False)
    assert ps.advance_problem(state, skip=True) == ""
    assert ps.advance(state, True, T0 + 10) == 2
    assert ps.step_of(state, 1)["status"] == "skipped"
    ps.leave(state, T0 + 20)
    assert state["active"] is False and ps.step_of(state, 2)["seconds"] == 10.0
    assert ps.first_unfinished(state) == 2
    ps.enter(state, 2, T0 + 100)
    ps.record_check(state, True, T0 + 110)
    assert ps.advance(state, False, T0 + 111) is None
    assert ps.first_unfinished(state) is None


def test_hints_are_shown_once_each_then_again_in_turn() -> None:
    state = two_steps()
    shown = [ps.take_hint(state, ["a", "b"], T0) for _ in range(5)]
    assert shown == ["a", "b", "a", "b", "a"]
    assert ps.step_of(state)["hints_used"] == 2
    assert ps.take_hint(state, [], T0) == ""
    labels = [ps.hint_label(shown, 2) for shown in range(1, 6)]
    again = "hint 1/2 (every hint was shown: from the first again)"
    assert labels == ["hint 1/2", "hint 2/2", again, "hint 2/2", again]


def test_progress_running_stuck_paused_finished() -> None:
    state = two_steps()
    ps.enter(state, 1, T0)
    ps.record_check(state, False, T0 + 10)
    running = ps.progress(state, T0 + 60, stuck_after=300)
    assert running["state"] == "RUNNING"
    assert running["where"] == "at step 1/2 (failing): 1 attempt, 0 hints, 1m00s on it"
    stuck = ps.progress(state, T0 + 400, stuck_after=300)
    assert (stuck["state"], stuck["on_step"], stuck["attempts"]) == ("STUCK", 400.0, 1)
    ps.leave(state, T0 + 400)
    assert ps.progress(state, T0 + 9000, 300)["state"] == "PAUSED"
    for number in (1, 2):
        ps.enter(state, number, T0 + 9000)
        ps.record_check(state, True, T0 + 9001)
    assert ps.progress(state, T0 + 9999, 300)["state"] == "FINISHED"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{", "not valid JSON"),
        ('{"format": 9}', "not a practice state"),
        ('{"format": 1, "steps": []}', "no steps"),
        ('{"format": 1, "steps": [{}], "current": 3}', "current step"),
    ],
)
def test_a_damaged_state_file_says_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        ps.parse_state(text)


def test_the_report_shows_practice_per_step() -> None:
    state = two_steps()
    ps.enter(state, 1, T0)
    ps.record_check(state, True, T0 + 75)
    report = Report.from_dict(
        {"lab": "hello", "run_id": "r1", "practice": ps.summary(state, T0 + 80).to_dict()}
    )
    rows = practice_table(report.practice)[1]
    assert rows[0] == ["1", "build", "passed", "1", "0", "by hand", "1m15s"]
    assert rows[1][2:] == ["not started", "0", "0", "-", "0s"]
    assert "| 1 | build | passed | 1 | 0 | by hand | 1m15s |" in render_markdown(report)
    assert practice_table(None)[1] == []


def test_a_paused_practice_report_says_so_not_running_unfinished() -> None:
    state = two_steps()
    ps.enter(state, 1, T0)
    ps.record_check(state, True, T0 + 75)
    assert ps.advance(state, False, T0 + 80) == 2
    ps.leave(state, T0 + 90)
    data = {"lab": "hello", "run_id": "r1", "status": "running", "started": "then",
            "step_count": 2, "practice": ps.summary(state, T0 + 100).to_dict()}  # fmt: skip
    report = Report.from_dict(data)
    assert run_state(report) == ("paused at step 2/2", "started then")
    markdown, html = render_markdown(report), render_html(report)
    assert "**paused at step 2/2** (started then)." in markdown
    assert "running" not in markdown and "finished -" not in markdown
    assert "paused at step 2/2</span> · started then" in html
    ps.enter(state, 2, T0 + 200)
    practising = Report.from_dict({**data, "practice": ps.summary(state, T0 + 201).to_dict()})
    assert run_state(practising)[0] == "practising at step 2/2"


def test_check_runs_run_commands_never_builds() -> None:
    lab = catalog.find_lab("multistage", Settings())
    first = lab.steps[0]
    assert [first.commands[i].role for i in practice_commands(first)] == ["run"]
    assert practice_commands(lab.steps[5]) == []  # compare: variants-agree on kept outputs


def test_reset_restores_the_steps_files_with_the_runs_base_images() -> None:
    lab = catalog.find_lab("multistage", Settings())
    assert restored_files(lab.steps[1], ["a"]) == ["Dockerfile.multi"]
    assert restored_files(lab.steps[5], ["a", "b"]) == ["a", "b"]
    text = restored_text("Dockerfile", "FROM alpine:latest\n", {"alpine": "rt:1"})
    assert text == "FROM rt:1\n"
    assert restored_text("app.go", "FROM alpine\n", {"alpine": "rt:1"}) == "FROM alpine\n"


def test_engine_choice() -> None:
    assert parse_engine_choice("dev") == "dev"
    assert parse_engine_choice("both") == "both"
    with pytest.raises(UsageError, match="one engine"):
        parse_engine_choice("both", several=False)
    assert parse_engine_choice("dev:2fa8fe4", several=False) == "dev:2fa8fe4"
    with pytest.raises(UsageError, match="one engine"):
        parse_engine_choice(["dev:2fa8fe4", "host"], several=False)
    with pytest.raises(UsageError, match="not a commit prefix"):
        parse_engine_choice("dev:HEAD;rm")
    with pytest.raises(UsageError, match="not one of host, dev, both"):
        parse_engine_choice("cloud")
    # Practice names only the engines it takes.
    with pytest.raises(UsageError, match=r"'cloud' is not one of host, dev, dev:<commit>"):
        parse_engine_choice("cloud", several=False)


def test_several_engines_in_order() -> None:
    from mobylab.lab.engine_choice import engine_label, engine_specs

    choice = parse_engine_choice(["dev:2fa8fe4", "dev:2e96c17", "host", "dev:2fa8fe4"])
    assert choice == "dev:2fa8fe4,dev:2e96c17,host"
    assert engine_specs(choice) == ["dev:2fa8fe4", "dev:2e96c17", "host"]
    assert engine_specs("both") == ["host", "dev"]
    assert engine_specs("both,dev") == ["host", "dev"]
    assert parse_engine_choice(None) == "host"
    assert engine_label("dev:2fa8fe4") == "dev-2fa8fe4"


LAB = {
    "title": "t",
    "steps": [
        {
            "title": "s",
            "task": "Build it.",
            "hints": ["one"],
            "commands": ["docker build -t {tag_prefix}:x .", "docker run --rm {tag_prefix}:x"],
            "checks": [{"type": "output-equals", "expected": "hi"}],
        }
    ],
}


def test_lab_fields_for_practice(tmp_path: Path) -> None:
    lab = parse_lab(LAB, tmp_path, "lab.toml")
    assert lab.steps[0].task == "Build it." and lab.steps[0].hints == ("one",)
    assert practice_problem(lab) == ""
    untasked = {**LAB, "steps": [{**LAB["steps"][0], "task": ""}]}
    assert practice_problem(parse_lab(untasked, tmp_path, "lab.toml")) == (
        "step 1 (s) has no task (steps[0].task)"
    )
    on_build = {**LAB, "steps": [{**LAB["steps"][0], "checks": [
        {"type": "exit-code", "expected": 0, "command": 0}]}]}  # fmt: skip
    with pytest.raises(LabError, match=r"steps\[0\].checks\[0\]: in practice mode"):
        parse_lab(on_build, tmp_path, "lab.toml")
    bad_factor = {**LAB, "steps": [{**LAB["steps"][0], "checks": [
        {"type": "image-smaller", "image": "a", "than": "b", "factor": 2}]}]}  # fmt: skip
    with pytest.raises(LabError, match="factor: expected a number"):
        parse_lab(bad_factor, tmp_path, "lab.toml")


def test_image_smaller() -> None:
    sizes = {"small:1": 9_000_000, "sdk:1": 700_000_000}
    facts = Facts(image_size=sizes.get)
    check = Check(type="image-smaller", image="small:1", than="sdk:1", factor=0.1, hint="h")
    assert evaluate(check, facts).passed is True
    wrong = evaluate(Check(type="image-smaller", image="sdk:1", than="sdk:1", factor=0.1), facts)
    assert wrong.passed is False and wrong.seen == "700.0 MB against 700.0 MB"
    missing = evaluate(Check(type="image-smaller", image="nope", than="sdk:1"), facts)
    assert (missing.passed, missing.seen) == (False, "no image nope")


def test_the_docker_wrapper_labels_what_it_creates(tmp_path: Path) -> None:
    script = tmp_path / "docker"
    script.write_text(docker_wrapper("/bin/echo", ["--label", "org.mobylab.run=r 1"]))
    script.chmod(0o755)

    def words(*argv: str) -> str:
        return subprocess.run([str(script), *argv], capture_output=True, text=True).stdout.strip()

    assert words("build", "-t", "x", ".") == "build --label org.mobylab.run=r 1 -t x ."
    assert words("image", "build", ".") == "image build --label org.mobylab.run=r 1 ."
    assert words("container", "run", "x") == "container run --label org.mobylab.run=r 1 x"
    assert words("images", "x") == "images x"
    assert words("image", "ls") == "image ls"


def test_the_shell_and_its_environment() -> None:
    bash = shell_argv("/bin/bash", Path("/r/bashrc"))
    assert bash == ["/bin/bash", "--rcfile", "/r/bashrc", "-i"]
    assert shell_argv("/usr/bin/zsh", Path("/r")) == ["/usr/bin/zsh", "-i"]
    assert shell_argv(None, Path("/r"))[0] == "bash"
    env = shell_environment(
        {"PATH": "/usr/bin", "HOME": "/h"}, {"DOCKER_HOST": "unix:///s"},
        {"tag_prefix": "mobylab-lab/hello-r1", "url": ""}, Path("/f"), Path("/f/p.json"),
        "hello 1/1",
    )  # fmt: skip
    assert env["TAG"] == "mobylab-lab/hello-r1" and "URL" not in env
    assert env["PATH"] == "/f/bin:/usr/bin" and env["DOCKER_HOST"] == "unix:///s"
    assert env["MOBYLAB_PRACTICE"] == "/f/p.json" and env["HOME"] == "/h"
    assert _without_practice_bin(env["PATH"], "/f/bin") == "/usr/bin"


def test_the_lab_command_refuses_a_bad_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parser().parse_args(["chek"])
    assert exited.value.code == 2
    assert capsys.readouterr().err.startswith("error: lab: argument command: invalid choice")


def practice_state_file(tmp_path: Path, engine_url: str) -> Path:
    """A practice run of the hello lab whose engine is `engine_url`."""
    lab = catalog.find_lab("hello", Settings())
    workdir = tmp_path / "work"
    workdir.mkdir()
    report_dir = tmp_path / "reports" / "r1"
    report_dir.mkdir(parents=True)
    state = ps.new_state(
        lab="hello", run_id="r1", titles=[s.title for s in lab.steps], now=T0,
        lab_dir=str(lab.path), app_dir="", source="", choice="host", exact=True,
        workdir=str(workdir), substitutions=[],
        bases={"builder": "b:1", "runtime": "r:1", "offline": True, "reason": "test"},
        engine={"url": engine_url, "kind": "host", "name": "host"},
        values={"tag_prefix": "mobylab-lab/hello-r1", "url": ""},
    )  # fmt: skip
    ps.enter(state, 1, T0)
    path = report_dir / ps.FILE_NAME
    path.write_text(json.dumps(state))
    return path


def lab_command(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mobylab.lab.practice.cli", *args],
        env={**os.environ, "MOBYLAB_PRACTICE": str(state)}, cwd=REPO,
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_check_with_the_engine_down_says_so_and_counts_no_attempt(tmp_path: Path) -> None:
    state = practice_state_file(tmp_path, f"unix://{tmp_path / 'no-engine.sock'}")
    done = lab_command(state, "check")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: the host engine at unix://{tmp_path / 'no-engine.sock'} does not answer: "
        "this check was not counted. Start it again (`invoke engine.up`, or `invoke dev.up` "
        "for dev), then `lab check`."
    ]
    step = json.loads(state.read_text())["steps"][0]
    assert (step["attempts"], step["failed_attempts"], step["not_counted"]) == (0, 0, 1)


def test_the_lab_command_on_bad_input_says_one_line(tmp_path: Path) -> None:
    state = practice_state_file(tmp_path, "unix:///nowhere.sock")
    early = lab_command(state, "next")
    assert early.returncode == 1
    assert early.stderr == (
        "error: step 1 has not passed yet (not started): run `lab check`, "
        "or `lab next --skip` to leave it undone.\n"
    )
    outside = lab_command(state, "show", "../../etc/passwd")
    assert outside.returncode == 2 and "goes up with '..'" in outside.stderr
    state.write_text("{not json")
    broken = lab_command(state, "hint")
    assert broken.returncode == 1 and "is not valid JSON" in broken.stderr
    assert "Traceback" not in early.stderr + outside.stderr + broken.stderr
    outside_shell = subprocess.run(
        [sys.executable, "-m", "mobylab.lab.practice.cli", "status"],
        env={k: v for k, v in os.environ.items() if k != "MOBYLAB_PRACTICE"}, cwd=REPO,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert outside_shell.returncode == 2 and "not inside a practice shell" in outside_shell.stderr


def test_workshop_status_of_a_practice_run() -> None:
    from mobylab.workshop.labrun import parse_document, practice_status

    state = two_steps()
    ps.enter(state, 1, T0)
    ps.record_check(state, False, T0 + 5)
    verdict, line, data = practice_status(json.dumps(state), T0 + 700, stuck_after=600)
    assert (verdict, data["progress"], data["steps"]) == ("WARN", "STUCK", "0/2")
    assert line == "stuck at step 1/2 (failing): 1 attempt, 0 hints, 11m40s on it"
    assert data["practice"]["attempts"] == 1 and data["practice"]["on_step"] == 700.0
    assert practice_status(json.dumps(state), T0 + 60, 600)[0] == "OK"
    broken = practice_status("{", T0, 600)
    assert broken[0] == "FAIL" and broken[1].startswith("practice.json not valid JSON")
    assert parse_document(None) == (None, "")
    assert parse_document("[1]") == (None, "is not a JSON object")
    assert parse_document("{x")[1].startswith("is not valid JSON")


# A file a learner reads of: a name with an extension a lab's files have, a
# Dockerfile.NAME, or "the Dockerfile" / `Dockerfile` (not "picks the Dockerfile" in general).
NAMED_FILE = re.compile(
    r"(?<![\w/$.-])(?:[\w-]+/)*(?:[\w-]+\.(?:go|md|json|sh|html|txt|toml|ya?ml)"
    r"|Dockerfile\.[\w-]+)(?![\w/-])|(?<=`)Dockerfile(?=`)|(?<=build )Dockerfile\b"
)


@pytest.mark.parametrize("name", lab_catalog.available(Settings()))
def test_every_file_a_task_or_hint_names_can_be_shown(tmp_path: Path, name: str) -> None:
    lab = catalog.find_lab(name, Settings())
    workdir = tmp_path / "work"
    copy_workdir(lab.workdir_source, workdir)
    for step in lab.steps:
        for text in (step.task, *step.hints, *(check.hint for check in step.checks)):
            for named in NAMED_FILE.findall(text):
                assert shown_file(lab, workdir, named).is_file(), f"{step.title}: {named}"
    with pytest.raises(UsageError, match=r"no file 'nothing\.txt'"):
        shown_file(lab, workdir, "nothing.txt")


# How guided mode's narratives spoke of the commands it runs itself; practice shows the
# same narratives, and there nothing runs until the learner types it.
GUIDED_ONLY = re.compile(r"\bbelow\b.*\b(?:run|runs|ran)\b|\bone by one\b", re.IGNORECASE | re.S)


@pytest.mark.parametrize("name", lab_catalog.available(Settings()))
def test_narratives_read_right_in_practice_mode(name: str) -> None:
    lab = catalog.find_lab(name, Settings())
    for step in lab.steps:
        for paragraph in step.narrative.split("\n\n"):
            assert not GUIDED_ONLY.search(paragraph), f"{step.title}: {paragraph}"
