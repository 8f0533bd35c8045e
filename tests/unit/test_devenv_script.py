"""mobylab-dind's start and stop, run for real with a stand-in dockerd (no engine)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from mobylab.dev.resources import dind_script

SCRIPT = Path(__file__).resolve().parents[2] / "mobylab" / "dev" / "mobylab-dind"


def _run(
    args: list[str], tmp: Path, path: str, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": path,
        "MOBYLAB_RUN_DIR": str(tmp / "run"),
        "MOBYLAB_LOG_DIR": str(tmp / "log"),
    }
    return subprocess.run(
        ["/bin/sh", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def _fake_dockerd(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    daemon = folder / "dockerd"
    daemon.write_text("#!/bin/sh\n" + body)
    daemon.chmod(0o755)
    return daemon


def _wait_for(path: Path, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear")
        time.sleep(0.05)


@pytest.fixture
def system_path() -> str:
    return os.environ.get("PATH", "/usr/bin:/bin")


def test_the_packaged_script_is_the_source_one() -> None:
    assert dind_script().read_bytes() == SCRIPT.read_bytes()
    assert subprocess.run(["sh", "-n", str(SCRIPT)]).returncode == 0


def test_start_runs_the_first_dockerd_in_path_and_stop_records_its_exit(
    tmp_path: Path, system_path: str
) -> None:
    bundles = tmp_path / "bundles" / "binary-daemon"
    _fake_dockerd(bundles, 'echo "fake dockerd $*"\nexec sleep 60\n')
    started = _run(
        ["start", "--debug", "--host=unix:///x.sock"], tmp_path, f"{bundles}:{system_path}"
    )
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == str(bundles / "dockerd")
    run = tmp_path / "run"
    assert (run / "dockerd.pid").read_text().strip()
    assert not (run / "dockerd.exit").exists()
    # A second start leaves the running daemon alone.
    again = _run(["start"], tmp_path, f"{bundles}:{system_path}")
    assert "already runs" in again.stderr
    stopped = _run(["stop", "5"], tmp_path, system_path)
    assert stopped.returncode == 0
    _wait_for(run / "dockerd.exit")
    assert (run / "dockerd.exit").read_text().strip() == "143"
    log = (tmp_path / "log" / "dockerd.log").read_text()
    assert "--- mobylab: starting " in log
    assert "fake dockerd --debug --host=unix:///x.sock" in log
    assert "exited with status 143" in log


def test_a_daemon_that_exits_at_once_leaves_its_status_and_message(
    tmp_path: Path, system_path: str
) -> None:
    bundles = tmp_path / "bin"
    _fake_dockerd(bundles, 'echo "cannot start: no cgroups" >&2\nexit 1\n')
    assert _run(["start"], tmp_path, f"{bundles}:{system_path}").returncode == 0
    _wait_for(tmp_path / "run" / "dockerd.exit")
    assert (tmp_path / "run" / "dockerd.exit").read_text().strip() == "1"
    assert "cannot start: no cgroups" in (tmp_path / "log" / "dockerd.log").read_text()


def test_no_dockerd_in_path_exits_127(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    # Only the folders the script itself needs, none holding a dockerd.
    result = _run(["start"], tmp_path, f"{empty}:/nonexistent", timeout=10)
    assert result.returncode == 127
    assert "no dockerd" in result.stderr


def test_usage(tmp_path: Path, system_path: str) -> None:
    result = _run(["bogus"], tmp_path, system_path)
    assert result.returncode == 2
    assert "usage" in result.stderr


def _functions(*names: str) -> str:
    """The shell text of some of the script's functions, to run them alone."""
    lines = SCRIPT.read_text().splitlines()
    chosen: list[str] = []
    for name in names:
        start = lines.index(f"{name}() {{")
        end = lines.index("}", start)
        chosen += lines[start : end + 1]
    return "\n".join(chosen)


def _shell(script: str, *args: str) -> str:
    done = subprocess.run(
        ["/bin/sh", "-c", script, "sh", *args], capture_output=True, text=True, timeout=10
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


HYBRID = """\
31 23 0:28 / /sys/fs/cgroup ro,nosuid,nodev,noexec - tmpfs tmpfs ro,mode=755
32 31 0:29 / /sys/fs/cgroup/unified rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate
33 31 0:30 / /sys/fs/cgroup/cpu,cpuacct ro,nosuid master:3 - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/systemd ro,nosuid - cgroup cgroup rw,xattr,name=systemd"""
UNIFIED = """\
25 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev - cgroup2 cgroup2 rw,nsdelegate"""


@pytest.mark.parametrize(("mounts", "kind"), [(HYBRID, "tmpfs"), (UNIFIED, "cgroup2"), ("", "")])
def test_cgroup_version_comes_from_the_mount_on_sys_fs_cgroup_itself(
    mounts: str, kind: str
) -> None:
    # A cgroup2 mount below /sys/fs/cgroup (hybrid hosts) does not make the host cgroup v2.
    assert _shell(_functions("fs_type") + '\nfs_type "$1" /sys/fs/cgroup', mounts) == kind


@pytest.mark.parametrize(
    ("superblock", "hierarchy"),
    [
        ("rw,cpu,cpuacct", "cpu,cpuacct"),
        ("ro,memory", "memory"),
        ("rw,xattr,name=systemd", "xattr,name=systemd"),
        ("rw,name=systemd", "none,name=systemd"),
        ("rw", ""),
    ],
)
def test_the_hierarchy_of_a_cgroup_v1_mount(superblock: str, hierarchy: str) -> None:
    script = _functions("hierarchy") + '\nhierarchy "$1"; echo "$options"'
    assert _shell(script, superblock) == hierarchy
