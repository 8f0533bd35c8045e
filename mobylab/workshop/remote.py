"""One attendee machine over SSH: verified connect, quoted commands, files, a log.

Remote commands are built from argument lists with shlex quoting, never by
pasting user input into a shell string. Every command and its output go to the
host's own log (<workspace>/workshop/logs/<host>.log), through the redactor.
"""

from __future__ import annotations

import math
import shlex
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabric import Config, Connection
from invoke.exceptions import CommandTimedOut

from ..config import Settings
from ..errors import WorkshopError
from .hostkeys import retryable, secure, translate
from .pool import HostJob, HostTimedOut, StepFailed, with_retries
from .redact import Redactor


@dataclass(frozen=True)
class SshOptions:
    """How to reach the hosts: shared by every host of one task."""

    known_hosts: Path
    trust_new_hosts: bool = False
    ssh_config: Path | None = None
    connect_timeout: float = 10.0
    retries: int = 2
    retry_delay: float = 1.0

    @classmethod
    def from_settings(cls, settings: Settings, *, trust_new_hosts: bool = False) -> SshOptions:
        """The known_hosts, ssh config and retries settings, as every workshop task reads them."""
        return cls(
            known_hosts=Path(settings.known_hosts).expanduser(),
            trust_new_hosts=trust_new_hosts,
            ssh_config=Path(settings.ssh_config).expanduser() if settings.ssh_config else None,
            retries=settings.ssh_retries,
        )


def sh(*argv: str | Path) -> str:
    """Pure: one remote command line from an argument list, every part quoted."""
    return shlex.join(str(a) for a in argv)


class HostLog:
    """The per-host log file; everything written is redacted first."""

    def __init__(self, path: Path, redactor: Redactor) -> None:
        self.path = path
        self.redactor = redactor
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, text: str) -> None:
        # Milliseconds: most steps take well under a second, and the log is where a
        # slow host shows which one took its time.
        now = time.time()
        stamp = time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d}"
        lines = self.redactor.clean(text).rstrip("\n").splitlines() or [""]
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            for line in lines:
                handle.write(f"{stamp} {line}\n")


@dataclass
class RemoteResult:
    command: str
    exited: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exited == 0

    def last_line(self) -> str:
        for text in (self.stderr, self.stdout):
            lines = [line for line in text.strip().splitlines() if line.strip()]
            if lines:
                return lines[-1].strip()
        return f"exit status {self.exited}"


def make_connection(label_host: Any, options: SshOptions) -> Connection:
    """A Fabric Connection honouring ssh config (User, Port, IdentityFile, ProxyJump)."""
    config = Config(runtime_ssh_path=str(options.ssh_config)) if options.ssh_config else Config()
    return Connection(
        host=label_host.host,
        user=label_host.user,
        port=label_host.port,
        config=config,
        connect_timeout=int(max(1, options.connect_timeout)),
    )


