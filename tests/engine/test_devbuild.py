"""dev.build on the real engine: both eras' fixtures built with make, the cache, failures, stops.

Each build runs the real path: make -> docker build of the dev image -> docker run
with mobylab's flags instead of --privileged -> bundles on the host.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker.errors
import pytest

from mobylab import labels
from mobylab.dev.build import last_build, run_build
from mobylab.dev.job import BUILD_LABEL, manifest_path
from mobylab.dev.plan import read_plan
from mobylab.engine import Engine, probe
from mobylab.workspace import Workspace
from tests.fixtures.cli import run_task
from tests.fixtures.enginesrc import ensure_dind_image, make_engine_source, make_remote, rewrite
from tests.fixtures.signals import STOPS, stop

pytestmark = [pytest.mark.engine, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dind(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> str:
    return ensure_dind_image(engine, Workspace(tmp_path_factory.mktemp("dind-ws")))


@pytest.fixture
def dev_images(engine: Engine) -> Iterator[list[str]]:
    """Dev images a test makes; removed afterwards when they carry mobylab's label."""
    names: list[str] = []
    yield names
    client = engine.client()
    try:
        for name in names:
            try:
                image = client.images.get(name)
            except docker.errors.ImageNotFound:
                continue
            if labels.is_managed(image.labels):
                with contextlib.suppress(docker.errors.APIError):
                    client.images.remove(image.id, force=True)
    finally:
        client.close()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def build_containers(engine: Engine, **filters: str) -> list:
    client = engine.client()
    try:
        wanted = {"label": [f"{labels.MANAGED}=true", f"{labels.COMPONENT}=devbuild"], **filters}
        return client.containers.list(all=True, filters=wanted)
    finally:
        client.close()


