"""Scenarios for real: the named-stages scenario bisected over the mirror's real 2017 history
(1325f667ee..3de58eb2bc, 56 merged pull requests), Ctrl-C in the middle of it, and dev.try
of the same scenario on the host engine and two 2017 merges.

One workspace for the module: the builds are cached by commit and share the Go caches,
so each takes about a minute on two cores once the first has warmed them. The tests
run in order: the interrupted bisect, its resumption, then dev.try on builds it made.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mobylab.engine import Engine
from mobylab.workspace import Workspace
from tests.fixtures.cli import invoke_argv, run_task
from tests.fixtures.upstream import (
    PR_31257_MERGE,
    PR_32063_BASE,
    PR_32063_HEAD,
    PR_32063_MERGE,
    mirror_folder,
)

pytestmark = [pytest.mark.engine, pytest.mark.slow]

SCENARIOS = Path(__file__).resolve().parents[1] / "fixtures" / "scenarios"
NAMED_STAGES = str(SCENARIOS / "named-stages")
SEED_IMAGE = "mobylab-test/scenario-seed:1"
OLD, NEW = "1325f667ee", "3de58eb2bc"
BISECT = ("dev.bisect", NAMED_STAGES, "--old", OLD, "--new", NEW)


def make_seed_image(engine: Engine) -> None:
    """The image the scenario's first stage names, on the host engine, labelled."""
    done = subprocess.run(
        ["docker", "build", "-q", "-t", SEED_IMAGE, "--label", "org.mobylab.managed=true",
         "--label", "org.mobylab.component=test", str(SCENARIOS / "seed-image")],
        env={**os.environ, **engine.cli_env(), "DOCKER_BUILDKIT": "0"},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def scenario_workspace(
    engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Workspace, dict[str, str]]]:
    make_seed_image(engine)
    workspace = Workspace(tmp_path_factory.mktemp("scenario2017") / "ws")
    yield workspace, {"MOBYLAB_MIRRORS": str(mirror_folder())}
    run_task(workspace, "dev.down", "--all")
    run_task(workspace, "dev.clean", "--yes")
    subprocess.run(["docker", "rmi", SEED_IMAGE], env={**os.environ, **engine.cli_env()},
                   capture_output=True, timeout=120)  # fmt: skip


def build_containers(engine: Engine, commit: str) -> list[str]:
    """The build containers of `commit` (other builds may share the engine)."""
    wanted = ["org.mobylab.managed=true", "org.mobylab.component=devbuild",
              f"org.mobylab.commit={commit[:12]}"]  # fmt: skip
    api = engine.api(timeout=30)
    try:
        return [c["Id"] for c in api.containers(all=True, filters={"label": wanted})]
    finally:
        api.close()


