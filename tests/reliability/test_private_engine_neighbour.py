"""A private engine beside the machine's engine must not break it: a dockerd started
with `--bridge none` deletes the docker0 interface it finds, and every container of
the other daemon on the default bridge then fails ("could not find bridge docker0")."""

from __future__ import annotations

from pathlib import Path

import pytest

from mobylab.engine import Engine, PrivateEngine
from mobylab.engine._private import PrivateEngineLayout, dockerd_argv
from mobylab.workspace import Workspace

DOCKER0 = Path("/sys/class/net/docker0")


def test_the_private_engine_never_runs_without_a_bridge(tmp_path: Path) -> None:
    layout = PrivateEngineLayout.for_workspace(Workspace(tmp_path / "ws"))
    argv = dockerd_argv(layout, "dockerd", share_host=True)
    bridge = argv[argv.index("--bridge") + 1]
    assert bridge == layout.bridge and bridge not in ("none", "docker0")
    assert len(bridge) <= 15  # the kernel's limit for an interface name


@pytest.mark.engine
def test_a_private_engine_leaves_the_host_bridge_alone(engine: Engine, tmp_path: Path) -> None:
    if not DOCKER0.exists():
        pytest.skip("the host engine has no docker0 here")
    index = (DOCKER0 / "ifindex").read_text()
    private = PrivateEngine(Workspace(tmp_path / "ws"))
    try:
        private.start(timeout=120)
        assert DOCKER0.exists() and (DOCKER0 / "ifindex").read_text() == index
        own = Path("/sys/class/net") / private.layout.bridge
        assert own.exists()
    finally:
        private.stop()
    assert DOCKER0.exists() and (DOCKER0 / "ifindex").read_text() == index
    assert not (Path("/sys/class/net") / private.layout.bridge).exists()
    # The host engine still starts containers on its default bridge.
    client = engine.client()
    try:
        out = client.containers.run("mobylab/runtime:busybox", ["echo", "ok"], remove=True)
    finally:
        client.close()
    assert out.strip() == b"ok"
