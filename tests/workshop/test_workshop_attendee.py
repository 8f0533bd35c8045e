"""An attendee on a provisioned host follows the README: logs in, types
`mobylab-workshop lab.practice hello`, tries, leaves, resumes with the command the lab
printed, solves. Meanwhile the instructor's status, board, run, collect and teardown
see that practice and treat it right."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mobylab.engine import Engine
from tests.fixtures.terminal import Terminal, tmux_terminal

from .conftest import REPO, MobylabCli, SshFarm, attendee_host, board_snapshot, make_cli
from .conftest import TestHost as FarmHost  # (not a test class)

pytestmark = [pytest.mark.workshop, pytest.mark.slow]
FOLDER = ".mobylab-attendee-test"  # this module's --remote-dir, apart from the other tests'
COMMAND = "mobylab-workshop"


@pytest.fixture(scope="module")
def workshop(
    tmp_path_factory: pytest.TempPathFactory,
    ssh_farm: SshFarm,
    wheelhouse_cache: Path,
    source_snapshot: Path,
    engine: Engine,
) -> Iterator[tuple[MobylabCli, FarmHost]]:
    cli = make_cli(tmp_path_factory.mktemp("attendee"), ssh_farm, wheelhouse_cache, source_snapshot)
    host = ssh_farm.host(8)
    with attendee_host(cli, host, f"~/{FOLDER}") as provisioned:
        assert f"attendees type: {COMMAND} lab.practice LAB" in provisioned.stdout
        yield cli, host


def instructor(cli: MobylabCli, host: FarmHost, task: str, *args: str):
    return cli(f"workshop.{task}", "--hosts", host.spec, "--remote-dir", f"~/{FOLDER}", *args)


def attendee_types(terminal: Terminal, host: FarmHost, line: str) -> None:
    """A login shell of the attendee (as ssh gives one) running `line`, 80 columns wide."""
    docker_host = os.environ.get("DOCKER_HOST")
    line = f"DOCKER_HOST={docker_host} {line}" if docker_host else line
    env = {"PATH": os.environ["PATH"], "TERM": "xterm-256color"}
    terminal.start(["su", "-", host.user, "-c", line], env, host.home)
    terminal.tmux("resize-window", "-t", "t", "-x", "80")


def test_an_attendee_practises_and_the_instructor_sees_it(
    workshop: tuple[MobylabCli, FarmHost], tmp_path: Path
) -> None:
    cli, host = workshop
    terminal = tmux_terminal(tmp_path)
    try:
        attendee_types(terminal, host, f"{COMMAND} lab.practice hello")
        terminal.wait_for(r"\[lab hello 1/1\]", timeout=180)
        terminal.type("lab check")
        terminal.wait_for(r"step 1: failed|step 1 failed|✗")
        terminal.type("exit")
        left = terminal.wait_for(r"TERMINAL-EXITED 0")
        assert f"`{COMMAND} lab.practice hello` resumes at step 1" in left
    finally:
        terminal.close()

    status = instructor(cli, host, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "PAUSED" in status.stdout and "paused at step 1/1 (failing): 1 attempt" in status.stdout

    # The instructor's run would take the board from the learner: refused, progress kept.
    run = instructor(cli, host, "run", "hello")
    assert run.returncode == 1
    said = " ".join((run.stdout + run.stderr).split())
    assert "practice of hello paused at step 1/1" in said and "--force" in said
    assert "PAUSED" in instructor(cli, host, "status").stdout

    collected = instructor(cli, host, "collect")
    assert collected.returncode == 0, collected.stdout + collected.stderr
    assert "1 host: 0 finished, 0 passed, 1 in progress" in collected.stderr
    assert "FAIL" not in collected.stdout + collected.stderr
    reports = sorted((cli.workspace / "workshop" / "reports").glob("*/report.json"))
    (row,) = json.loads(reports[-1].read_text())["results"]
    assert row["steps"][0]["practice"]["attempts"] == 1

    seen = board_snapshot(cli, host, f"~/{FOLDER}")
    assert (seen["data"]["lab"], seen["data"]["progress"]) == ("hello", "PAUSED")

    # The attendee comes back with the command the lab printed, and solves the step.
    terminal = tmux_terminal(tmp_path)
    try:
        attendee_types(terminal, host, f"{COMMAND} lab.practice hello")
        terminal.wait_for(r"\[lab hello 1/1\]", timeout=180)
        terminal.type("lab solve")
        terminal.wait_for(r"step 1 passed|step 1: passed", timeout=180)
        terminal.type("exit")
        terminal.wait_for(r"TERMINAL-EXITED 0")
    finally:
        terminal.close()
    status = instructor(cli, host, "status")
    assert "FINISHED" in status.stdout and "1/1 (1 solved)" in status.stdout
    collected = instructor(cli, host, "collect")
    assert collected.returncode == 0, collected.stdout + collected.stderr
    assert "solved" in collected.stdout


def test_check_keeps_host_names_whole_at_80_columns(workshop: tuple[MobylabCli, FarmHost]):
    cli, host = workshop
    argv = cli.argv("workshop.check", "--hosts", host.spec, "--remote-dir", f"~/{FOLDER}")
    result = subprocess.run(
        argv, env={**cli.env(), "COLUMNS": "80"}, cwd=REPO, capture_output=True, text=True,
        stdin=subprocess.DEVNULL, timeout=600,
    )  # fmt: skip
    # The table fits; the notes under it are lines the terminal wraps.
    lines = [line for line in result.stdout.splitlines() if not line.startswith("WARN: ")]
    assert max(len(line) for line in lines) <= 80, result.stdout
    row = next(line for line in lines if host.spec in line)
    assert "0.1.0" in row, result.stdout
    assert "1 host:" in result.stderr and "1 hosts" not in result.stderr


def test_teardown_names_what_it_removes_and_leaves_what_others_use(
    workshop: tuple[MobylabCli, FarmHost], engine: Engine
) -> None:
    cli, host = workshop
    listing = instructor(cli, host, "teardown")
    assert listing.returncode == 0, listing.stdout + listing.stderr
    said = " ".join(listing.stdout.split())
    assert f"{host.home}/.local/bin/{COMMAND}" in said.replace(" ", "") or COMMAND in said
    assert "mobylab/golang" not in said and "mobylab/runtime" not in said
    removed = instructor(cli, host, "teardown", "--yes")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert not (host.home / FOLDER).exists()
    assert not (host.home / ".local" / "bin" / COMMAND).exists()
    shared = subprocess.run(
        ["docker", "image", "ls", "-q", "--filter", "label=org.mobylab.managed=true"],
        capture_output=True, text=True, env=engine.cli_env(), check=True,
    ).stdout.split()  # fmt: skip
    assert shared  # the base images other workspaces use are still there
