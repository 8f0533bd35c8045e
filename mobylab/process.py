"""All child processes start here: argument lists only, live lines, logs, Ctrl-C.

Commands are never shell strings built from user input. Each child runs in its
own process group so that Ctrl-C stops the whole tree it started. SIGTERM and
SIGHUP stop a task the way Ctrl-C does (`stopped_like_ctrl_c`).
"""

from __future__ import annotations

import collections
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

from .errors import Interrupted, MobylabError

LineHandler = Callable[[str], None]

#: Packages that provide the programs mobylab runs, for the "not installed" hint.
PROVIDERS = {
    "docker": "docker.io (apt-get install docker.io)",
    "dockerd": "docker.io (apt-get install docker.io)",
    "git": "git (apt-get install git)",
    "make": "make (apt-get install make)",
    "debootstrap": "debootstrap (apt-get install debootstrap)",
    "sshd": "openssh-server (apt-get install openssh-server)",
}


@dataclass
class Completed:
    argv: list[str]
    returncode: int
    tail: list[str] = field(default_factory=list)
    seconds: float = 0.0
    log: Path | None = None

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def output(self) -> str:
        return "\n".join(self.tail)


#: Signals that stop a task as Ctrl-C does: a closed terminal (SIGHUP); `kill`,
#: `timeout`, a CI time limit or a service manager (SIGTERM).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


@dataclass
class StopSignal:
    """The signal that stopped a task: SIGINT (Ctrl-C) unless SIGTERM or SIGHUP came."""

    signum: int = signal.SIGINT

    @property
    def exit_code(self) -> int:
        """What a shell reports for it: 130, 143 or 129."""
        return 128 + self.signum


@contextmanager
def stopped_like_ctrl_c() -> Iterator[StopSignal]:
    """While the body runs, SIGTERM and SIGHUP unwind it as Ctrl-C does.

    The SIGINT handler in force runs (dev.build's removes its build container
    first), then KeyboardInterrupt: every `except KeyboardInterrupt` removes what
    it started, as for Ctrl-C. The first stop signal counts; later ones are ignored
    so that the cleanup they started can finish. Only the main thread receives
    signals, so elsewhere this does nothing.
    """
    stop = StopSignal()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def on_stop(signum: int, frame: FrameType | None) -> None:
        if stop.signum != signal.SIGINT:
            return
        stop.signum = signum
        on_ctrl_c = signal.getsignal(signal.SIGINT)
        if callable(on_ctrl_c):
            on_ctrl_c(signal.SIGINT, frame)
        raise KeyboardInterrupt

    previous = {signum: signal.signal(signum, on_stop) for signum in STOP_SIGNALS}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def pid_alive(pid: int) -> bool:
    """Whether a process of that id runs (someone else's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def require(program: str) -> str:
    """The full path of `program`, or an error naming the package that provides it."""
    path = shutil.which(program)
    if path is None:
        provider = PROVIDERS.get(program, program)
        raise MobylabError(f"{program} is not installed", f"Install {provider}.")
    return path


def _prepared(
    argv: Sequence[str | Path], env: Mapping[str, str] | None
) -> tuple[list[str], dict[str, str]]:
    """argv as strings (its program found in PATH, or a clear error) and the full environment."""
    words = [str(a) for a in argv]
    if os.sep not in words[0]:
        require(words[0])
    return words, {**os.environ, **(env or {})}


def _terminate(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """Stop a child and its process group: SIGINT, then SIGTERM, then SIGKILL.

    The group, not only the child: a grandchild that outlives it (a `docker run` that
    passes the signal to its container instead of exiting) would hold its output open.
    """
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            proc.poll()  # reaps the child: a zombie would keep the group alive
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    log: Path | None = None,
    on_line: LineHandler | None = None,
    timeout: float | None = None,
    stdin: bytes | None = None,
    tail_lines: int = 40,
) -> Completed:
    """Run argv, merging stdout and stderr, line by line to `on_line` and `log`.

    Never raises for a non-zero exit: callers decide what a failure means.
    Ctrl-C stops the child's whole process group and raises Interrupted; so does
    `timeout`, which raises MobylabError, even for a child that prints nothing.
    """
    argv, full_env = _prepared(argv, env)
    tail: collections.deque[str] = collections.deque(maxlen=tail_lines)
    log_handle: IO[str] | None = None
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log_handle = log.open("a", encoding="utf-8", errors="replace")
    started = time.monotonic()
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=full_env,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    # The time limit stops the whole group, so a grandchild holding the output open
    # (a `docker run` that ignores SIGTERM) cannot outlive it.
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        _terminate(proc)

    watchdog = threading.Timer(timeout, expire) if timeout else None
    try:
        if watchdog is not None:
            watchdog.daemon = True
            watchdog.start()
        if stdin is not None and proc.stdin is not None:
            proc.stdin.write(stdin)
            proc.stdin.close()
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            tail.append(line)
            if log_handle:
                log_handle.write(line + "\n")
                log_handle.flush()
            if on_line:
                on_line(line)
        returncode = proc.wait()
        if expired.is_set():
            raise MobylabError(
                f"{Path(argv[0]).name} took longer than {timeout:.0f}s and was stopped",
                f"See {log}." if log else "",
            )
    except KeyboardInterrupt:
        _terminate(proc)
        raise Interrupted(
            f"interrupted while running {Path(argv[0]).name}", f"Its log is {log}." if log else ""
        ) from None
    finally:
        if watchdog is not None:
            watchdog.cancel()
        if proc.poll() is None:
            _terminate(proc)
        if log_handle:
            log_handle.close()
    return Completed(argv, returncode, list(tail), time.monotonic() - started, log)


def capture(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    timeout: float = 60.0,
    stdin: bytes | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a short command and capture its output as text (no streaming)."""
    done = capture_bytes(argv, env=env, cwd=cwd, timeout=timeout, stdin=stdin)
    return subprocess.CompletedProcess(
        done.args, done.returncode, _text(done.stdout), _text(done.stderr)
    )


