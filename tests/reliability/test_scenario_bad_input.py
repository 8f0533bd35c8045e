"""dev.try and dev.bisect given bad input: one line, a non-zero exit, nothing lost, nothing
left running. None of these builds an engine: each is refused before a build, or runs
its scenario on the host engine."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from mobylab.engine import Engine
from mobylab.labels import workspace_key
from tests.fixtures.upstream import PR_31257_MERGE, PR_32063_MERGE, mirror_folder
from tests.reliability.conftest import UserCli, assert_refused

pytestmark = pytest.mark.engine


def script(folder: Path, body: str) -> Path:
    path = folder / "scenario.sh"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def docker(engine: Engine, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], env={**os.environ, **engine.cli_env()},
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_a_scenario_that_is_not_there_or_cannot_run(user: UserCli, tmp_path: Path) -> None:
    assert_refused(user("dev.try", str(tmp_path / "nothing")), "no scenario at")
    plain = tmp_path / "plain.sh"
    plain.write_text("#!/bin/sh\nexit 0\n")
    assert_refused(user("dev.bisect", str(plain), "--old", "a", "--new", "b"), "not executable")
    assert not user.workspace.exists() or not (user.workspace / "reports").exists()


@pytest.mark.parametrize(
    ("task", "given", "words"),
    [
        ("dev.try", "lab:nosuch:1", ["lab:nosuch:1: no lab called 'nosuch'", "Known labs:"]),
        ("dev.try", "lab:hello:99", ["hello has no step '99'", "its steps: 1. Build and run"]),
        ("dev.try", "lab:hello", ["lab:hello: names no step", "its steps: 1."]),
        ("dev.bisect", "lab:hello:x", ["hello has no step 'x'", "Give lab:hello:N"]),
    ],
)
def test_a_lab_step_that_is_not_there(user: UserCli, task: str, given: str, words) -> None:
    ends = ["--old", "a", "--new", "b"] if task == "dev.bisect" else []
    assert_refused(user(task, given, *ends), *words)
    assert not (user.workspace / "reports").exists()


def test_a_lab_step_over_its_time_limit_could_not_test(engine: Engine, user: UserCli) -> None:
    done = user("dev.try", "lab:health:2", "--timeout", "3", "--json", timeout=120)
    assert_refused(done, "could not be tested", code=1)
    run_id = json.loads(done.stdout)["run_id"]
    assert (
        json.loads(done.stdout)["rows"][0]["result"]["reason"] == "the time limit (3s) stopped it"
    )
    # What it started (a container that sleeps) is gone: it carried the run's label.
    left = docker(engine, "ps", "-aq", "--filter", f"label=org.mobylab.run={run_id}")
    assert left.stdout.strip() == ""


def test_a_scenario_that_hangs_is_stopped_and_could_not_test(
    engine: Engine, user: UserCli, tmp_path: Path
) -> None:
    name = f"mobylab-hang-{uuid.uuid4().hex[:8]}"
    hang = script(
        tmp_path, f"docker run --name {name} mobylab/probe:busybox /bin/busybox sleep 600\n"
    )
    if docker(engine, "image", "inspect", "mobylab/probe:busybox").returncode != 0:
        pytest.skip("the probe image is not on the engine (any engine test makes it)")
    started = time.monotonic()
    done = user("dev.try", str(hang), "--timeout", "5", "--json", timeout=120)
    assert time.monotonic() - started < 60
    assert_refused(done, "could not be tested", code=1)
    assert "the time limit (5s) stopped it" in done.stdout
    # What it started is gone: the container carried the run's label.
    assert docker(engine, "container", "inspect", name).returncode != 0


def test_only_what_the_scenario_made_is_removed(
    engine: Engine, user: UserCli, tmp_path: Path
) -> None:
    mine = f"mobylab-user/kept:{uuid.uuid4().hex[:8]}"
    assert docker(engine, "tag", "mobylab/probe:busybox", mine).returncode == 0
    try:
        made = f"mobylab-scenario/made:{uuid.uuid4().hex[:8]}"
        (tmp_path / "Dockerfile").write_text(f'FROM {mine}\nRUN ["/bin/busybox", "true"]\n')
        label = '{{index .Config.Labels "org.mobylab.workspace"}}'
        body = (
            f"docker build -q -t {made} {tmp_path} && docker image inspect {mine} >/dev/null\n"
            f"echo \"workspace: $(docker image inspect -f '{label}' {made})\"\n"
        )
        done = user("dev.try", str(script(tmp_path, body)), "--json", timeout=300)
        assert done.returncode == 0, done.output
        # What it made carries this workspace's label, so lab.clean of it finds it too.
        tail = json.loads(done.stdout)["rows"][0]["result"]["tail"]
        assert f"workspace: {workspace_key(user.workspace)}" in tail
        assert docker(engine, "image", "inspect", mine).returncode == 0
        assert docker(engine, "image", "inspect", made).returncode != 0
    finally:
        docker(engine, "rmi", mine)


@pytest.fixture
def mirrored(user: UserCli) -> UserCli:
    user.env["MOBYLAB_MIRRORS"] = str(mirror_folder())
    return user


@pytest.fixture
def present(tmp_path: Path) -> str:
    return str(script(tmp_path, "exit 0\n"))


@pytest.mark.parametrize(
    ("old", "new", "words", "code"),
    [
        (PR_32063_MERGE, PR_32063_MERGE[:10], "--old and --new are the same commit", 2),
        ("1325f667ee", "0000000bad", "unknown ref '0000000bad'", 1),
        ("3de58eb2bc", "1325f667ee", "is not an ancestor of --new", 2),
        (PR_31257_MERGE, "no-such-branch", "unknown ref 'no-such-branch'", 1),
    ],
)
def test_bisect_ends_that_cannot_be_searched(
    mirrored: UserCli, present: str, old: str, new: str, words: str, code: int
) -> None:
    done = mirrored("dev.bisect", present, "--old", old, "--new", new, timeout=300)
    assert_refused(done, words, code=code)
    assert not list((mirrored.workspace / "builds").glob("*"))


def test_a_pull_request_the_source_cannot_fetch(mirrored: UserCli, present: str) -> None:
    done = mirrored("dev.try", present, "--pr", "99999", timeout=300)
    assert_refused(done, "pull request #99999 is not in", code=1)
