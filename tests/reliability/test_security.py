"""Security: the dev daemon is reachable from this machine only, what the dev container
is granted is said out loud, secrets never reach the screen or the workspace, host keys
are strict by default, and the workspace's files have sane permissions."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mobylab.config import Settings
from mobylab.dev.environment import DevEnvironment
from mobylab.engine import Engine, probe
from mobylab.lab.execute import remove_run_resources
from mobylab.workshop.remote import SshOptions
from mobylab.workspace import Workspace
from tests.engine.test_devenv import dev_images  # noqa: F401  (a session fixture)
from tests.engine.test_devenv_helpers import dev_environment, target_2017
from tests.reliability.conftest import UserCli

SECRET = "s3cr3t-token"


def files_holding(root: Path, text: str) -> list[str]:
    found = []
    for path in root.rglob("*") if root.exists() else []:
        if path.is_file() and not path.is_symlink():
            try:
                if text.encode() in path.read_bytes():
                    found.append(str(path))
            except OSError:
                continue
    return found


# ---- secrets --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["dev.clone", "--repo", f"https://user:{SECRET}@127.0.0.1:9/x"],
        ["dev.clone", "--repo", f"https://{SECRET}@127.0.0.1:9/x.git", "--pr", "5"],
        ["dev.clone", "--repo", f"http://user:{SECRET}@127.0.0.1:9/x", "--ref", "v1.0"],
        ["dev.clone", "--repo", f"https://user:{SECRET}@127.0.0.1:9/x", "--ref", "$(id)"],
        ["dev.clone", "--repo", f"https://user:{SECRET}@bad host/x"],
    ],
)
def test_a_token_in_the_repository_url_is_never_shown(user: UserCli, args: list[str]) -> None:
    result = user(*args, timeout=120)
    assert result.returncode != 0
    assert SECRET not in result.output
    assert "Traceback" not in result.output
    assert files_holding(user.workspace, SECRET) == []


def test_a_token_in_the_repo_setting_is_never_shown(user: UserCli) -> None:
    result = user("dev.clone", env={"MOBYLAB_REPO": f"https://u:{SECRET}@127.0.0.1:9/moby"})
    assert result.returncode != 0
    assert SECRET not in result.output
    assert files_holding(user.workspace, SECRET) == []


@pytest.mark.parametrize(
    "url", [f"tcp://user:{SECRET}@127.0.0.1:9", f"ssh://user:{SECRET}@127.0.0.1:9"]
)
def test_a_password_in_the_engine_setting_is_never_shown(user: UserCli, url: str) -> None:
    result = user("engine.status", env={"MOBYLAB_ENGINE": url}, timeout=120)
    assert result.returncode != 0
    assert "Traceback" not in result.output
    assert SECRET not in result.output


# ---- host keys ------------------------------------------------------------------------------


def test_host_keys_are_strict_by_default() -> None:
    # Unknown hosts are refused unless --trust-new-hosts; the real-sshd tests
    # (tests/workshop/test_workshop_failures.py) show the refusal on the wire.
    assert SshOptions(known_hosts=Path("/x")).trust_new_hosts is False
    assert Settings().known_hosts == "~/.ssh/known_hosts"


# ---- workspace permissions --------------------------------------------------------------------


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def _permission_problems(root: Path) -> list[str]:
    problems = []
    for path in [root, *root.rglob("*")]:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            continue
        if mode & stat.S_IWOTH:
            problems.append(f"{path} is world-writable ({oct(mode & 0o7777)})")
        inside_state = "state" in path.relative_to(root).parts[:1]
        if inside_state and path.is_dir() and mode & 0o077:
            problems.append(f"{path} is open to others ({oct(mode & 0o777)})")
        if inside_state and path.is_file() and mode & 0o077:
            problems.append(f"{path} is readable by others ({oct(mode & 0o777)})")
    return problems


def test_workspace_files_have_sane_permissions(
    engine: Engine, user: UserCli, tmp_path: Path
) -> None:
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    _git(upstream, "init", "-q", "-b", "master")
    (upstream / "README").write_text("engine\n")
    _git(upstream, "add", "README")
    _git(upstream, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    old = os.umask(0o000)  # the worst umask a user may have
    try:
        assert user("dev.clone", "--repo", str(upstream), timeout=120).returncode == 0
        assert user("engine.status", timeout=300).returncode == 0
        ran = user("lab.run", "hello", "--yes", env={"MOBYLAB_OFFLINE": "yes"}, timeout=900)
        assert ran.returncode == 0, ran.output
    finally:
        os.umask(old)
        for report in user.workspace.glob("reports/*/report.json"):
            remove_run_resources(engine, json.loads(report.read_text())["run_id"])
    workspace = Workspace(user.workspace)
    assert stat.S_IMODE(workspace.root.joinpath("state").stat().st_mode) == 0o700
    assert list(workspace.root.glob("reports/*/report.html"))
    problems = [p for p in _permission_problems(workspace.root) if "/checkouts/" not in p]
    assert problems == []


# ---- the dev daemon -------------------------------------------------------------------------


@pytest.fixture
def dev_env(
    engine: Engine,
    workspace: Workspace,
    dev_images: dict[str, str],  # noqa: F811
) -> Iterator[DevEnvironment]:
    with dev_environment(engine, workspace) as environment:
        yield environment


def _inner_dockerd_argv(env: DevEnvironment) -> list[str]:
    container = env.container.find()
    assert container is not None
    done = container.exec_run(["sh", "-c", "cat /proc/$(cat /mobylab/run/dockerd.pid)/cmdline"])
    assert done.exit_code == 0, done.output
    return [word.decode() for word in done.output.split(b"\0") if word]


def _hosts(argv: list[str]) -> list[str]:
    hosts = []
    for index, word in enumerate(argv):
        if word.startswith(("--host=", "-H=")):
            hosts.append(word.split("=", 1)[1])
        elif word in ("--host", "-H") and index + 1 < len(argv):
            hosts.append(argv[index + 1])
    return hosts


def test_the_dev_daemon_listens_on_unix_sockets_only(
    dev_env: DevEnvironment, tmp_path: Path
) -> None:
    dev_env.up(target_2017(tmp_path), timeout=120)
    hosts = _hosts(_inner_dockerd_argv(dev_env))
    assert hosts and all(h.startswith("unix://") for h in hosts), hosts
    container = dev_env.container.find()
    assert container is not None
    assert not container.attrs["HostConfig"].get("PortBindings")
    assert not any((container.attrs["NetworkSettings"].get("Ports") or {}).values())
    # The socket on the host drives a root daemon: not for every local user.
    socket = dev_env.names.socket
    assert not stat.S_IMODE(socket.stat().st_mode) & 0o006, oct(socket.stat().st_mode)
    assert not stat.S_IMODE(socket.parent.stat().st_mode) & 0o002


def test_tcp_when_asked_is_published_on_loopback_only(
    dev_env: DevEnvironment, tmp_path: Path
) -> None:
    dev_env.up(target_2017(tmp_path), tcp=True, timeout=120)
    hosts = _hosts(_inner_dockerd_argv(dev_env))
    assert [h for h in hosts if h.startswith("tcp://")], hosts
    container = dev_env.container.find()
    assert container is not None
    bindings = container.attrs["HostConfig"]["PortBindings"]
    published = [b for entries in bindings.values() for b in entries or []]
    assert published and all(b["HostIp"] == "127.0.0.1" for b in published), bindings
    live = [b for entries in container.attrs["NetworkSettings"]["Ports"].values() for b in entries]
    assert live and all(b["HostIp"] == "127.0.0.1" for b in live), live


def test_the_fallback_says_what_it_grants(
    dev_env: DevEnvironment, engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    caps = probe(engine, dev_env.workspace)
    dev_env.up(target_2017(tmp_path), privileged="auto" if caps.privileged else "never")
    said = capsys.readouterr().err
    for grant in ("all capabilities except", "seccomp", "AppArmor", "device"):
        assert grant in said, said
    host_config = dev_env.container.find().attrs["HostConfig"]  # type: ignore[union-attr]
    assert host_config["Privileged"] is False
