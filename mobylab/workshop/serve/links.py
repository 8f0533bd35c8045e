"""The engines a served room's sandboxes run on: this machine's, or a workshop host's
reached through an SSH-forwarded unix socket.

A workshop host gets one OpenSSH connection (`ssh -M`, with the host-key rules of
workshop.*: the known_hosts setting only, unknown keys refused unless
--trust-new-hosts, a changed key always refused). Through it the server forwards a
local socket to the host's engine socket, and one to each sandbox's daemon socket
on that host, so the room talks to every engine and every sandbox the same way,
whether the seat is here or there. The connection runs `cat` on the host: it ends
with the server, even a killed one, because only the server holds its stdin.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from ... import process
from ...dev.container import host_run_root, socket_group
from ...engine import DEFAULT_SOCKET, Engine
from ...errors import WorkshopError
from ..hostkeys import HostAuthFailed, HostKeyChanged, HostKeyUnknown, HostUnreachable, retryable
from ..hosts import HostSpec
from ..pool import with_retries
from ..remote import SshOptions

# The word in --hosts for this machine's own engine (no SSH).
LOCAL = "local"
# ssh says a connection is gone after this many unanswered keep-alives, this far apart.
ALIVE_SECONDS = 5
ALIVE_COUNT = 3
# The local name of the host engine's forwarded socket, in the tunnel's folder.
ENGINE_SOCKET = "engine.sock"
# What the host is asked once connected: who the SSH user is, and where its engine is.
FACTS_SCRIPT = (
    'id -u; id -g; printf "%s\\n" "${XDG_RUNTIME_DIR:-}" "${DOCKER_HOST:-}"; '
    "cat /proc/sys/kernel/pid_max 2>/dev/null || echo"
)


def is_local(spec: HostSpec) -> bool:
    """Pure: whether a --hosts entry means this machine's engine."""
    return spec == HostSpec(LOCAL)


@dataclass(frozen=True)
class HostFacts:
    """What the server needs to know of the SSH user and the engine on a host."""

    uid: int
    gid: int
    runtime_dir: str
    engine_socket: str
    pid_max: int | None


def parse_facts(text: str, label: str) -> HostFacts:
    """Pure: FACTS_SCRIPT's output; the engine's socket from DOCKER_HOST, else the
    default one. An engine reached otherwise than by a unix socket is refused."""
    lines = [*text.splitlines(), "", "", "", "", ""]
    uid, gid, runtime_dir, docker_host, pid_max = (line.strip() for line in lines[:5])
    if not (uid.isdigit() and gid.isdigit()):
        raise WorkshopError(f"{label}: could not tell its user's id (`id` said {uid!r})")
    socket = DEFAULT_SOCKET
    if docker_host:
        if not docker_host.startswith("unix://"):
            raise WorkshopError(
                f"{label}: its DOCKER_HOST is {docker_host}; workshop.serve reaches an "
                "engine by its unix socket",
                "Point DOCKER_HOST on that host at the engine's socket, or unset it.",
            )
        socket = docker_host.removeprefix("unix://")
    return HostFacts(
        int(uid), int(gid), runtime_dir, socket, int(pid_max) if pid_max.isdigit() else None
    )


def ssh_argv(spec: HostSpec, options: SshOptions, control: Path, *, master: bool) -> list[str]:
    """Pure: ssh with workshop.*'s host-key rules, multiplexed over `control`."""
    argv = [
        "ssh",
        "-T",
        "-o", "BatchMode=yes",
        "-o", f"UserKnownHostsFile={options.known_hosts}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", f"StrictHostKeyChecking={'accept-new' if options.trust_new_hosts else 'yes'}",
        "-o", "HashKnownHosts=no",
        "-o", f"ConnectTimeout={max(1, int(options.connect_timeout))}",
        "-o", f"ServerAliveInterval={ALIVE_SECONDS}",
        "-o", f"ServerAliveCountMax={ALIVE_COUNT}",
        "-o", f"ControlPath={control}",
        "-o", f"ControlMaster={'yes' if master else 'no'}",
        "-o", "ControlPersist=no",
        "-o", "StreamLocalBindUnlink=yes",
        "-o", "ExitOnForwardFailure=yes",
    ]  # fmt: skip
    if options.ssh_config is not None:
        argv += ["-F", str(options.ssh_config)]
    if spec.user:
        argv += ["-l", spec.user]
    if spec.port:
        argv += ["-p", str(spec.port)]
    return [*argv, spec.host]