def test_build_2017_tgz_then_cache(engine, dind, workspace, session, tmp_path, dev_images):
    source = make_engine_source(tmp_path / "engine", "2017", branch=unique("mobylab-test"))
    caps = probe(engine, workspace)
    plan = read_plan(source.path, host_cgroup=caps.cgroup_version, buildx=caps.buildx)
    dev_images.append(plan.dev_image)
    assert plan.target == "tgz"

    record = run_build(
        workspace,
        plan,
        engine,
        caps.dind_security,
        interactive=False,
        skip_cross=True,
        settings=session.settings,
    )

    manifest = record.manifest.to_dict()  # as manifest.json and dev.bundles --json say it
    assert manifest["commit"] == source.commit
    binaries = {b["name"]: b for b in manifest["binaries"]}
    dockerd = binaries["dockerd-17.05.0-dev"]
    assert dockerd["version"] and dockerd["version"].startswith("Docker version")
    assert dockerd["path"] in (
        "bundles/17.05.0-dev/binary-daemon/dockerd-17.05.0-dev",
        "bundles/17.05.0-dev/dynbinary-daemon/dockerd-17.05.0-dev",
    )
    for name in ("docker-17.05.0-dev", "docker-containerd", "docker-runc", "docker-init"):
        assert name in binaries
    assert binaries["docker-runc"]["version"].startswith("runc version")
    assert len(dockerd["sha256"]) == 64 and dockerd["size"] > 1_000_000
    bundles = source.path / "bundles"
    assert (bundles / "latest").resolve() == (bundles / "17.05.0-dev").resolve()
    for folder in plan.daemon_dirs + plan.client_dirs:
        assert (source.path / folder).is_dir(), folder
    assert (bundles / "latest/binary-daemon/dockerd").resolve().name == "dockerd-17.05.0-dev"
    # --skip-cross: DOCKER_CROSSPLATFORMS= reached the dev container.
    assert (bundles / "latest/cross/PLATFORMS").read_text() == "cross platforms: none\n"
    archive = bundles / "17.05.0-dev/tgz/linux/amd64/docker-17.05.0-dev.tgz"
    with tarfile.open(archive) as tar:
        assert "docker/dockerd" in tar.getnames()
    assert [a["path"] for a in manifest["archives"]] == [str(archive.relative_to(source.path))]
    phases = [p["name"] for p in manifest["phases"]]
    assert phases[:2] == ["make", "dev image"]
    assert "bundle tgz" in phases and phases[-1] == "manifest"
    assert Path(manifest["log"]).is_file()
    assert manifest_path(workspace, source.commit).is_file()
    if not caps.privileged:
        argv = " ".join(manifest["argv"])
        assert "--privileged" not in argv and "--cap-add=ALL" in argv

    last = last_build(workspace)
    assert last is not None
    assert last.plan == plan and last.bundles_dir == bundles
    assert not build_containers(engine, ancestor=plan.dev_image)
    client = engine.client()
    try:
        assert labels.is_managed(client.images.get(plan.dev_image).labels)
    finally:
        client.close()

    # Same commit, same plan: a no-op in well under a second.
    started = time.monotonic()
    again = run_build(
        workspace, plan, engine, caps.dind_security, interactive=False, settings=session.settings
    )
    assert time.monotonic() - started < 1.0
    assert again.cached and again.manifest == record.manifest

    started = time.monotonic()
    result = run_task(workspace, "dev.build", "--checkout", str(source.path))
    wall = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "is already built" in result.stderr
    print(f"cache hit through `python -m invoke dev.build`: {wall:.2f}s wall")

    shown = run_task(workspace, "dev.bundles", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["commit"] == source.commit


def test_clone_then_build_today_as_a_user(engine, dind, workspace, tmp_path, dev_images):
    image = unique("mobylab-test-dev")
    remote = make_remote(tmp_path / "remote", "today", image=image)
    dev_images.append(image)

    cloned = run_task(workspace, "dev.clone", "--repo", remote.url)
    assert cloned.returncode == 0, cloned.stderr
    result = run_task(workspace, "dev.build")  # the checkout dev.clone recorded

    assert result.returncode == 0, result.stderr[-3000:]
    if not probe(engine, workspace).privileged:
        assert "the engine refuses --privileged" in result.stderr
    record = last_build(workspace)
    assert record is not None
    source_path = workspace.root / "checkouts" / "upstream"
    assert record.plan.checkout == source_path and record.plan.commit == remote.master
    assert record.plan.era == "dev-container" and record.plan.target == "binary"
    binaries = {b.path: b for b in record.manifest.bundles.binaries}
    dockerd = binaries["bundles/binary-daemon/dockerd"]
    assert dockerd.version and dockerd.version.startswith("Docker version")
    for name in ("containerd", "ctr", "runc", "docker-init", "docker-proxy"):
        assert f"bundles/binary-daemon/{name}" in binaries
    assert record.bundles_dir == source_path / "bundles"
    assert "---> Making bundle: binary" in result.stderr
    assert not build_containers(engine, ancestor=image)


def test_failing_build_shows_its_tail_and_exit_code(engine, dind, workspace, tmp_path, dev_images):
    source = make_engine_source(
        tmp_path / "engine", "2017", branch=unique("mobylab-test"), fail_exit=3
    )
    dev_images.append(read_plan(source.path).dev_image)

    result = run_task(workspace, "dev.build", "--checkout", str(source.path))

    assert result.returncode == 1
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("error: make tgz failed with exit code 2")
    assert "the failing step exited with 3" in last_line
    assert "The full log is" in last_line
    log = Path(last_line.split("The full log is ")[1].rstrip("."))
    assert log.is_file()
    tail = result.stderr.strip().splitlines()[-41:-1]
    assert any("failing on purpose with exit code 3" in line for line in tail)
    assert "Traceback" not in result.stderr
    assert last_build(workspace) is None
    assert not build_containers(engine, ancestor=read_plan(source.path).dev_image)


@STOPS
def test_ctrl_c_sigterm_or_sighup_removes_the_build_container(
    engine, dind, workspace, tmp_path, dev_images, signum, code
):
    image = unique("mobylab-test-dev")
    source = make_engine_source(tmp_path / "engine", "today", image=image, sleep_seconds=300)
    dev_images.append(image)
    env = {**os.environ, "MOBYLAB_WORKSPACE": str(workspace.root), "CI": "true"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "invoke",
            "-r",
            str(REPO),
            "dev.build",
            "--checkout",
            str(source.path),
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        running = []
        while time.monotonic() < deadline and proc.poll() is None:
            running = [c for c in build_containers(engine, ancestor=image) if c.status == "running"]
            if running:
                break
            time.sleep(0.5)
        assert running, f"no build container appeared (exit {proc.poll()})"
        assert BUILD_LABEL in running[0].labels
        time.sleep(1)
        stop(proc, signum)
        signalled = time.monotonic()
        _, stderr = proc.communicate(timeout=120)
        stop_seconds = time.monotonic() - signalled
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert proc.returncode == code, stderr
    print(f"{signal.Signals(signum).name} to exit {code}: {stop_seconds:.2f}s")
    assert stop_seconds < 30
    assert "interrupted" in stderr.strip().splitlines()[-1]
    assert "Traceback" not in stderr
    assert not build_containers(engine, ancestor=image)
    logs = list((workspace.root / "logs").glob("build-*.log"))
    assert len(logs) == 1
    assert f"# interrupted; removed build containers: ['{running[0].short_id}']" in (
        logs[0].read_text()
    )

    # The next build works.
    fixed = rewrite(source, "no wait", sleep_seconds=0)
    result = run_task(workspace, "dev.build", "--checkout", str(source.path))
    assert result.returncode == 0, result.stderr[-3000:]
    record = last_build(workspace)
    assert record is not None and record.plan.commit == fixed.commit
