"""Today's engine for real: moby master cloned from a mirror, built from its own source
with the source route, its daemon run in docker-dev, the flagship on it and the host.

One workspace for the module: the build takes minutes cold on two cores (seconds
when the Go caches, kept on labelled volumes on this machine, are warm), so every
test here uses the same build and the same dev daemon.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mobylab.engine import Engine
from mobylab.workspace import Workspace
from tests.fixtures.catalog import assert_absent_only_where_declared
from tests.fixtures.cli import run_task
from tests.fixtures.upstream import MASTER, mirror_folder

pytestmark = [pytest.mark.engine, pytest.mark.slow]


@pytest.fixture(scope="module")
def master(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """A workspace with master cloned from the mirror, built, and its daemon up."""
    mirror = mirror_folder()
    workspace = Workspace(tmp_path_factory.mktemp("master") / "ws")
    clone = run_task(workspace, "dev.clone", "--repo", f"file://{mirror}/moby.git")
    assert clone.returncode == 0, clone.stderr
    build = run_task(workspace, "dev.build", timeout=3000)
    assert build.returncode == 0, build.stderr[-3000:]
    assert "route: source" in build.stderr
    up = run_task(workspace, "dev.up", timeout=600)
    assert up.returncode == 0, up.stderr[-3000:]
    yield workspace
    run_task(workspace, "dev.down")
    run_task(workspace, "dev.clean", "--yes")


def test_the_build_is_the_source_route_with_its_toolchain(master: Workspace) -> None:
    manifest = json.loads(run_task(master, "dev.bundles", "--json").stdout)
    plan = manifest["plan"]
    assert (manifest["commit"], manifest["route"], plan["era"]) == (MASTER, "source", "bake")
    toolchain = plan["toolchain"]
    assert toolchain["need"]["mode"] == "module" and toolchain["need"]["vendored"]
    assert toolchain["go"]["version"][:2] >= [1, 26]
    assert manifest["dev_image"].startswith("mobylab/docker-dev:go1.")
    binaries = {b["name"]: b for b in manifest["binaries"]}
    assert binaries["dockerd"]["path"] == "bundles/binary-daemon/dockerd"
    assert binaries["dockerd"]["version"] == f"Docker version dev, build {MASTER[:12]}"
    assert "docker-proxy" in binaries
    assert manifest["dirty"] is False
    # The user's checkout was never written: no bundles, nothing changed.
    checkout = Path(plan["checkout"])
    assert not (checkout / "bundles").exists()
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=checkout, capture_output=True, text=True
    )
    assert status.stdout == ""


def test_a_second_build_of_the_commit_is_a_no_op(master: Workspace) -> None:
    again = run_task(master, "dev.build")
    assert again.returncode == 0, again.stderr
    assert "is already built (source route" in again.stderr


def test_the_daemon_that_answers_is_the_build(master: Workspace) -> None:
    status = json.loads(run_task(master, "dev.status", "--json").stdout)
    assert status["state"] == "running"
    assert (status["daemon_version"], status["daemon_commit"]) == ("dev", MASTER[:12])
    server_format = "{{.Server.Version}} {{.Server.GitCommit}} {{.Server.APIVersion}}"
    version = run_task(master, "dev.exec", "--", "docker", "version", "--format", server_format)
    assert version.returncode == 0, version.stderr
    server, commit, api = version.stdout.split()
    assert (server, commit) == ("dev", MASTER[:12]) and float(api) >= 1.50
    # Its companions are the dev image's Debian packages: containerd, runc, tini.
    parts = run_task(master, "dev.exec", "--", "docker", "version", "--format",
                     "{{range .Server.Components}}{{.Name}}={{.Version}} {{end}}")  # fmt: skip
    assert parts.returncode == 0, parts.stderr
    components = dict(word.split("=", 1) for word in parts.stdout.split())
    assert components["Engine"] == "dev"
    assert components["containerd"] and components["runc"]
    assert components["docker-init"].startswith("0.19")


def test_the_flagship_on_master_and_the_host(master: Workspace) -> None:
    result = run_task(master, "lab.multistage", "--engine", "both", "--yes", timeout=2400)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    reports = master.root / "reports"
    report = json.loads((reports / "latest" / "report.json").read_text())
    engines = {e["name"]: e for e in report["engines"]}
    assert (engines["dev"]["version"], engines["dev"]["commit"]) == ("dev", MASTER[:12])
    assert engines["host"]["version"] != "dev"
    variants = {(v["name"], v["engine"]): v for v in report["variants"]}
    for engine in ("host", "dev"):
        for name in ("builder-pattern", "multi-stage", "named-stages", "scratch"):
            assert variants[(name, engine)]["passed"], (name, engine)
        # Which builder built each variant is read from the build's output.
        assert variants[("multi-stage", engine)]["builder"] in ("buildkit", "legacy")
    target = next(s for s in report["steps"] if s["engine"] == "dev" and s.get("stages"))
    assert target["stages"]["built"] == ["builder"]
    assert "stage-1" in target["stages"]["skipped"]
    markdown = (reports / "latest" / "report.md").read_text()
    assert MASTER[:12] in markdown


def test_the_catalog_passes_lab_verify_on_the_host_and_master(master: Workspace) -> None:
    verify = run_task(
        master, "lab.verify", "--engine", "host", "--engine", "dev", "--json", timeout=2400
    )
    assert verify.returncode == 0, verify.stdout[-3000:] + verify.stderr[-3000:]
    matrix = json.loads(verify.stdout)
    assert len(matrix["labs"]) >= 5
    cells = assert_absent_only_where_declared(matrix)
    # Today's master has every feature the catalog teaches; the host (20.10) lacks the newer.
    assert {status for (_, _, engine), status in cells.items() if engine == "dev"} == {"passed"}
    assert cells["dockerfile-now", 4, "host"] == cells["run-options", 4, "host"] == "absent"
