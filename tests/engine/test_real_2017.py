"""2017 for real: the PR 31257 and PR 32063 merges built from their own source with the
companions they name and the engine's own later fix, their daemons side by side, and
the flagship's feature timeline across both and the host engine.

One workspace for the module (both builds, both dev daemons): cold, the two builds
and their companions take a few minutes on two cores.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from mobylab.engine import Engine
from mobylab.workspace import Workspace
from tests.fixtures.catalog import assert_absent_only_where_declared
from tests.fixtures.cli import run_task
from tests.fixtures.upstream import PR_31257_MERGE, PR_32063_MERGE, TARSUM_FIX, mirror_folder
from tests.unit.test_source_cli import one_error_line

pytestmark = [pytest.mark.engine, pytest.mark.slow]

NAMED = "named stages (FROM ... AS name, COPY --from=name)"
MULTI = "multi-stage builds (COPY --from=0)"
SCRATCH = "a FROM scratch runtime stage"
TARGET = "docker build --target"


@pytest.fixture(scope="module")
def builds(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """Both 2017 merges cloned through the mirrors setting and built by the source route."""
    mirror = mirror_folder()
    workspace = Workspace(tmp_path_factory.mktemp("y2017") / "ws")
    env = {"MOBYLAB_MIRRORS": str(mirror)}
    for commit in (PR_31257_MERGE, PR_32063_MERGE):
        clone = run_task(workspace, "dev.clone", "--ref", commit, env=env)
        assert clone.returncode == 0, clone.stderr
        assert "from the mirror" in clone.stderr
        build = run_task(workspace, "dev.build", env=env, timeout=3000)
        assert build.returncode == 0, build.stderr[-3000:]
    yield workspace
    run_task(workspace, "dev.down", "--all")
    run_task(workspace, "dev.clean", "--yes")


def manifest_of(workspace: Workspace, commit: str) -> dict:
    path = workspace.root / "builds" / commit / "source" / "manifest.json"
    return json.loads(path.read_text())


def test_the_2017_bundles_have_the_eras_layout_with_companions_and_the_fix(
    builds: Workspace,
) -> None:
    manifest = manifest_of(builds, PR_31257_MERGE)
    plan = manifest["plan"]
    assert (plan["era"], plan["version"], plan["workdir"]) == (
        "2017-tgz",
        "17.05.0-dev",
        "/go/src/github.com/docker/docker",
    )
    assert plan["toolchain"]["need"]["mode"] == "gopath"
    binaries = {b["path"].removeprefix("bundles/17.05.0-dev/"): b for b in manifest["binaries"]}
    daemon = binaries["binary-daemon/dockerd-17.05.0-dev"]
    assert daemon["version"] == f"Docker version 17.05.0-dev, build {PR_31257_MERGE[:12]}"
    assert "binary-client/docker-17.05.0-dev" in binaries
    # The companions of that era, under the names it looks for, beside dockerd.
    for name in ("docker-containerd", "docker-containerd-shim", "docker-containerd-ctr",
                 "docker-runc", "docker-proxy", "docker-init"):  # fmt: skip
        assert f"binary-daemon/{name}" in binaries, name
    assert "0.2." in binaries["binary-daemon/docker-containerd"]["version"]
    links = {link["path"]: link["target"] for link in manifest["symlinks"]}
    assert links["bundles/latest"] == "17.05.0-dev"
    companions = {c["name"]: c["commit"] for c in manifest["companions"]}
    assert companions["containerd"].startswith("422e31ce907f")
    assert companions["runc"].startswith("9c2d8d184e5d")
    assert [f["commit"] for f in manifest["fixes"] if f["status"] == "applied"] == [TARSUM_FIX]


def test_the_pr_31257_daemon_reports_itself(builds: Workspace) -> None:
    up = run_task(builds, "dev.up", "--build", PR_31257_MERGE[:7], timeout=600)
    assert up.returncode == 0, up.stderr[-2000:]
    name = PR_31257_MERGE[:12]
    version = run_task(builds, "dev.exec", "--name", name, "--", "docker", "version")
    assert version.returncode == 0, version.stderr
    server = version.stdout.split("Server:", 1)[1]
    assert "17.05.0-dev" in server and PR_31257_MERGE[:12] in server
    assert "API version:  1.29" in server


def test_two_daemons_cannot_share_a_name(builds: Workspace) -> None:
    up = run_task(builds, "dev.up", "--build", PR_31257_MERGE[:7], "--name", "blog")
    assert up.returncode == 0, up.stderr[-2000:]
    other = run_task(builds, "dev.up", "--build", PR_32063_MERGE[:7], "--name", "blog")
    assert other.returncode == 1
    line = one_error_line(other.stderr)
    assert "the dev daemon 'blog' runs build 2fa8fe400d92" in line
    down = run_task(builds, "dev.down", "--name", "blog")
    assert down.returncode == 0, down.stderr


def test_an_engine_naming_no_build(builds: Workspace) -> None:
    none = run_task(builds, "lab.multistage", "--engine", "dev:abcdef0", "--yes")
    assert none.returncode == 1
    assert "no build of a commit starting with 'abcdef0'" in one_error_line(none.stderr)
    short = run_task(builds, "lab.multistage", "--engine", "dev:2", "--yes")
    assert short.returncode == 2
    assert "is not a commit prefix" in one_error_line(short.stderr)


def test_the_feature_timeline(builds: Workspace) -> None:
    result = run_task(
        builds,
        "lab.multistage",
        "--engine", f"dev:{PR_31257_MERGE[:7]}",
        "--engine", f"dev:{PR_32063_MERGE[:7]}",
        "--engine", "host",
        "--yes",
        timeout=2400,
    )  # fmt: skip
    # Features an engine lacks do not fail the run.
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    report = json.loads((builds.root / "reports" / "latest" / "report.json").read_text())
    engines = {e["name"]: e for e in report["engines"]}
    old, new = f"dev-{PR_31257_MERGE[:7]}", f"dev-{PR_32063_MERGE[:7]}"
    assert (engines[old]["version"], engines[old]["commit"]) == ("17.05.0-dev", PR_31257_MERGE[:12])
    assert engines[new]["commit"] == PR_32063_MERGE[:12]
    matrix = {row["feature"]: row["engines"] for row in report["matrix"]["rows"]}
    assert matrix[MULTI][old]["status"] == "passed"
    assert matrix[SCRATCH][old]["status"] == "passed"
    assert matrix[NAMED][old] == {"status": "absent", "reason": "invalid reference format"}
    assert matrix[NAMED][new]["status"] == "passed"
    assert all(matrix[feature]["host"]["status"] == "passed" for feature in matrix)
    # An engine that predates --target ignores it: told by what it built, not by a date.
    assert matrix[TARGET][new]["status"] == "absent"
    assert "working folder /root" in matrix[TARGET][new]["reason"]
    markdown = (builds.root / "reports" / "latest" / "report.md").read_text()
    assert "## Features x engines" in markdown and PR_31257_MERGE[:12] in markdown
    assert "not in this engine (invalid reference format)" in markdown


def test_the_new_labs_on_a_2017_build_are_absent_only_where_declared(builds: Workspace) -> None:
    verify = run_task(
        builds,
        "lab.verify",
        "--engine", f"dev:{PR_32063_MERGE[:7]}",
        "--json",
        "--", "dockerfile-now", "run-options", "health",
        timeout=1800,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout[-3000:] + verify.stderr[-3000:]
    cells = assert_absent_only_where_declared(json.loads(verify.stdout))
    engine = f"dev-{PR_32063_MERGE[:7]}"
    # BuildKit's Dockerfile features need a BuildKit engine; --init, restart policies
    # and tmpfs mounts were there in 2017 (today's CLI sends --mount through the API).
    assert {cells["dockerfile-now", n, engine] for n in (1, 2, 3, 4)} == {"absent"}
    assert cells["run-options", 1, engine] == cells["health", 2, engine] == "passed"
    assert cells["run-options", 2, engine] == "passed"
    assert cells["run-options", 3, engine] == "absent"