def ssh_failure(text: str, label: str, known_hosts: Path) -> WorkshopError:
    """Pure: one line for what ssh said when it could not connect (as workshop.* words it)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    said = " ".join(lines)
    if "IDENTIFICATION HAS CHANGED" in said:
        return HostKeyChanged(
            f"{label}: host key changed (not the key recorded in {known_hosts}); refused",
            "If the machine was really reinstalled, remove its old line with "
            f"`ssh-keygen -R HOST -f {known_hosts}` and connect again.",
        )
    if "Host key verification failed" in said:
        return HostKeyUnknown(
            f"{label}: unknown host key (not in {known_hosts}); refused",
            "Check the key out of band, or accept new keys once with --trust-new-hosts.",
        )
    if "Permission denied" in said:
        return HostAuthFailed(
            f"{label}: authentication failed",
            "Check the user and IdentityFile for this host in ~/.ssh/config.",
        )
    last = lines[-1] if lines else "ssh ended"
    return HostUnreachable(
        f"{label}: unreachable ({last})", "Check that the machine is up and sshd runs."
    )


class Tunnel:
    """One SSH connection to a workshop host and the sockets forwarded through it."""

    def __init__(self, spec: HostSpec, options: SshOptions, folder: Path, log: Path) -> None:
        self.spec = spec
        self.options = options
        self.folder = folder
        self.log = log
        self.control = folder / "ctl"
        self.proc: subprocess.Popen[bytes] | None = None

    def ssh(self, *argv: str, master: bool = False) -> list[str]:
        return [*ssh_argv(self.spec, self.options, self.control, master=master), *argv]

    def open(self) -> None:
        """Connect (retrying a host that does not answer, as workshop.* does)."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with_retries(
            self._connect,
            retries=self.options.retries,
            should_retry=lambda exc: isinstance(exc, WorkshopError) and retryable(exc),
            base_delay=self.options.retry_delay,
        )

    def _connect(self) -> None:
        start = self.log.stat().st_size if self.log.exists() else 0
        self.proc = process.start_tethered(self.ssh("cat", master=True), self.log)
        deadline = time.monotonic() + self.options.connect_timeout + 20
        while not self.control.exists() or not self._master_answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                process.stop(self.proc)
                said = self.log.read_bytes()[start:].decode(errors="replace")
                raise ssh_failure(said, self.spec.label, self.options.known_hosts)
            time.sleep(0.1)

    def reopen(self) -> None:
        """Connect again once, after the connection ended (a stale control socket goes
        first); a WorkshopError when the host still cannot be reached."""
        if self.proc is not None:
            process.stop(self.proc)
        self.control.unlink(missing_ok=True)
        self._connect()

    def _master_answers(self) -> bool:
        check = [*self.ssh()[:-1], "-O", "check", self.spec.host]
        return process.capture(check, timeout=30).returncode == 0

    def run(self, script: str) -> str:
        """A constant script on the host, over the connection; its output."""
        done = process.capture(self.ssh(script), timeout=60)
        if done.returncode != 0:
            raise ssh_failure(done.stderr, self.spec.label, self.options.known_hosts)
        return done.stdout

    def forward(self, name: str, remote: str) -> Path:
        """A local socket that reaches the unix socket `remote` on the host."""
        local = self.folder / name
        self._control("forward", local, remote)
        return local

    def cancel(self, name: str, remote: str) -> None:
        self._control("cancel", self.folder / name, remote, check=False)
        (self.folder / name).unlink(missing_ok=True)

    def _control(self, command: str, local: Path, remote: str, *, check: bool = True) -> None:
        argv = [*self.ssh()[:-1], "-O", command, "-L", f"{local}:{remote}", self.spec.host]
        done = process.capture(argv, timeout=30)
        if check and done.returncode != 0:
            raise WorkshopError(
                f"{self.spec.label}: could not forward {remote}: "
                f"{(done.stderr.strip().splitlines() or ['ssh said nothing'])[-1]}"
            )

    def problem(self) -> str:
        """Why the connection is gone ('' while it runs)."""
        if self.proc is None or self.proc.poll() is None:
            return ""
        lines = (
            self.log.read_text(errors="replace").strip().splitlines() if self.log.exists() else []
        )
        said = f": {lines[-1]}" if lines else ""
        return f"its SSH connection ended{said}"

    def close(self) -> None:
        if self.proc is not None:
            process.stop(self.proc)
        shutil.rmtree(self.folder, ignore_errors=True)


