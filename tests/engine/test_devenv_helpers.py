"""Helpers for the dev environment tests: bundles folders and build plans made by hand.

The bundles hold the host's own dockerd and docker CLI (the same Debian build as
in mobylab/dind:bookworm), laid out the way each era of the engine source does.
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker.errors
import pytest

from mobylab.dev.clean import find_dev_resources, remove_dev_resources
from mobylab.dev.environment import DevEnvironment, DevTarget
from mobylab.dev.plan import BuildPlan, Era
from mobylab.engine import Engine
from mobylab.workspace import Workspace

DEV_IMAGE = "mobylab/dind:bookworm"
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
WORKDIR_2017 = "/go/src/github.com/docker/docker"
WORKDIR_TODAY = "/usr/src/moby"


def _which(name: str) -> Path:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed on this machine")
    return Path(found).resolve()


def _place(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def bundles_2017(root: Path, version: str = "17.05.0-dev") -> Path:
    """bundles/<version>/{dynbinary-daemon,binary-daemon,binary-client}, bundles/latest."""
    bundles = root / "bundles"
    base = bundles / version
    for folder in ("dynbinary-daemon", "binary-daemon"):
        _place(_which("dockerd"), base / folder / f"dockerd-{version}")
        (base / folder / "dockerd").symlink_to(f"dockerd-{version}")
    _place(Path("/usr/bin/docker"), base / "binary-client" / f"docker-{version}")
    (base / "binary-client" / "docker").symlink_to(f"docker-{version}")
    (bundles / "latest").symlink_to(version)
    return bundles


def bundles_today(root: Path) -> Path:
    bundles = root / "bundles"
    _place(_which("dockerd"), bundles / "binary-daemon" / "dockerd")
    return bundles


def plan_2017(checkout: Path, image: str = DEV_IMAGE, commit: str = "") -> BuildPlan:
    dirs = ("bundles/latest/dynbinary-daemon", "bundles/latest/binary-daemon")
    client = ("bundles/latest/binary-client",)
    path = ":".join(f"{WORKDIR_2017}/{d}" for d in (*dirs[:1], *client)) + ":" + IMAGE_PATH
    return BuildPlan(
        checkout=checkout,
        commit=commit or uuid.uuid4().hex + uuid.uuid4().hex[:8],
        era=Era.TGZ,
        target="tgz",
        dev_image=image,
        workdir=WORKDIR_2017,
        version="17.05.0-dev",
        daemon_dirs=dirs,
        client_dirs=client,
        container_path=path,
    )


def plan_today(checkout: Path, image: str = DEV_IMAGE) -> BuildPlan:
    return BuildPlan(
        checkout=checkout,
        commit=uuid.uuid4().hex + uuid.uuid4().hex[:8],
        era=Era.DEV_CONTAINER,
        target="binary",
        dev_image=image,
        workdir=WORKDIR_TODAY,
        version="dev",
        daemon_dirs=("bundles/binary-daemon",),
        client_dirs=(),
        container_path=f"{WORKDIR_TODAY}/bundles/binary-daemon:{IMAGE_PATH}",
    )


def target_2017(tmp: Path) -> DevTarget:
    checkout = tmp / "src"
    return DevTarget(plan_2017(checkout), bundles_2017(checkout))


def target_today(tmp: Path) -> DevTarget:
    checkout = tmp / "src"
    return DevTarget(plan_today(checkout), bundles_today(checkout))


def tear_down(engine: Engine, workspace: Workspace) -> None:
    """Remove the dev environment of a test workspace (labelled resources only)."""
    env = DevEnvironment(engine, workspace)
    try:
        found = find_dev_resources(env.container.client, workspace)
        remove_dev_resources(found, env.names.key)
    except docker.errors.DockerException:
        pass
    finally:
        env.close()


@contextlib.contextmanager
def dev_environment(engine: Engine, workspace: Workspace) -> Iterator[DevEnvironment]:
    """A test workspace's DevEnvironment, torn down afterwards (labelled resources only)."""
    environment = DevEnvironment(engine, workspace)
    try:
        yield environment
    finally:
        tear_down(engine, workspace)
        environment.close()


REPO = Path(__file__).resolve().parents[2]


def run_in_terminal(
    workspace: Workspace, args: list[str], typed: bytes, timeout: float = 60
) -> str:
    """Run a task on a pseudo-terminal, type `typed`, and return all it printed."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: becomes the task
        env = {**os.environ, "MOBYLAB_WORKSPACE": str(workspace.root), "TERM": "dumb"}
        env.pop("CI", None)
        os.execvpe(
            sys.executable,
            [sys.executable, "-m", "invoke", "--search-root", str(REPO), *args],
            env,
        )
    output = b""
    sent = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                output += chunk
            if not sent and time.monotonic() > deadline - timeout + 3:
                os.write(fd, typed)
                sent = True
    finally:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        os.close(fd)
    return output.decode(errors="replace")
