"""The dev environment tasks as a user runs them, on a real dev.build of the 2017 fixture."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker.errors
import pytest

from mobylab import labels
from mobylab.config import merge_settings
from mobylab.dev.build import run_build
from mobylab.dev.container import DevNames
from mobylab.dev.environment import ensure_dev_engine
from mobylab.dev.plan import read_plan
from mobylab.engine import Engine, probe
from mobylab.images import ensure_images
from mobylab.session import Session
from mobylab.workspace import Workspace
from tests.engine.test_devenv_helpers import run_in_terminal, tear_down
from tests.fixtures.cli import run_task
from tests.fixtures.enginesrc import make_engine_source

pytestmark = [pytest.mark.engine, pytest.mark.slow]

RUNTIME = "mobylab/runtime:busybox"


@pytest.fixture
def built(engine: Engine, workspace: Workspace, tmp_path: Path) -> Iterator[str]:
    """A real dev.build of the 2017 fixture in this workspace; yields the commit."""
    ensure_images(engine, workspace, ["dind", "runtime"], settings=merge_settings())
    source = make_engine_source(
        tmp_path / "engine", "2017", branch=f"mobylab-test-{uuid.uuid4().hex[:8]}"
    )
    caps = probe(engine, workspace)
    plan = read_plan(source.path, host_cgroup=caps.cgroup_version, buildx=caps.buildx)
    try:
        run_build(
            workspace,
            plan,
            engine,
            caps.dind_security,
            interactive=False,
            settings=merge_settings({"workspace": str(workspace.root)}, environ={}),
        )
        yield source.commit
    finally:
        tear_down(engine, workspace)
        client = engine.client()
        try:
            image = client.images.get(plan.dev_image)
            if labels.is_managed(image.labels):
                client.images.remove(image.id, force=True)
        except docker.errors.DockerException:
            pass
        finally:
            client.close()


def test_the_dev_tasks_on_a_real_2017_build(
    built: str, engine: Engine, workspace: Workspace
) -> None:
    up = run_task(workspace, "dev.up", "--timeout", "120")
    assert up.returncode == 0, up.stderr
    assert "dev daemon" in up.stdout and "host engine" in up.stdout
    if probe(engine, workspace).privileged is False:
        assert "all capabilities except" in up.stderr

    status = json.loads(run_task(workspace, "dev.status", "--json").stdout)
    assert status["state"] == "running"
    assert status["era"] == "2017-tgz"
    assert status["commit"] == built

    version = run_task(
        workspace, "dev.exec", "--", "docker", "version", "--format", "{{.Server.Version}}"
    )
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == status["daemon_version"]
    which = run_task(workspace, "dev.exec", "--", "sh", "-c", "command -v dockerd; exit 7")
    assert which.returncode == 7
    assert which.stdout.strip().endswith("bundles/latest/dynbinary-daemon/dockerd")

    seeded = run_task(workspace, "dev.seed", "--", RUNTIME)
    assert seeded.returncode == 0, seeded.stderr
    assert "copied" in seeded.stderr
    again = run_task(workspace, "dev.seed", "--image", RUNTIME)
    assert "already in the dev daemon" in again.stderr
    # dev.seed names a daemon as dev.exec does; --name and --build together are refused.
    named = run_task(workspace, "dev.seed", "--name", "nosuch", "--image", RUNTIME)
    assert named.returncode != 0 and "Traceback" not in named.stderr, named.stderr
    assert "nosuch" in named.stderr, named.stderr
    both = run_task(workspace, "dev.seed", "--name", "x", "--build", built, "--image", RUNTIME)
    assert both.returncode == 2, both.stderr
    assert "dev.seed takes --name or --build, not both" in both.stderr
    inner = run_task(
        workspace, "dev.exec", "--", "docker", "run", "--rm", RUNTIME, "echo", "from the 2017 build"
    )
    assert inner.stdout.strip() == "from the 2017 build", inner.stderr

    shell = run_in_terminal(workspace, ["dev.shell"], b"echo PATH=$PATH; exit\n")
    assert "PATH=/go/src/github.com/docker/docker/bundles/latest/dynbinary-daemon" in shell

    always = run_task(workspace, "dev.up", "--privileged", "always")
    if probe(engine, workspace).privileged is False:
        assert always.returncode == 1
        assert "refuses --privileged" in always.stderr
        assert "Traceback" not in always.stderr
        errors = [line for line in always.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1
        assert always.stderr.strip().splitlines()[-1] == errors[0]

    logs = run_task(workspace, "dev.logs", "--lines", "0")
    assert "--- mobylab: starting" in logs.stdout
    restart = run_task(workspace, "dev.restart", "--timeout", "120")
    assert restart.returncode == 0, restart.stderr
    images = run_task(
        workspace, "dev.exec", "--", "docker", "images", "--format", "{{.Repository}}:{{.Tag}}"
    )
    assert RUNTIME in images.stdout

    down = run_task(workspace, "dev.down")
    assert down.returncode == 0, down.stderr
    assert "not up" in run_task(workspace, "dev.status").stderr
    # The lab code's entry point starts the last build again when nothing runs.
    session = Session(merge_settings({"workspace": str(workspace.root)}, environ={}))
    dev = ensure_dev_engine(session)
    assert dev.ping()
    listed = run_task(
        workspace, "dev.exec", "--", "docker", "images", "--format", "{{.Repository}}:{{.Tag}}"
    )
    assert RUNTIME in listed.stdout
    assert run_task(workspace, "dev.down").returncode == 0
    volume = DevNames.for_workspace(workspace.root).volume("2017-tgz")
    client = engine.client()
    try:
        client.volumes.get(volume)
        clean = run_task(workspace, "dev.clean", "--yes")
        assert clean.returncode == 0, clean.stderr
        with pytest.raises(docker.errors.NotFound):
            client.volumes.get(volume)
    finally:
        client.close()