class RemoteHost:
    """A connected attendee machine, as seen by one job."""

    def __init__(self, job: HostJob, options: SshOptions, log: HostLog) -> None:
        self.job = job
        self.options = options
        self.log = log
        self.label = job.label
        self.cxn: Connection | None = None
        self._home: str | None = None

    # -- connecting ---------------------------------------------------------
    def connect(self) -> RemoteHost:
        """Open the connection with host key verification, retrying connection failures."""

        def attempt() -> Connection:
            cxn = make_connection(self.job.spec, self.options)
            secure(cxn, self.options.known_hosts, trust_new=self.options.trust_new_hosts)
            self.job.on_abort(cxn.close)
            try:
                cxn.open()
            except Exception as exc:
                cxn.close()
                raise translate(exc, self.label, self.options.known_hosts) from None
            return cxn

        self.log.write(f"connecting to {self.label}")
        self.cxn = with_retries(
            attempt,
            retries=self.options.retries,
            should_retry=lambda exc: isinstance(exc, WorkshopError) and retryable(exc),
            job=self.job,
            base_delay=self.options.retry_delay,
        )
        self.log.write("connected")
        return self

    def close(self) -> None:
        if self.cxn is not None:
            self.cxn.close()

    # -- commands -----------------------------------------------------------
    def run(
        self,
        command: str,
        *,
        check: bool = True,
        timeout: float | None = None,
        what: str = "",
        log_output: bool = True,
    ) -> RemoteResult:
        """Run a (quoted) command line; raise StepFailed on non-zero exit when `check`."""
        assert self.cxn is not None, "connect() first"
        self.log.write(f"$ {command}")
        remaining = self.job.remaining()
        limit = min(timeout or remaining, remaining)
        try:
            result = self.cxn.run(
                command, hide=True, warn=True, in_stream=False, timeout=math.ceil(limit)
            )
        except CommandTimedOut:
            self.log.write(f"timed out after {limit:.0f}s")
            if limit >= remaining:
                raise HostTimedOut(
                    f"{self.label}: no result after {self.job.timeout:.0f}s "
                    f"(at step {self.job.step})"
                ) from None
            raise StepFailed(
                f"{self.label}: {what or 'a command'} took longer than {limit:.0f}s"
            ) from None
        except WorkshopError:
            raise
        except Exception as exc:
            if self.job.aborted.is_set():
                raise WorkshopError(f"{self.label}: stopped at the deadline") from None
            raise translate(exc, self.label, self.options.known_hosts) from None
        outcome = RemoteResult(command, result.exited, result.stdout, result.stderr)
        if log_output:
            for text in (outcome.stdout, outcome.stderr):
                if text.strip():
                    self.log.write(text)
        if outcome.exited != 0:
            self.log.write(f"exit status {outcome.exited}")
        if check and not outcome.ok:
            reason = self.log.redactor.clean(outcome.last_line())
            raise StepFailed(f"{self.label}: {what or 'command'} failed: {reason}")
        return outcome

    def home(self) -> str:
        if self._home is None:
            self._home = self.run('printf %s "$HOME"', what="finding the home folder").stdout
        return self._home

    def path(self, remote: str) -> str:
        """An absolute remote path: `~` and relative paths are taken from the home folder."""
        if remote == "~":
            return self.home()
        if remote.startswith("~/"):
            return f"{self.home()}/{remote[2:]}"
        if not remote.startswith("/"):
            return f"{self.home()}/{remote}"
        return remote

    def env_command(self, env: Mapping[str, str], argv: Sequence[str | Path], cwd: str) -> str:
        """`cd DIR && env K=V ... argv` with everything quoted."""
        assignments = [f"{key}={value}" for key, value in env.items()]
        return f"cd {shlex.quote(cwd)} && " + sh("env", *assignments, *argv)

    # -- files --------------------------------------------------------------
    def sha256s(self, paths: Sequence[str]) -> dict[str, str]:
        """sha256 of the remote files that exist (missing ones are left out)."""
        if not paths:
            return {}
        result = self.run(
            sh("sha256sum", "--", *paths) + " 2>/dev/null || true",
            what="hashing files",
            log_output=False,
        )
        hashes: dict[str, str] = {}
        for line in result.stdout.splitlines():
            digest, _, name = line.partition("  ")
            if name:
                hashes[name] = digest
        return hashes

    def put(self, local: Path, remote: str) -> None:
        assert self.cxn is not None
        self.log.write(f"copy {local.name} -> {remote}")
        self.cxn.put(str(local), remote)

    def read_text(self, remote: str) -> str | None:
        """A small remote file's text, or None when it does not exist."""
        assert self.cxn is not None
        sftp = self.cxn.sftp()
        try:
            with sftp.open(remote, "r") as handle:
                return handle.read().decode("utf-8", errors="replace")
        except OSError:
            return None

    def write_text(self, remote: str, text: str) -> None:
        assert self.cxn is not None
        with self.cxn.sftp().open(remote, "w") as handle:
            handle.write(text.encode())
