"""Nothing lost: the guard's own logic, and a checkout with local work is never reset by
any dev.clone a user may type without --force."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import invalid_state_files, losses
from tests.reliability.conftest import UserCli


def test_removed_and_changed_objects_are_losses_new_ones_are_not() -> None:
    before = {
        "container:a": {"names": ["/web"], "image": "sha256:1"},
        "image:x": {"tags": ["app:1", "app:latest"]},
        "volume:data": {"driver": "local"},
    }
    after = {
        "container:a": {"names": ["/renamed"], "image": "sha256:1"},
        "image:x": {"tags": ["app:1", "app:2"]},
        "network:new": {"name": "n"},
    }
    found = losses(before, after)
    assert len(found) == 3
    assert any("container:a changed" in f for f in found)
    assert any("lost the tags ['app:latest']" in f for f in found)
    assert any("volume:data" in f and "removed" in f for f in found)
    assert losses(before, before) == []


def test_state_files_that_are_not_json_are_reported(tmp_path: Path) -> None:
    (tmp_path / "ws" / "state").mkdir(parents=True)
    (tmp_path / "ws" / "state" / "good.json").write_text("{}")
    (tmp_path / "ws" / "state" / "torn.json").write_text('{"pid": 12')
    assert [p.split(":")[0] for p in invalid_state_files(tmp_path)] == [
        str(tmp_path / "ws" / "state" / "torn.json")
    ]


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return done.stdout.strip()


@pytest.fixture
def upstream(tmp_path: Path) -> Path:
    repo = tmp_path / "upstream"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "master")
    (repo / "engine.go").write_text("package main\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "one")
    _git(repo, "tag", "v1")
    (repo / "engine.go").write_text("package main // two\n")
    _git(repo, "commit", "-qam", "two")
    _git(repo, "update-ref", "refs/pull/7/head", "HEAD~1")
    return repo


def test_local_work_survives_every_clone_without_force(user: UserCli, upstream: Path) -> None:
    assert user("dev.clone", "--repo", str(upstream), timeout=120).returncode == 0
    checkout = next(p for p in (user.workspace / "checkouts").iterdir() if p.is_dir())
    (checkout / "engine.go").write_text("my edit\n")
    (checkout / "notes.txt").write_text("untracked work\n")
    head = _git(checkout, "rev-parse", "HEAD")
    for args in (
        [],
        ["--ref", "v1"],
        ["--pr", "7"],
        ["--ref", "master", "--full"],
        ["--ref", "x;touch y"],
    ):
        result = user("dev.clone", "--repo", str(upstream), *args, timeout=120)
        assert "Traceback" not in result.output
        assert (checkout / "engine.go").read_text() == "my edit\n", args
        assert (checkout / "notes.txt").read_text() == "untracked work\n", args
    assert _git(checkout, "rev-parse", "HEAD") == head
