"""The catalog's labs beyond hello on one real sshd host: provision, workshop.run of each
lab guided, workshop.status and the board's snapshot seeing it finished with its step
count; then an attendee's practice of one of them, seen by status and the board."""

from __future__ import annotations

import json
import os
import subprocess
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from mobylab.engine import Engine
from tests.fixtures.terminal import tmux_terminal

from .conftest import REPO, MobylabCli, SshFarm, attendee_host, board_snapshot, make_cli
from .conftest import TestHost as FarmHost  # (not a test class)

pytestmark = [pytest.mark.workshop, pytest.mark.slow]
FOLDER = ".mobylab-catalog-test"  # this module's --remote-dir, apart from the other tests'
COMMAND = "mobylab-workshop"
NEW_LABS = ("multistage", "dockerfile-now", "run-options", "health")
PRACTISED = "health"


def lab_steps(lab: str) -> list[dict]:
    return tomllib.loads((REPO / "labs" / lab / "lab.toml").read_text())["steps"]


def step_count(lab: str) -> int:
    return len(lab_steps(lab))


def absent_steps(lab: str, engine: Engine) -> int:
    """The lab's steps this engine is too old for ("not in this engine": done, not run)."""
    api = subprocess.run(
        ["docker", "version", "--format", "{{.Server.APIVersion}}"],
        capture_output=True, text=True, env=engine.cli_env(), check=True,
    ).stdout.strip()  # fmt: skip

    def version(text: str) -> tuple[int, ...]:
        return tuple(int(part) for part in text.split("."))

    return sum(version(step.get("needs_api", "1.0")) > version(api) for step in lab_steps(lab))


@pytest.fixture(scope="module")
def workshop(
    tmp_path_factory: pytest.TempPathFactory,
    ssh_farm: SshFarm,
    wheelhouse_cache: Path,
    source_snapshot: Path,
    engine: Engine,
) -> Iterator[tuple[MobylabCli, FarmHost]]:
    cli = make_cli(tmp_path_factory.mktemp("catalog"), ssh_farm, wheelhouse_cache, source_snapshot)
    host = ssh_farm.host(7)
    with attendee_host(cli, host, f"~/{FOLDER}"):
        yield cli, host


def instructor(cli: MobylabCli, host: FarmHost, task: str, *args: str, timeout: float = 900):
    return cli(
        f"workshop.{task}", "--hosts", host.spec, "--remote-dir", f"~/{FOLDER}", *args,
        timeout=timeout,
    )  # fmt: skip


def status_of(cli: MobylabCli, host: FarmHost) -> dict:
    status = instructor(cli, host, "status", "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    (outcome,) = json.loads(status.stdout[status.stdout.index("[") :])
    return outcome["data"]


@pytest.mark.parametrize("lab", NEW_LABS)
def test_a_guided_run_of_each_new_lab_is_finished_in_status_and_board(
    workshop: tuple[MobylabCli, FarmHost], lab: str
) -> None:
    cli, host = workshop
    steps = step_count(lab)
    started = time.monotonic()
    run = instructor(cli, host, "run", lab, timeout=1200)
    print(f"{lab} on one host: {time.monotonic() - started:.0f}s")
    assert run.returncode == 0, run.stdout + run.stderr
    row = next(line for line in run.stdout.splitlines() if host.spec in line)
    assert f"{lab} passed" in row, run.stdout

    data = status_of(cli, host)
    assert (data["lab"], data["where"], data["steps"]) == (lab, "finished", f"{steps}/{steps}")

    seen = board_snapshot(cli, host, f"~/{FOLDER}")
    assert seen["down"] is False
    assert (seen["data"]["lab"], seen["data"]["where"]) == (lab, "finished")
    assert seen["data"]["steps"] == f"{steps}/{steps}"


def test_an_attendee_practice_of_a_new_lab_is_seen_by_status_and_board(
    workshop: tuple[MobylabCli, FarmHost], tmp_path: Path, engine: Engine
) -> None:
    cli, host = workshop
    steps = step_count(PRACTISED)
    terminal = tmux_terminal(tmp_path)
    try:
        docker_host = os.environ.get("DOCKER_HOST")
        line = f"{COMMAND} lab.practice {PRACTISED}"
        line = f"DOCKER_HOST={docker_host} {line}" if docker_host else line
        env = {"PATH": os.environ["PATH"], "TERM": "xterm-256color"}
        terminal.start(["su", "-", host.user, "-c", line], env, host.home)
        terminal.tmux("resize-window", "-t", "t", "-x", "80")
        terminal.wait_for(rf"\[lab {PRACTISED} 1/{steps}\]", timeout=180)
        terminal.type("lab solve")
        terminal.wait_for(r"step 1 passed", timeout=180)
        terminal.type("lab next")
        terminal.wait_for(rf"\[lab {PRACTISED} 2/{steps}\]", timeout=60)
        terminal.type("exit")
        left = terminal.wait_for(r"TERMINAL-EXITED 0")
        assert f"`{COMMAND} lab.practice {PRACTISED}` resumes at step 2" in left
    finally:
        terminal.close()

    data = status_of(cli, host)
    assert (data["lab"], data["progress"]) == (PRACTISED, "PAUSED")
    # Step 1 solved; a step this engine is too old for counts as done (practice moves on).
    assert data["steps"] == f"{1 + absent_steps(PRACTISED, engine)}/{steps} (1 solved)"
    assert f"paused at step 2/{steps}" in data["where"]

    seen = board_snapshot(cli, host, f"~/{FOLDER}")
    assert (seen["data"]["lab"], seen["data"]["progress"]) == (PRACTISED, "PAUSED")
    practice_steps = seen["data"]["practice"]["steps"]
    assert len(practice_steps) == steps
    assert practice_steps[0]["how"] == "solved"
