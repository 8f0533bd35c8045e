"""Shared fixtures: a workspace per test, and the real engine for engine tests.

Under CI (CI=true) a test that needs the engine fails when none answers; on a
developer machine it is skipped with the reason.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mobylab.config import merge_settings
from mobylab.engine import DEFAULT_SOCKET, Engine, url_from_host
from mobylab.tasks.base import Session
from mobylab.workspace import Workspace

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _host_engine() -> Engine:
    url = url_from_host(os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET)
    return Engine(url)


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "ws")


@pytest.fixture
def session(workspace: Workspace) -> Session:
    return Session(merge_settings({"workspace": str(workspace.root)}, environ={}))


@pytest.fixture(scope="session")
def engine() -> Engine:
    """The machine's running Docker engine (started by .ci/run in CI)."""
    candidate = _host_engine()
    if not candidate.ping(timeout=10):
        message = f"no Docker engine answers at {candidate.url}"
        if IN_CI:
            pytest.fail(message + " (CI needs one: .ci/run starts it)")
        pytest.skip(message)
    return candidate
