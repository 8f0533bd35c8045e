"""Real sshd "attendee machines" on loopback, for the workshop tests.

Eight sshd processes listen on 127.0.0.2 ... 127.0.0.9, each with its own
config, host key, pid file and authorized_keys in a temporary folder. All the
hosts are this one machine, so each host logs in as its own Linux user (made
for the test session, home under the temporary folder, member of the `docker`
group for /var/run/docker.sock): the default remote folder ~/.mobylab-workshop
is then a different folder per host, exactly as on separate machines, and the
`user@host:port` form is exercised for real. 127.0.0.10 has no sshd (a host
that is down). Everything is removed at the end of the session.
"""

from __future__ import annotations

import contextlib
import grp
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mobylab.workshop import artifacts

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
SSHD = "/usr/sbin/sshd"
HOST_NUMBERS = range(2, 10)
DOWN_HOST = "127.0.0.10"
REPO = Path(__file__).resolve().parents[2]
# A teardown narrowed to this label removes no Docker object: the farm's hosts share this
# machine's engine, and what mobylab keeps there (base and dev images, Go caches) serves
# the other tests and the next run.
NOTHING_ELSE = "org.mobylab.test=nothing-else"


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(reason + " (CI needs it: .ci/run installs openssh-server)")
    pytest.skip(reason)


