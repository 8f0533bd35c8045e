"""mobylab's private engine next to the host's: its own socket, reuse, stop, a failed start."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from mobylab.engine import Engine, PrivateEngine
from mobylab.engine._private import mounts_at
from mobylab.errors import EngineError
from mobylab.workspace import Workspace

pytestmark = pytest.mark.skipif(
    shutil.which("dockerd") is None or os.geteuid() != 0, reason="needs dockerd and root"
)


@pytest.fixture
def private(workspace: Workspace) -> Iterator[PrivateEngine]:
    engine = PrivateEngine(workspace)
    yield engine
    engine.stop()
    shutil.rmtree(engine.layout.socket.parent, ignore_errors=True)


def test_start_reuse_and_stop(engine: Engine, private: PrivateEngine) -> None:
    started = private.start(timeout=60)
    assert started.kind == "private"
    assert started.url != engine.url and str(private.layout.socket) in started.url
    assert started.ping()
    pid = private.pid()
    assert pid is not None

    # A daemon of its own: its data root is in the workspace, not the host's.
    assert started.client().info()["DockerRootDir"] == str(private.layout.data_root)
    assert engine.client().info()["DockerRootDir"] != str(private.layout.data_root)

    again = private.start(timeout=60)
    assert again.url == started.url and private.pid() == pid

    assert private.stop() is True
    assert not private.running() and not private.layout.socket.exists()
    assert engine.ping()
    assert private.stop() is False


def test_a_daemon_that_cannot_start_reports_its_log(private: PrivateEngine) -> None:
    # A pidfile naming a live process makes dockerd refuse to start, for real.
    layout = private.layout
    layout.pidfile.parent.mkdir(parents=True, exist_ok=True)
    layout.pidfile.write_text(str(os.getpid()))
    try:
        with pytest.raises(EngineError) as caught:
            private.start(timeout=60)
    finally:
        layout.pidfile.unlink(missing_ok=True)
    error = caught.value
    assert "exited while starting" in error.one_line()
    assert str(layout.log) in error.one_line()
    assert "pid" in error.detail.lower()
    assert not private.running()
    assert private.workspace.load_state("private-engine") is None
    # Nothing stays mounted on the data root of the daemon that died.
    mounts = Path("/proc/self/mounts").read_text()
    assert mounts_at(mounts, private.layout.data_root) == 0
