"""A private Docker engine owned by mobylab, for machines where no engine runs.

Its socket, data-root, exec-root, pidfile and log are its own, so it never
disturbs an engine the user runs, and `engine.down` stops only this one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .. import process
from ..errors import EngineError
from ..workspace import Workspace
from ._engine import DEFAULT_SOCKET, Engine

STATE_NAME = "private-engine"


@dataclass(frozen=True)
class PrivateEngineLayout:
    """Where the private engine of one workspace keeps its files."""

    socket: Path
    exec_root: Path
    data_root: Path
    pidfile: Path
    log: Path
    # A bridge of its own when another daemon owns docker0 (15 characters at most).
    bridge: str = ""

    @classmethod
    def for_workspace(cls, workspace: Workspace) -> PrivateEngineLayout:
        # Unix socket paths are limited to 108 bytes: the runtime folders live in a
        # short path named after the workspace, not inside it.
        key = hashlib.sha256(str(workspace.root).encode()).hexdigest()[:10]
        run = Path("/run/mobylab") / key
        return cls(
            socket=run / "docker.sock",
            exec_root=run / "exec",
            data_root=workspace.root / "engine" / "data",
            pidfile=run / "dockerd.pid",
            log=workspace.root / "logs" / "private-engine.log",
            bridge=f"mlb{key}",
        )


def dockerd_argv(layout: PrivateEngineLayout, dockerd: str, share_host: bool) -> list[str]:
    """Pure: the dockerd command line of a private engine.

    When another daemon runs or may run beside it (`share_host`), the private one
    gets a bridge interface of its own (made before it starts) and no iptables
    rules, so the two never fight over docker0 or the NAT table. Never
    `--bridge none`: a dockerd started so deletes the docker0 interface it finds,
    and every container of the other daemon then fails to start.
    """
    argv = [
        dockerd,
        "--host", f"unix://{layout.socket}",
        "--data-root", str(layout.data_root),
        "--exec-root", str(layout.exec_root),
        "--pidfile", str(layout.pidfile),
    ]  # fmt: skip
    if share_host:
        argv += ["--bridge", layout.bridge, "--iptables=false", "--ip-masq=false"]
    return argv


def other_engine_present() -> bool:
    """Whether another daemon owns, or may soon own, the default bridge."""
    if Path("/sys/class/net/docker0").exists() or Path(DEFAULT_SOCKET).exists():
        return True
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "dockerd":
                return True
        except OSError:
            continue
    return False


class PrivateEngine:
    """Start, find and stop the private engine of a workspace."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.layout = PrivateEngineLayout.for_workspace(workspace)

    @property
    def engine(self) -> Engine:
        return Engine(f"unix://{self.layout.socket}", kind="private", name="private")

    def pid(self) -> int | None:
        state = self.workspace.load_state(STATE_NAME) or {}
        pid = state.get("pid")
        return pid if isinstance(pid, int) and process.pid_alive(pid) else None

    def running(self) -> bool:
        return self.pid() is not None and self.engine.ping()

    def start(self, timeout: float) -> Engine:
        """Start the private engine (or reuse the running one) and wait until it answers."""
        if self.running():
            return self.engine
        if os.geteuid() != 0:
            raise EngineError(
                "starting a private Docker engine needs root",
                "Run mobylab as root, or start Docker yourself and set DOCKER_HOST.",
            )
        dockerd = process.require("dockerd")
        layout = self.layout
        for folder in (layout.exec_root, layout.data_root, layout.log.parent):
            folder.mkdir(parents=True, exist_ok=True)
        layout.socket.unlink(missing_ok=True)
        share_host = other_engine_present()
        if share_host:
            _ensure_bridge(layout.bridge)
        argv = dockerd_argv(layout, dockerd, share_host)
        with layout.log.open("ab") as log:
            log.write(f"\n--- mobylab starting: {' '.join(argv)}\n".encode())
        proc = process.start_detached(argv, layout.log)
        self.workspace.save_state(
            STATE_NAME,
            {"pid": proc.pid, "url": self.engine.url, "started": time.time(), **_paths(layout)},
        )
        try:
            self.engine.wait_ready(
                timeout,
                alive=lambda: proc.poll() is None,
                log=layout.log,
                what="the private engine",
            )
        except BaseException:
            self.stop()
            raise
        return self.engine

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the private engine; returns False when none was running."""
        state = self.workspace.load_state(STATE_NAME) or {}
        pid = state.get("pid")
        stopped = False
        if isinstance(pid, int) and process.pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while process.pid_alive(pid) and time.monotonic() < deadline:
                _reap(pid)
                time.sleep(0.1)
            if process.pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
            _reap(pid)
            stopped = True
        self.workspace.drop_state(STATE_NAME)
        self.layout.socket.unlink(missing_ok=True)
        _unmount_leftovers(self.layout.data_root)
        _remove_bridge(self.layout.bridge)
        return stopped


def _ensure_bridge(name: str) -> None:
    """The private engine's own bridge interface (dockerd picks a free subnet for it)."""
    if Path("/sys/class/net", name).exists():
        return
    ip = process.require("ip")
    for argv in (
        [ip, "link", "add", "name", name, "type", "bridge"],
        [ip, "link", "set", name, "up"],
    ):
        done = process.capture(argv, timeout=30)
        if done.returncode != 0:
            raise EngineError(
                f"cannot create the private engine's bridge {name}: "
                f"{(done.stderr or done.stdout).strip().splitlines()[-1:] or ['?']}",
                "Run mobylab as root, or start Docker yourself and set DOCKER_HOST.",
            )


def _remove_bridge(name: str) -> None:
    """Delete the private engine's own bridge (never docker0: the name is ours alone)."""
    if name and name != "docker0" and Path("/sys/class/net", name).exists():
        process.capture(["ip", "link", "del", name], timeout=30)


def mounts_at(mounts_text: str, path: Path) -> int:
    """Pure: how many entries of /proc/self/mounts are mounted at `path`."""
    return sum(1 for line in mounts_text.splitlines() if line.split(" ")[1:2] == [str(path)])


def _unmount_leftovers(data_root: Path) -> None:
    """Unmount what a dockerd that died while starting left on its data root.

    dockerd bind-mounts the data root on itself (same device, so os.path.ismount
    cannot tell); a daemon that dies early leaves that mount behind.
    """
    for _ in range(mounts_at(Path("/proc/self/mounts").read_text(), data_root)):
        if process.capture(["umount", str(data_root)]).returncode != 0:
            break


def _reap(pid: int) -> None:
    """Collect the exit status when the daemon is our own child (tests start it in-process)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _paths(layout: PrivateEngineLayout) -> dict[str, str]:
    return {key: str(value) for key, value in asdict(layout).items()}
