"""Helpers for the reliability suite: run mobylab as a user does, and see what changed.

Every task here runs as a child process (`python -m invoke -r REPO TASK ...`)
with its own workspace in a temporary folder, no terminal and CI=true, exactly
as a user or a CI job starts it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mobylab.engine import Engine
from mobylab.labels import MANAGED_FILTER
from tests.conftest import _guard_mode
from tests.fixtures.cli import invoke_argv

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def owns_engine() -> bool:
    """Whether this test process is alone on the engine (CI), so that exact before/after
    comparisons of mobylab's objects hold; MOBYLAB_NOTHING_LOST=warn says it is shared."""
    return _guard_mode() == "strict"


@dataclass
class TaskResult:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


@dataclass
class UserCli:
    """`invoke TASK ...` in a workspace of its own, as a user types it."""

    workspace: Path
    env: dict[str, str] = field(default_factory=dict)

    def __call__(
        self,
        *args: str,
        timeout: float = 300,
        env: Mapping[str, str] | None = None,
        config: Path | None = None,
    ) -> TaskResult:
        argv = invoke_argv(*args, config=config)
        full_env = {
            **os.environ,
            "CI": "true",
            "COLUMNS": "250",
            "MOBYLAB_WORKSPACE": str(self.workspace),
            **self.env,
            **(env or {}),
        }
        self.workspace.parent.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            argv, env=full_env, cwd=self.workspace.parent, capture_output=True, text=True,
            timeout=timeout, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        return TaskResult(argv, done.returncode, done.stdout, done.stderr)


@pytest.fixture
def user(tmp_path: Path) -> UserCli:
    return UserCli(tmp_path / "ws")


def assert_refused(result: TaskResult, *names: str, code: int | None = 2) -> str:
    """A one-line `error:` naming the argument, a non-zero exit and no traceback."""
    assert result.returncode != 0, result.output
    if code is not None:
        assert result.returncode == code, result.output
    assert "Traceback" not in result.output, result.output
    lines = result.error_lines()
    errors = [line for line in lines if line.startswith("error: ")]
    # Progress lines (`==> checking ...`) may come first; the error is one line, the last.
    assert len(errors) == 1 and lines[-1] == errors[0], result.output
    for name in names:
        assert name.lower() in errors[0].lower(), (name, errors[0])
    return errors[0]


def tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under root with its mode and size: "nothing created" compares two of these."""
    if not root.exists():
        return {}
    found: dict[str, tuple[int, int]] = {}
    for path in sorted(root.rglob("*")):
        stat = path.lstat()
        found[str(path.relative_to(root))] = (stat.st_mode, stat.st_size)
    return found


def managed_objects(engine: Engine) -> set[str]:
    """The engine's containers, volumes and networks that carry mobylab's label."""
    api = engine.api(timeout=60)
    try:
        found = {"container:" + c["Id"] for c in api.containers(all=True, filters=MANAGED_FILTER)}
        volumes = api.volumes(filters=MANAGED_FILTER).get("Volumes") or []
        found |= {"volume:" + v["Name"] for v in volumes}
        found |= {"network:" + n["Id"] for n in api.networks(filters=MANAGED_FILTER)}
        found |= {"image:" + i["Id"] for i in api.images(filters=MANAGED_FILTER)}
    finally:
        api.close()
    return found
