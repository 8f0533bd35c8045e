"""Lab tasks as a user runs them: one-line errors, non-zero exits, no tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mobylab.config import Settings, merge_settings
from mobylab.errors import LabError
from mobylab.lab import catalog
from mobylab.lab.external import source_lab
from mobylab.session import Session
from tests.fixtures.cli import REPO, invoke_argv
from tests.fixtures.terminal import framed, tmux_terminal, unspaced


def invoke(tmp_path: Path, *args: str, config: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MOBYLAB_WORKSPACE": str(tmp_path / "ws"), "MOBYLAB_OFFLINE": "yes"}
    path = None
    if config:
        path = tmp_path / "mobylab.yaml"
        path.write_text(config)
    return subprocess.run(
        invoke_argv(*args, config=path),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_unknown_lab_is_one_line(tmp_path: Path) -> None:
    result = invoke(tmp_path, "lab.run", "nope")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "error: no lab called 'nope'. Known labs: dockerfile-now, health, hello, multistage, "
        "run-options (see `invoke lab.list`)."
    ]


def test_broken_lab_toml_is_one_line_naming_the_field(tmp_path: Path) -> None:
    lab = tmp_path / "labs" / "broken"
    lab.mkdir(parents=True)
    (lab / "lab.toml").write_text('title = "B"\n[[steps]]\ntitle = "s"\ncommands = [3]\n')
    result = invoke(tmp_path, "lab.run", "broken", config=f"mobylab:\n  labs_dir: {lab.parent}\n")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: labs/broken/lab.toml: steps[0].commands[0]: expected a string. Fix the lab file."
    ]
    assert "Traceback" not in result.stderr


def test_list_and_show(tmp_path: Path) -> None:
    listed = invoke(tmp_path, "lab.list")
    assert listed.returncode == 0
    assert "multistage" in listed.stdout and "hello" in listed.stdout
    shown = invoke(tmp_path, "lab.show", "multistage")
    assert shown.returncode == 0, shown.stderr
    # Placeholders as practice's shell names them, and practice's tasks and hints too.
    assert "docker create --name $EXTRACT $TAG:build" in shown.stdout
    assert "{tag_prefix}" not in shown.stdout
    assert "COPY --from=builder" in shown.stdout
    assert "Your task (practice)" in shown.stdout
    assert "hint 1/4: Read build.sh" in shown.stdout


@pytest.mark.parametrize("width", [80, 160])
def test_show_wraps_files_and_tasks_at_the_terminals_width(tmp_path: Path, width: int) -> None:
    terminal = tmux_terminal(tmp_path)
    env = {"PATH": os.environ["PATH"], "TERM": "xterm-256color", "COLUMNS": str(width),
           "HOME": str(tmp_path), "MOBYLAB_WORKSPACE": str(tmp_path / "ws")}  # fmt: skip
    try:
        terminal.start(invoke_argv("lab.show", "multistage"), env, REPO, width=width)
        screen = terminal.wait_for(r"TERMINAL-EXITED 0", timeout=60)
    finally:
        terminal.close()
    lab = catalog.find_lab("multistage", Settings())
    for name in lab.steps[0].show:
        (panel,) = framed(screen, name, width)
        for line in (lab.workdir_source / name).read_text().splitlines():
            assert unspaced(line) in unspaced(panel), f"{name}: {line!r} cut"
    tasks = framed(screen, "Your task (practice)", width)
    assert len(tasks) == len(lab.steps)
    for step, task in zip(lab.steps, tasks, strict=True):
        for command in step.task.split("`")[1::2]:
            assert unspaced(command) in unspaced(task), f"{step.title}: {command!r} cut"


def test_report_without_runs(tmp_path: Path) -> None:
    result = invoke(tmp_path, "lab.report")
    assert result.returncode == 1
    assert result.stderr.startswith("error: no lab has run in this workspace yet.")


def test_bad_options_are_usage_errors(tmp_path: Path) -> None:
    result = invoke(tmp_path, "lab.multistage", "--url", "file:///etc/passwd")
    assert result.returncode == 2
    assert "is not an http or https URL" in result.stderr
    result = invoke(tmp_path, "lab.run", "hello", "--engine", "moon")
    assert result.returncode == 2


def test_source_missing_files_are_named(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "Dockerfile").write_text("FROM alpine\n")
    (repo / "Dockerfile.build").write_text("FROM golang\n")
    session = Session(merge_settings({"workspace": str(tmp_path / "ws")}, environ={}))
    with pytest.raises(LabError) as caught:
        source_lab(session, catalog.find_lab("multistage", Settings()), str(repo))
    assert caught.value.message == (
        f"{repo} is not laid out like href-counter: missing Dockerfile.multi, "
        "build.sh or build-multi-dockerfiles.sh"
    )
    result = invoke(tmp_path, "lab.multistage", "--source", str(repo))
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    result = invoke(tmp_path, "lab.multistage", "--source", "gopher://example.com/x")
    assert result.returncode == 2 and "scheme 'gopher' is not allowed" in result.stderr


@pytest.mark.parametrize(
    "module",
    [
        "runner",
        "external",
        "report",
        "html",
        "metrics",
        "bases",
        "catalog",
        "checks",
        "model",
        "site",
    ],
)
def test_each_lab_module_imports_on_its_own(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", f"import mobylab.lab.{module}"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


UNTASKED = """
title = "Untasked"
[[steps]]
title = "only step"
commands = ["docker images"]
"""


@pytest.mark.parametrize(
    ("args", "config", "code", "line"),
    [
        (("lab.practice", "untasked"), "labs", 1,
         "error: lab untasked has no practice texts: step 1 (only step) has no task "
         "(steps[0].task). Run it guided with `invoke lab.run untasked`, or add the tasks "
         "to its lab.toml."),
        (("lab.practice", "hello"), "", 2,
         "error: lab.practice needs a terminal: it opens a shell for you to type in. Run it "
         "in a terminal; `invoke lab.run hello --yes` runs a lab without one."),
        (("lab.practice", "hello", "--engine", "both"), "", 2,
         "error: --engine both: practice runs on one engine (one shell). Use host, dev or "
         "dev:<commit>."),
        (("lab.practice", "hello", "--engine", "dev:HEAD"), "", 2,
         "error: --engine 'dev:HEAD': 'HEAD' is not a commit prefix. Name a dev build by 4 to "
         "40 hex digits of its commit."),
        (("lab.multistage", "--practice", "--yes"), "", 2,
         "error: --practice goes with --engine, --step, --url and --source only."),
    ],
)  # fmt: skip
def test_practice_bad_input_is_one_line(
    tmp_path: Path, args: tuple[str, ...], config: str, code: int, line: str
) -> None:
    if config:
        lab = tmp_path / "labs" / "untasked"
        lab.mkdir(parents=True)
        (lab / "lab.toml").write_text(UNTASKED)
        config = f"mobylab:\n  labs_dir: {tmp_path / 'labs'}\n"
    result = invoke(tmp_path, *args, config=config)
    assert (result.returncode, result.stderr.strip().splitlines()) == (code, [line])