@dataclass
class HostLink:
    """Where some seats' sandboxes run: an engine, how the server reaches sockets on
    its host, and where the sandboxes' socket folders are there. A link without a
    tunnel is this machine's engine."""

    label: str
    engine: Engine
    run_root: Path
    socket_group: int | None
    pid_max: int | None
    tunnel: Tunnel | None = None
    # The engine's socket on the host (forwarded as ENGINE_SOCKET); '' for this machine.
    engine_socket: str = ""
    dropped: str = ""
    forwards: dict[str, str] = field(default_factory=dict)

    @property
    def remote(self) -> bool:
        return self.tunnel is not None

    def reach(self, name: str, socket: Path) -> Path:
        """A path on this machine for the unix socket `socket` on the host."""
        if self.tunnel is None:
            return socket
        self.forwards[name] = str(socket)
        return self.tunnel.forward(name, str(socket))

    def release(self, name: str, folder: Path) -> None:
        """Stop reaching a socket; its folder goes too when it is on this machine (on a
        host it belongs to the engine's user, and empties when the sandbox goes)."""
        if self.tunnel is None:
            shutil.rmtree(folder, ignore_errors=True)
        elif name in self.forwards:
            self.tunnel.cancel(name, self.forwards.pop(name))

    def rejoin(self) -> None:
        """The way to a dropped host again: its connection and every socket forwarded
        through it, at the same local paths; a WorkshopError while it cannot be had."""
        assert self.tunnel is not None
        self.tunnel.reopen()
        self.tunnel.forward(ENGINE_SOCKET, self.engine_socket)
        for name, remote in self.forwards.items():
            self.tunnel.forward(name, remote)
        if not self.engine.ping(timeout=15):
            raise WorkshopError(f"{self.label}: its engine does not answer (over SSH)")
        self.dropped = ""

    def connected(self) -> bool:
        """Whether the way to the host is there (always, for this machine's engine)."""
        return self.tunnel is None or not self.tunnel.problem()

    def problem(self) -> str:
        """Why the host's engine cannot be reached ('' while it answers)."""
        if self.tunnel is not None:
            gone = self.tunnel.problem()
            if gone:
                return gone
        return "" if self.engine.ping(timeout=10) else "its engine does not answer"

    def close(self) -> None:
        if self.tunnel is not None:
            self.tunnel.close()


def local_link(engine: Engine, run_root: Path) -> HostLink:
    return HostLink(
        LOCAL,
        engine,
        run_root,
        socket_group(os.geteuid(), os.getegid()),
        _pid_max(),
    )


def _pid_max() -> int | None:
    try:
        return int(Path("/proc/sys/kernel/pid_max").read_text())
    except (OSError, ValueError):
        return None


def ssh_link(spec: HostSpec, options: SshOptions, folder: Path, log: Path) -> HostLink:
    """Connect to a workshop host and forward its engine's socket; a one-line error
    when it cannot be reached, its key is refused or its engine does not answer."""
    tunnel = Tunnel(spec, options, folder, log)
    try:
        tunnel.open()
        facts = parse_facts(tunnel.run(FACTS_SCRIPT), spec.label)
        socket = tunnel.forward(ENGINE_SOCKET, facts.engine_socket)
        engine = Engine(f"unix://{socket}", kind="host", name=spec.label)
        if not engine.ping(timeout=15):
            raise WorkshopError(
                f"{spec.label}: its engine at {facts.engine_socket} does not answer (over SSH)",
                "Check that dockerd runs there and that the SSH user may use its socket "
                "(the docker group).",
            )
    except BaseException:
        tunnel.close()
        raise
    return HostLink(
        spec.label,
        engine,
        host_run_root(facts.uid, facts.runtime_dir or None),
        socket_group(facts.uid, facts.gid),
        facts.pid_max,
        tunnel,
        facts.engine_socket,
    )


def open_links(
    specs: list[HostSpec], options: SshOptions, local: Engine, run_root: Path, key: str, logs: Path
) -> list[HostLink]:
    """A link per --hosts entry, in order; all or none: a host that cannot be reached
    is refused before any seat starts (its seats' links would be handed out dead).
    A tunnel's sockets are in this machine's socket folder, named after the server."""
    links: list[HostLink] = []
    try:
        for number, spec in enumerate(specs, 1):
            if is_local(spec):
                links.append(local_link(local, run_root))
                continue
            folder = run_root / f"serve-{key}-link{number}"
            links.append(ssh_link(spec, options, folder, logs / f"ssh-{spec.file_name}.log"))
    except BaseException:
        for link in links:
            link.close()
        raise
    return links