def test_ctrl_c_during_a_bisect_build_keeps_the_steps_done(
    engine: Engine, scenario_workspace: tuple[Workspace, dict[str, str]]
) -> None:
    workspace, env = scenario_workspace
    process = subprocess.Popen(
        invoke_argv(*BISECT),
        env={**os.environ, "MOBYLAB_WORKSPACE": str(workspace.root), **env},
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip
    shown: list[str] = []
    try:
        assert process.stderr is not None
        # Both ends first; the third step is the first midpoint: stop it while it builds.
        steps: list[str] = []
        for line in process.stderr:
            shown.append(line)
            if "commits in question" in line:
                steps.append(line.split("==>", 1)[1].split(":", 1)[0].strip())
            if len(steps) == 3 and "build copy of" in line:
                deadline = time.monotonic() + 300
                while not build_containers(engine, steps[2]) and time.monotonic() < deadline:
                    time.sleep(0.5)
                time.sleep(2)
                os.killpg(process.pid, signal.SIGINT)
                break
        _, rest = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    stderr = "".join(shown) + rest
    assert process.returncode == 130, stderr[-3000:]
    assert len(steps) == 3, stderr[-3000:]
    assert build_containers(engine, steps[2]) == []
    [log_path] = (workspace.root / "reports" / "bisect").glob("*/log.json")
    log = json.loads(log_path.read_text())
    assert [step["result"]["outcome"] for step in log["steps"]] == ["absent", "present"]
    # Nothing half-cached: only the two ends have a build.
    built = {
        p.parent.parent.name for p in (workspace.root / "builds").glob("*/source/manifest.json")
    }
    assert built == {step["commit"] for step in log["steps"]}


def test_the_bisect_resumes_and_names_pull_request_32063(
    scenario_workspace: tuple[Workspace, dict[str, str]],
) -> None:
    workspace, env = scenario_workspace
    done = run_task(workspace, *BISECT, "--json", env=env, timeout=3600)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "resuming: 2 steps already done" in done.stderr
    report = json.loads(done.stdout)
    assert report["first_commit"] == PR_32063_MERGE
    assert report["pull_request"] == 32063
    assert report["change"] == "arrival"
    assert report["walked"] == 57
    assert len(report["steps"]) <= 8
    outcomes = {step["commit"]: step["result"]["outcome"] for step in report["steps"]}
    assert outcomes[report["previous_commit"]] == "absent"
    assert outcomes[PR_32063_MERGE] == "present"
    assert all(step["result"]["builder"] == "legacy" for step in report["steps"])
    folder = next((workspace.root / "reports" / "bisect").iterdir())
    assert (
        "pull request #32063: Add support for named build stages"
        in (folder / "report.md").read_text()
    )
    # The same command again answers from its log without building.
    again = run_task(workspace, *BISECT, env=env, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "2e96c1739be45f2ff8342cb3e222db3eb1616839" in again.stdout


def test_ends_whose_results_agree_are_refused(
    scenario_workspace: tuple[Workspace, dict[str, str]],
) -> None:
    workspace, env = scenario_workspace
    args = ("dev.bisect", NAMED_STAGES, "--old", PR_32063_MERGE, "--new", NEW)
    done = run_task(workspace, *args, env=env, timeout=1800)
    assert done.returncode == 2, done.stderr[-2000:]
    # The builds' progress comes first; the error is the last line.
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: nothing changed between them: present at both"), last


def test_dev_try_on_the_host_and_two_2017_merges(
    scenario_workspace: tuple[Workspace, dict[str, str]],
) -> None:
    workspace, env = scenario_workspace
    args = ("--engine", "host", "--ref", PR_31257_MERGE[:7], "--ref", PR_32063_MERGE[:7])
    done = run_task(workspace, "dev.try", NAMED_STAGES, *args, "--json", env=env, timeout=3600)
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(done.stdout)
    rows = [(row["engine"]["name"], row["result"]["outcome"]) for row in report["rows"]]
    assert rows == [
        ("host", "present"),
        (f"ref {PR_31257_MERGE[:7]}", "absent"),
        (f"ref {PR_32063_MERGE[:7]}", "present"),
    ]
    commits = [row["engine"]["commit"] for row in report["rows"]]
    assert commits[1:] == [PR_31257_MERGE[:12], PR_32063_MERGE[:12]]
    folder = workspace.root / "reports" / "try" / report["run_id"]
    assert {p.name for p in folder.glob("report.*")} == {"report.json", "report.md", "report.html"}
    assert (folder / f"ref-{PR_31257_MERGE[:7]}" / "output.log").is_file()


def test_dev_try_of_a_merged_pull_request_puts_its_head_beside_its_base(
    scenario_workspace: tuple[Workspace, dict[str, str]],
) -> None:
    """Pull request 32063 as the mirror serves it (refs/pull/32063/head), against the
    line it was merged into: its base lacks named stages, its head has them."""
    workspace, env = scenario_workspace
    targets = {**env, "MOBYLAB_REF": "refs/mirror/bisect-2017-bad"}
    done = run_task(workspace, "dev.try", NAMED_STAGES, "--pr", "32063", "--json",
                    env=targets, timeout=3600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    rows = [
        (row["engine"]["name"], row["engine"]["commit"], row["result"]["outcome"])
        for row in json.loads(done.stdout)["rows"]
    ]
    assert rows == [
        ("#32063 base", PR_32063_BASE[:12], "absent"),
        ("#32063 head", PR_32063_HEAD[:12], "present"),
    ]


def test_a_2017_dev_build_has_the_releases_build_tags(
    scenario_workspace: tuple[Workspace, dict[str, str]],
) -> None:
    """The daemon dev.try left running was built with the release's build tags, seccomp
    included: its containers run filtered, under the source's profile with clone3
    allowed (a 2017 profile predates it), so today's glibc can start threads."""
    workspace, _ = scenario_workspace
    name = PR_32063_MERGE[:12]
    manifest = workspace.root / "builds" / PR_32063_MERGE / "source" / "manifest.json"
    plan = json.loads(manifest.read_text())["plan"]
    tags = set(plan["toolchain"]["build_tags"])
    assert {"apparmor", "selinux", "pkcs11", "seccomp"} <= tags
    assert "exclude_graphdriver_btrfs" not in tags
    assert plan["seccomp_profile"] == "profiles/seccomp/default.json"
    info = run_task(workspace, "dev.exec", "--name", name, "--", "docker", "info")
    assert info.returncode == 0, info.stderr[-2000:]
    security = info.stdout.split("Security Options:", 1)[1]
    assert security.splitlines()[1].strip() == "seccomp"
    assert "mobylab-seccomp.json" in security
    image = "mobylab/runtime:busybox"
    assert run_task(workspace, "images.bootstrap", "--only", "runtime").returncode == 0
    assert run_task(workspace, "dev.seed", "--name", name, "--", image).returncode == 0
    in_container = ("docker", "run", "--rm", image, "grep", "Seccomp:", "/proc/self/status")
    status = run_task(workspace, "dev.exec", "--name", name, "--", *in_container)
    assert status.returncode == 0, status.stderr[-2000:]
    assert status.stdout.split() == ["Seccomp:", "2"]