def _free_port(addresses: Sequence[str], start: int = 2222) -> int:
    """A port free on every address (2222 unless something else holds it)."""
    for port in range(start, start + 200):
        try:
            for address in addresses:
                with socket.socket() as probe:
                    probe.bind((address, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port for the test sshd")


def _wait_listening(address: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex((address, port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"sshd on {address}:{port} did not start")


def keygen(path: Path, comment: str) -> str:
    """A new ed25519 key pair; returns the public key line."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
    )
    return path.with_suffix(".pub").read_text().strip()


@dataclass
class TestHost:
    number: int
    address: str
    port: int
    user: str
    home: Path
    folder: Path
    host_key_line: str = ""  # "ssh-ed25519 AAAA..."
    pid: int | None = None

    @property
    def spec(self) -> str:
        return f"{self.user}@{self.address}:{self.port}"

    @property
    def known_hosts_line(self) -> str:
        return f"[{self.address}]:{self.port} {self.host_key_line}"

    @property
    def remote_dir(self) -> Path:
        return self.home / ".mobylab-workshop"


@dataclass
class SshFarm:
    root: Path
    port: int
    client_key: Path
    ssh_config: Path
    known_hosts: Path
    hosts: list[TestHost] = field(default_factory=list)

    @property
    def down_spec(self) -> str:
        return f"nobody@{DOWN_HOST}:{self.port}"

    def known_hosts_text(self, skip: Sequence[int] = ()) -> str:
        return "".join(h.known_hosts_line + "\n" for h in self.hosts if h.number not in skip)

    def host(self, number: int) -> TestHost:
        return next(h for h in self.hosts if h.number == number)

    def specs(self, numbers: Sequence[int] | None = None) -> str:
        chosen = self.hosts if numbers is None else [self.host(n) for n in numbers]
        return ",".join(h.spec for h in chosen)


def _start_sshd(farm: SshFarm, host: TestHost, client_public: str) -> None:
    folder = host.folder
    folder.mkdir(mode=0o755)
    host_key = folder / "ssh_host_ed25519_key"
    host.host_key_line = " ".join(keygen(host_key, f"host{host.number}").split()[:2])
    authorized = folder / "authorized_keys"
    authorized.write_text(client_public + "\n")
    authorized.chmod(0o644)
    config = folder / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"ListenAddress {host.address}",
                f"Port {host.port}",
                f"HostKey {host_key}",
                f"PidFile {folder / 'sshd.pid'}",
                f"AuthorizedKeysFile {authorized}",
                "UsePAM no",
                "StrictModes no",
                "PermitRootLogin prohibit-password",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "Subsystem sftp internal-sftp",
                "MaxStartups 100",
                "MaxSessions 100",
                "LogLevel VERBOSE",
                # The hosts use the engine this machine's tests use (tests/conftest.py).
                *(
                    [f"SetEnv DOCKER_HOST={os.environ['DOCKER_HOST']}"]
                    if os.environ.get("DOCKER_HOST")
                    else []
                ),
                "",
            ]
        )
    )
    subprocess.run([SSHD, "-f", str(config), "-E", str(folder / "sshd.log")], check=True)
    _wait_listening(host.address, host.port)
    host.pid = _read_pid(folder / "sshd.pid")


def _read_pid(path: Path, timeout: float = 10.0) -> int | None:
    """sshd writes its pid file a moment after it starts listening."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text().strip() if path.is_file() else ""
        if text.isdigit():
            return int(text)
        time.sleep(0.05)
    return None


def _make_user(name: str, home: Path) -> None:
    groups = ["--groups", "docker"] if _has_group("docker") else []
    # Password "*": no password login, but not a locked account ("!"), which sshd refuses.
    subprocess.run(
        ["useradd", "--no-create-home", "--home-dir", str(home), "--shell", "/bin/bash",
         "--password", "*", *groups, name],
        check=True,
    )  # fmt: skip
    home.mkdir(mode=0o755)
    shutil.chown(home, name, name)


def _has_group(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def _remove_user(name: str) -> None:
    # --force: a session of the user may still be closing after its sshd stopped.
    for _ in range(20):
        done = subprocess.run(["userdel", "--force", name], check=False, capture_output=True)
        if done.returncode in (0, 6):  # 6: no such user
            return
        time.sleep(0.25)


@pytest.fixture(scope="session")
def ssh_farm() -> Iterator[SshFarm]:
    if not Path(SSHD).exists():
        _unavailable(f"{SSHD} is not installed")
    if os.geteuid() != 0:
        _unavailable("the sshd fixtures need root (they add test users)")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    root = Path(tempfile.mkdtemp(prefix="mobylab-sshd-", dir="/tmp"))
    root.chmod(0o755)
    addresses = [f"127.0.0.{n}" for n in HOST_NUMBERS]
    port = _free_port([*addresses, DOWN_HOST])
    client_key = root / "client_ed25519"
    client_public = keygen(client_key, "instructor")
    suffix = secrets.token_hex(2)
    farm = SshFarm(root, port, client_key, root / "ssh_config", root / "known_hosts")
    try:
        for number in HOST_NUMBERS:
            user = f"mlw{suffix}h{number}"
            host = TestHost(
                number, f"127.0.0.{number}", port, user, root / f"home{number}", root / f"h{number}"
            )
            farm.hosts.append(host)
            _make_user(user, host.home)
            _start_sshd(farm, host, client_public)
        lines = [
            "Host *",
            f"    IdentityFile {client_key}",
            "    IdentitiesOnly yes",
        ]
        for host in farm.hosts:
            lines += [
                f"Host attendee-{host.number}",
                f"    HostName {host.address}",
                f"    Port {host.port}",
                f"    User {host.user}",
            ]
        jump, target = farm.host(2), farm.host(5)
        lines += [
            "Host via-jump-5",
            f"    HostName {target.address}",
            f"    Port {target.port}",
            f"    User {target.user}",
            "    ProxyJump attendee-2",
        ]
        assert jump.number == 2
        # "Host *" first would win for IdentityFile only; put aliases first as ssh does.
        farm.ssh_config.write_text("\n".join(lines[3:] + lines[:3]) + "\n")
        farm.known_hosts.write_text(farm.known_hosts_text())
        yield farm
    finally:
        for host in farm.hosts:
            host.pid = host.pid or _read_pid(host.folder / "sshd.pid", timeout=1)
            if host.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(host.pid, 15)
        for host in farm.hosts:
            _remove_user(host.user)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def source_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A frozen copy of the mobylab source: edits to the clone during the session must not
    look like a new version to provision."""
    dest = tmp_path_factory.mktemp("source") / "mobylab"
    dest.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache", ".ruff_cache")
    for part in (*artifacts.SOURCE_PARTS, "README.md"):
        path = REPO / part
        if path.is_dir():
            shutil.copytree(path, dest / part, ignore=ignore)
        elif path.is_file():
            shutil.copy2(path, dest / part)
    return dest


@pytest.fixture(scope="session")
def wheelhouse_cache(tmp_path_factory: pytest.TempPathFactory, source_snapshot: Path) -> Path:
    """The wheelhouse, built once per test session (pip needs PyPI here)."""
    dest = tmp_path_factory.mktemp("wheelhouse-cache") / "wheelhouse"
    artifacts.build_wheelhouse(source_snapshot, dest, dest.parent / "pip-wheel.log")
    return dest


@dataclass
class MobylabCli:
    """Runs `mobylab` as a child process, as an instructor would, with one workspace."""

    workspace: Path
    farm: SshFarm
    known_hosts: Path
    outputs: list[str] = field(default_factory=list)
    source: Path | None = None

    def provision(self, *args: str) -> subprocess.CompletedProcess[str]:
        """workshop.provision from the session's frozen source."""
        extra = ["--source", str(self.source)] if self.source else []
        return self("workshop.provision", *extra, *args)

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "CI": "true",
            "MOBYLAB_WORKSPACE": str(self.workspace),
            "MOBYLAB_KNOWN_HOSTS": str(self.known_hosts),
            "MOBYLAB_SSH_CONFIG": str(self.farm.ssh_config),
            "COLUMNS": "250",
        }

    @staticmethod
    def argv(*args: str) -> list[str]:
        return [sys.executable, "-c", "from mobylab.tasks.program import main; main()", *args]

    def __call__(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            self.argv(*args), env=self.env(), cwd=REPO, capture_output=True, text=True,
            timeout=timeout, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        self.outputs.append(result.stdout + result.stderr)
        return result


def make_cli(
    root: Path, farm: SshFarm, wheelhouse: Path | None = None, source: Path | None = None
) -> MobylabCli:
    workspace = root / "ws"
    workspace.mkdir(parents=True)
    if wheelhouse is not None:
        shutil.copytree(wheelhouse, workspace / "wheelhouse")
    known_hosts = root / "known_hosts"
    known_hosts.write_text(farm.known_hosts_text())
    return MobylabCli(workspace, farm, known_hosts, source=source)


@contextlib.contextmanager
def attendee_host(
    cli: MobylabCli, host: TestHost, remote_dir: str
) -> Iterator[subprocess.CompletedProcess[str]]:
    """`host` provisioned as an attendee's machine (the instructor's base images made,
    a Debian login profile that puts ~/.local/bin on PATH): provision's result; torn
    down on leaving."""
    made = cli("images.bootstrap", timeout=1800)  # the instructor's base images (shared engine)
    assert made.returncode == 0, made.stdout + made.stderr
    shutil.copy("/etc/skel/.profile", host.home / ".profile")
    shutil.chown(host.home / ".profile", host.user, host.user)
    provisioned = cli.provision("--hosts", host.spec, "--no-images", "--remote-dir", remote_dir)
    assert provisioned.returncode == 0, provisioned.stdout + provisioned.stderr
    try:
        yield provisioned
    finally:
        cli("workshop.teardown", "--hosts", host.spec, "--remote-dir", remote_dir, "--yes")
        (host.home / ".profile").unlink(missing_ok=True)


@pytest.fixture
def cli(tmp_path: Path, ssh_farm: SshFarm) -> MobylabCli:
    """A fresh workspace and known_hosts (with every test host's key) per test."""
    return make_cli(tmp_path, ssh_farm)


@pytest.fixture(autouse=True)
def nothing_lost(tmp_path: Path, nothing_lost: None) -> Iterator[None]:
    """The repository-wide guard (tests/conftest.py), with tmp_path set up before it, so
    that tmp_path still exists when the guard reads it at teardown."""
    yield


def board_snapshot(cli: MobylabCli, host: TestHost, remote_dir: str) -> dict:
    """The host as workshop.board's first poll sees it (board.json)."""
    argv = cli.argv("workshop.board", "--hosts", host.spec, "--remote-dir", remote_dir)
    with running_board(argv, cli.env()) as (_url, snapshot):
        (seen,) = snapshot["hosts"]
        return seen


@contextlib.contextmanager
def running_board(argv: list[str], env: dict[str, str]) -> Iterator[tuple[str, dict]]:
    """workshop.board (argv without --port and --interval) on a free port, polling every
    second: its address and board.json after its first poll; stopped on leaving."""
    board = subprocess.Popen(
        [*argv, "--port", "0", "--interval", "1"], env=env, cwd=REPO, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert board.stderr is not None
        url = next(line.split()[1] for line in board.stderr if line.startswith("board: "))
        deadline = time.monotonic() + 60
        while True:
            with urllib.request.urlopen(url + "board.json", timeout=10) as answer:
                snapshot = json.loads(answer.read())
            if snapshot["polls"]:
                break
            assert time.monotonic() < deadline
            time.sleep(0.5)
        yield url, snapshot
    finally:
        board.terminate()
        board.wait(timeout=30)
