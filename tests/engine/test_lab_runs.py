"""Lab runs as a user starts them: the hello lab, five at once, stop signals, resuming a
step, a guided pause, and lab.clean keeping to its workspace."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest

from mobylab.engine import Engine
from mobylab.lab.execute import remove_run_resources
from tests.fixtures.cli import REPO, invoke_argv
from tests.fixtures.signals import STOPS, stop
from tests.fixtures.terminal import Terminal, tmux_terminal

pytestmark = [pytest.mark.engine, pytest.mark.slow]
RUN_LINE = re.compile(r"run (\d{8}-\d{6}-[0-9a-f]{6}) ")


def lab_env(workspace: Path, engine: Engine) -> dict[str, str]:
    return {
        **os.environ,
        "MOBYLAB_WORKSPACE": str(workspace),
        "MOBYLAB_OFFLINE": "yes",
        "DOCKER_HOST": engine.url,
    }


@pytest.fixture
def cleanup(engine: Engine) -> Iterator[list[str]]:
    run_ids: list[str] = []
    yield run_ids
    for run_id in run_ids:
        remove_run_resources(engine, run_id)


def run_ids_in(workspace: Path) -> list[str]:
    reports = workspace / "reports"
    if not reports.is_dir():
        return []
    return sorted(p.name for p in reports.iterdir() if p.is_dir() and not p.is_symlink())


def test_five_hello_runs_at_once(engine: Engine, tmp_path: Path, cleanup: list[str]) -> None:
    workspace = tmp_path / "ws"
    env = lab_env(workspace, engine)
    # Make the offline runtime image once, so the five runs measure only themselves.
    first = subprocess.run(
        invoke_argv("lab.run", "hello", "--yes"), env=env, capture_output=True, text=True,
        timeout=900, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr

    def one(_: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            invoke_argv("lab.run", "hello", "--yes"), env=env, capture_output=True, text=True,
            timeout=600, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    with ThreadPoolExecutor(max_workers=5) as pool:
        results = list(pool.map(one, range(5)))
    run_ids = run_ids_in(workspace)
    cleanup.extend(run_ids)
    for result in results:
        assert result.returncode == 0, result.stderr
        assert "hello from mobylab" in result.stdout
    assert len(run_ids) == 6
    for run_id in run_ids:
        report = json.loads((workspace / "reports" / run_id / "report.json").read_text())
        assert report["status"] == "passed"
        assert report["variants"][0]["image"] == f"mobylab-lab/hello-{run_id}:latest"
    rendered = subprocess.run(
        invoke_argv("lab.report", "--run", run_ids[0]), env=env, capture_output=True, text=True,
        timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert rendered.returncode == 0, rendered.stderr
    assert f"reports/{run_ids[0]}/report.html" in rendered.stdout


SLOW_LAB = """
title = "Slow"
images = ["runtime"]
app = "app"
[base_images]
runtime = ["alpine"]
[[steps]]
title = "quick"
commands = ["docker build -t {tag_prefix}:latest ."]
[[steps]]
title = "slow"
commands = ["docker run --rm {tag_prefix}:latest"]
[[steps.checks]]
type = "output-equals"
expected = "never"
[[steps]]
title = "check"
commands = [{ run = "docker images {tag_prefix}", role = "inspect" }]
[[steps.checks]]
type = "image-exists"
image = "{tag_prefix}:latest"
"""


def slow_lab(tmp_path: Path) -> Path:
    lab = tmp_path / "labs" / "slow"
    (lab / "app").mkdir(parents=True)
    (lab / "app" / "Dockerfile").write_text('FROM alpine:latest\nCMD ["sleep", "120"]\n')
    (lab / "lab.toml").write_text(SLOW_LAB)
    config = tmp_path / "mobylab.yaml"
    config.write_text(f"mobylab:\n  labs_dir: {lab.parent}\n")
    return config


def containers_of(engine: Engine, run_id: str) -> list[str]:
    return labelled(engine, ["ps", "-aq"], run_id)


def labelled(engine: Engine, listing: list[str], run_id: str) -> list[str]:
    """The ids `docker LISTING` gives for what carries the run's label."""
    result = subprocess.run(
        ["docker", *listing, "--filter", f"label=org.mobylab.run={run_id}"],
        env={**os.environ, **engine.cli_env()}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return result.stdout.split()


@STOPS
def test_ctrl_c_sigterm_or_sighup_removes_containers_and_keeps_the_report(
    engine: Engine, tmp_path: Path, cleanup: list[str], signum: int, code: int
) -> None:
    config = slow_lab(tmp_path)
    workspace = tmp_path / "ws"
    proc = subprocess.Popen(
        invoke_argv("lab.run", "slow", "--yes", config=config),
        env=lab_env(workspace, engine), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL, text=True, start_new_session=True,
    )  # fmt: skip
    assert proc.stdout is not None
    run_id = ""
    deadline = time.monotonic() + 600
    for line in proc.stdout:
        found = RUN_LINE.search(line)
        run_id = found.group(1) if found else run_id
        if line.startswith("$ docker run"):
            break
        assert time.monotonic() < deadline
    assert run_id
    cleanup.append(run_id)
    while not containers_of(engine, run_id):  # the container is up
        time.sleep(0.2)
        assert time.monotonic() < deadline
    stop(proc, signum)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert containers_of(engine, run_id) == []
    report = json.loads((workspace / "reports" / run_id / "report.json").read_text())
    assert report["status"] == "interrupted"
    assert [(s["index"], s["status"]) for s in report["steps"]] == [
        (1, "passed"),
        (2, "interrupted"),
    ]


def test_a_failed_step_then_resume_from_it(
    engine: Engine, tmp_path: Path, cleanup: list[str]
) -> None:
    config = slow_lab(tmp_path)
    lab = tmp_path / "labs" / "slow"
    (lab / "app" / "Dockerfile").write_text('FROM alpine:latest\nCMD ["echo", "soon"]\n')
    workspace = tmp_path / "ws"
    env = lab_env(workspace, engine)
    failed = subprocess.run(
        invoke_argv("lab.run", "slow", "--yes", config=config), env=env, capture_output=True,
        text=True, timeout=600, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    cleanup.extend(run_ids_in(workspace))
    assert failed.returncode == 1
    assert (
        failed.stderr.strip()
        .splitlines()[-1]
        .startswith(
            "error: lab slow: 1 step(s) failed; first: step 2 (slow) on the host engine: "
            "output-equals: expected never, saw soon."
        )
    )
    # Fix the expectation and run only step 2 again: same run, same images.
    (lab / "lab.toml").write_text(SLOW_LAB.replace('expected = "never"', 'expected = "soon"'))
    resumed = subprocess.run(
        invoke_argv("lab.run", "slow", "--yes", "--from", "2", config=config), env=env,
        capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    run_ids = run_ids_in(workspace)
    assert len(run_ids) == 1
    report = json.loads((workspace / "reports" / run_ids[0] / "report.json").read_text())
    assert [(s["index"], s["status"]) for s in report["steps"]] == [
        (1, "passed"), (2, "passed"), (3, "passed"),
    ]  # fmt: skip
    assert report["status"] == "passed"


def images_of(engine: Engine, run_id: str) -> list[str]:
    return labelled(engine, ["images", "-q"], run_id)


def test_clean_takes_this_workspaces_lab_runs_only(
    engine: Engine, tmp_path: Path, cleanup: list[str]
) -> None:
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"

    def task(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            invoke_argv(*args), env=lab_env(workspace, engine), capture_output=True,
            text=True, timeout=900, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    for workspace in (mine, theirs):
        assert task(workspace, "lab.run", "hello", "--yes").returncode == 0
    (my_run,), (their_run,) = run_ids_in(mine), run_ids_in(theirs)
    cleanup += [my_run, their_run]
    unknown = task(mine, "lab.clean", "--run", "nosuchrun")
    assert unknown.returncode == 2 and "no lab run 'nosuchrun' in this workspace" in unknown.stderr
    cleaned = task(mine, "lab.clean")
    assert cleaned.returncode == 0, cleaned.stderr
    assert images_of(engine, my_run) == [] and images_of(engine, their_run) != []
    assert task(mine, "lab.clean", "--all").returncode == 0
    assert images_of(engine, their_run) == []


@contextmanager
def hello_at_80_columns(
    tmp_path: Path, engine: Engine, cleanup: list[str], *flags: str
) -> Iterator[Terminal]:
    """`invoke lab.run hello` in an 80-column terminal; its runs cleaned up after."""
    terminal = tmux_terminal(tmp_path)
    env = {key: lab_env(tmp_path / "ws", engine)[key] for key in
           ("PATH", "MOBYLAB_WORKSPACE", "MOBYLAB_OFFLINE", "DOCKER_HOST")}  # fmt: skip
    env |= {"TERM": "xterm-256color", "COLUMNS": "80", "HOME": str(tmp_path)}
    try:
        terminal.start(invoke_argv("lab.run", "hello", *flags), env, REPO, width=80)
        yield terminal
    finally:
        terminal.close()
        cleanup += run_ids_in(tmp_path / "ws")


def test_a_guided_one_step_lab_waits_for_enter_and_ctrl_c_there_ends_its_line(
    engine: Engine, tmp_path: Path, cleanup: list[str]
) -> None:
    with hello_at_80_columns(tmp_path, engine, cleanup) as terminal:
        terminal.wait_for(r"Press Enter to run this step", timeout=300)
        terminal.keys("C-c")
        screen = terminal.wait_for(r"TERMINAL-EXITED 130")
    assert "$ docker build" not in screen
    lines = screen.splitlines()
    (error,) = [line for line in lines if "interrupted" in line]
    assert error.startswith("error: lab hello interrupted")


def test_a_guided_run_at_80_columns_says_each_thing_once_and_fits(
    engine: Engine, tmp_path: Path, cleanup: list[str]
) -> None:
    with hello_at_80_columns(tmp_path, engine, cleanup, "--yes") as terminal:
        screen = terminal.wait_for(r"TERMINAL-EXITED 0", timeout=300)
    table = screen[screen.index("Hello, mobylab: comparison") : screen.index("hello (host):")]
    (row,) = [line for line in table.splitlines() if "PASS" in line]
    assert row.split()[0] == "hello" and " MB  ████ " in row, row
    assert all(len(line.rstrip()) <= 80 for line in table.splitlines())
    # The engine is described once; hello prints no JSON, so no "output -".
    assert screen.count("host engine: Docker") == 1
    assert "output -" not in screen and " 1 build steps" not in screen