def _text(data: bytes) -> str:
    """Bytes a program wrote as text: UTF-8 (a stray byte shown, not fatal), newlines as \\n."""
    return data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")


def capture_bytes(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    timeout: float = 60.0,
    stdin: bytes | None = None,
    timeout_hint: str = "Check that the engine or the service it talks to answers.",
) -> subprocess.CompletedProcess[bytes]:
    """Run a short command and capture its output as bytes (no streaming)."""
    argv, full_env = _prepared(argv, env)
    try:
        return subprocess.run(
            argv,
            cwd=cwd,
            env=full_env,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise MobylabError(
            f"{Path(argv[0]).name} did not finish within {timeout:.0f}s", timeout_hint
        ) from None


def start_detached(argv: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
    """Start a long-lived program (a daemon) in a session of its own, its output appended
    to `log`: Ctrl-C in the terminal never reaches it, and it outlives this process."""
    return _start_logged(argv, log, subprocess.DEVNULL)


def start_tethered(argv: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
    """Start a long-lived helper (an SSH connection) that ends with this process.

    Its session is its own, so Ctrl-C in the terminal does not stop it before this
    process is done with it; its stdin is a pipe only this process holds, so when this
    process ends, even killed, the helper reads end-of-file and ends too.
    """
    return _start_logged(argv, log, subprocess.PIPE)


def _start_logged(argv: Sequence[str], log: Path, stdin: int) -> subprocess.Popen[bytes]:
    argv, full_env = _prepared(argv, None)
    with log.open("ab") as handle:
        return subprocess.Popen(
            argv, env=full_env, stdin=stdin, stdout=handle, stderr=handle, start_new_session=True
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a helper started by start_tethered, and its process group."""
    if proc.stdin is not None:
        with suppress(OSError):
            proc.stdin.close()
    _terminate(proc, grace=2.0)
    proc.wait()


def interactive(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> int:
    """Run a program on this terminal until it exits (a shell); its exit status.

    Ctrl-C belongs to the program (it stops what runs there): this process ignores
    SIGINT while it runs, set only after it started so that the program and what it
    runs keep the default. `env` is its whole environment.
    """
    argv, _ = _prepared(argv, None)
    proc = subprocess.Popen(argv, cwd=cwd, env=dict(env))
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return proc.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
        if proc.poll() is None:
            # SIGTERM stopped this process: the program goes as with a closed terminal.
            proc.send_signal(signal.SIGHUP)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
