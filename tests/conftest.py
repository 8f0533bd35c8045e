"""Shared fixtures: a workspace per test, the real engine for engine tests, and the
"nothing lost" guard.

Under CI (CI=true) a test that needs the engine fails when none answers; on a
developer machine it is skipped with the reason.

The guard runs around every engine and SSH test (tests/engine, tests/workshop,
tests/reliability): the engine's objects WITHOUT mobylab's label that existed
before the test must all still be there, unchanged, afterwards, and every state
file the test's workspace holds must still be valid JSON. Under CI (one pytest
process owns the engine) a loss fails the test; elsewhere other people's tests
may share the engine, so a loss is a warning unless MOBYLAB_NOTHING_LOST=strict
(MOBYLAB_NOTHING_LOST=off turns the guard off).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from mobylab.config import merge_settings
from mobylab.engine import DEFAULT_SOCKET, Engine, url_from_host
from mobylab.labels import is_managed
from mobylab.session import Session
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


# ---- nothing lost ----------------------------------------------------------------------------

GUARDED_FOLDERS = ("engine", "workshop", "reliability")
TESTS_ROOT = Path(__file__).resolve().parent


def unmanaged_snapshot(engine: Engine) -> dict[str, dict[str, object]]:
    """The engine's objects without mobylab's label: kind:id -> what identifies it."""
    api = engine.api(timeout=60)
    found: dict[str, dict[str, object]] = {}
    try:
        for item in api.containers(all=True):
            if not is_managed(item.get("Labels")):
                found["container:" + item["Id"]] = {
                    "names": sorted(item.get("Names") or []),
                    "image": item.get("ImageID"),
                }
        for item in api.images():
            tags = sorted(t for t in item.get("RepoTags") or [] if t != "<none>:<none>")
            # Untagged images are build cache: removing a run's tags may prune them.
            if tags and not is_managed(item.get("Labels")):
                found["image:" + item["Id"]] = {"tags": tags}
        for item in api.volumes().get("Volumes") or []:
            if not is_managed(item.get("Labels")):
                found["volume:" + item["Name"]] = {"driver": item.get("Driver")}
        for item in api.networks():
            if not is_managed(item.get("Labels")):
                found["network:" + item["Id"]] = {"name": item.get("Name")}
    finally:
        api.close()
    return found


def losses(before: dict[str, dict[str, object]], after: dict[str, dict[str, object]]) -> list[str]:
    """Pure: what existed before and is gone or changed after (new objects are not losses).

    An image may gain tags (a test tags its own copy) but never lose one.
    """
    lost: list[str] = []
    for key, was in before.items():
        now = after.get(key)
        if now is None:
            lost.append(f"{key} {was} was removed")
        elif key.startswith("image:"):
            missing = set(was["tags"]) - set(now["tags"])  # type: ignore[call-overload]
            if missing:
                lost.append(f"{key} lost the tags {sorted(missing)}")
        elif now != was:
            lost.append(f"{key} changed from {was} to {now}")
    return lost


def invalid_state_files(root: Path) -> list[str]:
    """Every */state/*.json under root that is not valid JSON (a torn or corrupt write)."""
    bad: list[str] = []
    for path in root.rglob("state/*.json"):
        try:
            json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            bad.append(f"{path}: {exc}")
    return bad


def _guard_mode() -> str:
    mode = os.environ.get("MOBYLAB_NOTHING_LOST", "").lower()
    if mode in ("off", "strict", "warn"):
        return mode
    return "strict" if IN_CI else "warn"


def _guarded(request: pytest.FixtureRequest) -> bool:
    try:
        relative = Path(str(request.node.path)).resolve().relative_to(TESTS_ROOT)
    except ValueError:
        return False
    if not relative.parts or relative.parts[0] not in GUARDED_FOLDERS:
        return False
    return bool({"engine", "ssh_farm"} & set(request.fixturenames))


@pytest.fixture(autouse=True)
def nothing_lost(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail (CI) or warn (elsewhere) when a test removed or changed what it did not make."""
    mode = _guard_mode()
    if mode == "off" or not _guarded(request):
        yield
        return
    if "engine" in request.fixturenames:
        engine: Engine = request.getfixturevalue("engine")
    else:
        engine = _host_engine()
        if not engine.ping(timeout=5):
            yield
            return
    test_folder = (
        request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    )
    before = unmanaged_snapshot(engine)
    yield
    problems = losses(before, unmanaged_snapshot(engine))
    if test_folder is not None:
        problems += invalid_state_files(test_folder)
    if not problems:
        return
    message = "nothing lost: " + "; ".join(problems[:10])
    if mode == "strict":
        pytest.fail(message)
    warnings.warn(message, stacklevel=1)
