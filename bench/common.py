"""What several benchmarks share: running tasks as a user does, scratch folders, cleanup."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[1]
SCRATCH_PREFIX = "mobylab-bench-"
# Label of everything the by-hand sides create, so cleanup finds only that.
BENCH_COMPONENT = "bench"


class BenchError(RuntimeError):
    """A side of a benchmark did not do what it should (its output is in the message)."""


# The shared engine's default bridge can vanish for a moment when another daemon on
# the machine starts or stops: containers on it then fail to start, whoever runs them.
HICCUPS = ("could not find bridge docker0", "failed to create endpoint")


def engine_hiccup(exc: BaseException) -> bool:
    """Whether a failure came from the shared engine, not from the side itself."""
    return any(marker in str(exc) for marker in HICCUPS)


DOCKER0 = Path("/sys/class/net/docker0")


def wait_for_bridge(timeout: float = 300.0) -> bool:
    """Wait until the default bridge exists again (another daemon on the machine
    removed it; the engine makes it again when it restarts). True when it is there."""
    deadline = time.monotonic() + timeout
    while not DOCKER0.exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(2)
    return True


def retrying(action: Callable[[], T], attempts: int = 4) -> T:
    """Run an untimed step (a setup), again after an engine hiccup."""
    for _ in range(attempts - 1):
        try:
            return action()
        except BenchError as exc:
            if not engine_hiccup(exc):
                raise
            wait_for_bridge()
    return action()


def scratch(name: str) -> Path:
    """A new scratch folder for one benchmark (removed by its teardown)."""
    return Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{name}-"))


def task_argv(*args: str) -> list[str]:
    """`python -m invoke -r <clone> TASK ...`, as the README tells a user."""
    return [sys.executable, "-m", "invoke", "-r", str(ROOT), *args]


def run_task(
    workspace: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 1800,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a mobylab task as a user would, without a terminal, in `workspace`."""
    return run_quiet(
        task_argv(*args),
        env={"MOBYLAB_WORKSPACE": str(workspace), **(env or {})},
        timeout=timeout,
        check=check,
    )


def run_quiet(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 1800,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a program with captured output; raise BenchError with its tail when it fails."""
    merged = {**os.environ, "COLUMNS": "200", **(env or {})}
    merged.pop("CI", None)  # a user's shell, not the test suite's
    result = subprocess.run(
        list(argv),
        env=merged,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise BenchError(f"{' '.join(argv[:6])} ... exited {result.returncode}:\n{tail}")
    return result


def host_engine() -> Any:
    """The host's engine, as mobylab resolves it for a task."""
    from mobylab.engine import DEFAULT_SOCKET, Engine, url_from_host

    return Engine(url_from_host(os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET))


def remove_labelled_images(label: str) -> int:
    """Remove the images carrying `label` (KEY=VALUE) and mobylab's managed label."""
    from mobylab import labels

    client = host_engine().client(timeout=300)
    removed = 0
    try:
        found = client.images.list(filters={"label": [label, f"{labels.MANAGED}=true"]})
        # Children first: the newest images are built on the older ones.
        for image in sorted(found, key=lambda i: i.attrs.get("Created", ""), reverse=True):
            if not labels.is_managed(image.labels):
                continue
            try:
                client.images.remove(image.id, force=True)
                removed += 1
            except Exception:  # already gone with a parent, or in use: leave it
                pass
    finally:
        client.close()
    return removed


def remove_folder(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
