"""Workshop faults on real sshd hosts: a host whose sshd dies in the middle of
workshop.provision, and Ctrl-C during workshop.provision. Expected: the other hosts
finish, the dropped one is one line naming it, nothing is left running, and the next
run (--only-failed) completes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.workshop.conftest import (  # noqa: F401  (fixtures)
    NOTHING_ELSE,
    SSHD,
    MobylabCli,
    SshFarm,
    _read_pid,
    _wait_listening,
    make_cli,
    source_snapshot,
    ssh_farm,
    wheelhouse_cache,
)
from tests.workshop.conftest import (
    TestHost as SshHost,
)

pytestmark = [pytest.mark.workshop, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]


def _popen(cli: MobylabCli, *args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "CI": "true",
        "MOBYLAB_WORKSPACE": str(cli.workspace),
        "MOBYLAB_KNOWN_HOSTS": str(cli.known_hosts),
        "MOBYLAB_SSH_CONFIG": str(cli.farm.ssh_config),
        "COLUMNS": "250",
    }
    extra = ["--source", str(cli.source)] if cli.source else []
    argv = [sys.executable, "-c", "from mobylab.tasks.program import main; main()"]
    return subprocess.Popen(
        [*argv, "workshop.provision", *extra, *args], env=env, cwd=REPO, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip


def _user_pids(host: SshHost) -> list[int]:
    done = subprocess.run(
        ["ps", "-o", "pid=", "-u", host.user], capture_output=True, text=True, check=False
    )
    return [int(word) for word in done.stdout.split()]


def _wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.1)


def _drop(host: SshHost) -> None:
    """Kill the host's sshd and every session it holds (the machine went away)."""
    pids = [p for p in [host.pid, *_user_pids(host)] if p]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _restart(host: SshHost) -> None:
    config = host.folder / "sshd_config"
    (host.folder / "sshd.pid").unlink(missing_ok=True)
    subprocess.run([SSHD, "-f", str(config), "-E", str(host.folder / "sshd.log")], check=True)
    _wait_listening(host.address, host.port)
    host.pid = _read_pid(host.folder / "sshd.pid")


@pytest.fixture
def cli(
    tmp_path: Path,
    ssh_farm: SshFarm,  # noqa: F811
    wheelhouse_cache: Path,  # noqa: F811
    source_snapshot: Path,  # noqa: F811
) -> MobylabCli:
    return make_cli(tmp_path, ssh_farm, wheelhouse_cache, source_snapshot)


def test_a_host_that_drops_mid_provision(cli: MobylabCli, ssh_farm: SshFarm) -> None:  # noqa: F811
    steady, dropped = ssh_farm.host(3), ssh_farm.host(4)
    specs = ssh_farm.specs([3, 4])
    proc = _popen(cli, "--hosts", specs, "--no-images", "--timeout", "300")
    try:
        # Drop the host once provisioning has reached it (its folder is made first).
        _wait_for(dropped.remote_dir / ".mobylab-workshop", proc)
        time.sleep(1.0)
        _drop(dropped)
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        _restart(dropped)
    assert proc.returncode == 1, out + err
    assert "Traceback" not in out + err
    failed = [line for line in err.splitlines() if dropped.spec in line and "error" not in line]
    assert failed, err
    assert steady.spec not in "".join(failed)
    assert f"1 of 2 hosts failed ({dropped.spec})" in err
    # The next run finishes the dropped host only.
    again = cli.provision("--hosts", specs, "--no-images", "--only-failed")
    assert again.returncode == 0, again.stdout + again.stderr
    assert dropped.spec in again.stdout and steady.spec not in again.stdout


def test_ctrl_c_during_provision(cli: MobylabCli, ssh_farm: SshFarm) -> None:  # noqa: F811
    host = ssh_farm.host(5)
    proc = _popen(cli, "--hosts", host.spec, "--no-images")
    try:
        _wait_for(host.remote_dir / ".mobylab-workshop", proc)
        time.sleep(1.0)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in out + err
    assert err.strip().splitlines()[-1].startswith("error: "), err
    # Nothing of the interrupted run keeps running on the host (sessions close).
    deadline = time.monotonic() + 30
    while _user_pids(host) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _user_pids(host) == []
    # The state on the instructor's side is whole, and the next run completes.
    for path in cli.workspace.rglob("*.json"):
        if "state" in path.parts or path.parent.name == "workshop":
            import json

            json.loads(path.read_text())
    again = cli.provision("--hosts", host.spec, "--no-images")
    assert again.returncode == 0, again.stdout + again.stderr


@pytest.mark.parametrize("remote_dir", ["~", ".", "~/"])
def test_teardown_never_removes_the_home_folder(
    cli: MobylabCli,
    ssh_farm: SshFarm,  # noqa: F811
    remote_dir: str,
) -> None:
    """`--remote-dir ~` makes the home the marked folder; teardown must not `rm -rf` it."""
    host = ssh_farm.host(6)
    precious = host.home / "thesis.txt"
    precious.write_text("years of work\n")
    marker = host.home / ".mobylab-workshop"
    marker.write_text("")  # what `workshop.provision --remote-dir ~` leaves there
    try:
        result = cli(
            "workshop.teardown", "--yes", "--remote-dir", remote_dir, "--hosts", host.spec,
            "--label", NOTHING_ELSE,
        )  # fmt: skip
        assert "Traceback" not in result.stdout + result.stderr
        assert precious.exists(), "teardown removed the home folder"
        assert host.home.is_dir()
    finally:
        host.home.mkdir(mode=0o755, exist_ok=True)
        import shutil

        shutil.chown(host.home, host.user, host.user)
        marker.unlink(missing_ok=True)
        precious.unlink(missing_ok=True)
