"""Workspace files are written whole or not at all, and a full disk is one clear error."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mobylab.errors import WorkspaceError
from mobylab.workspace import Workspace, read_json, write_atomic, write_json


def test_write_atomic_replaces_content_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "file.txt"
    write_atomic(target, "one")
    write_atomic(target, b"two", mode=0o600)
    assert target.read_text() == "two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["file.txt"]


def test_json_round_trip_and_defaults(tmp_path: Path) -> None:
    write_json(tmp_path / "a.json", {"b": [1, 2]})
    assert read_json(tmp_path / "a.json") == {"b": [1, 2]}
    assert read_json(tmp_path / "missing.json", {"d": 1}) == {"d": 1}
    (tmp_path / "bad.json").write_text("{not json")
    assert read_json(tmp_path / "bad.json", []) == []


def test_state_is_private(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "ws")
    workspace.save_state("thing", {"pid": 1})
    assert workspace.load_state("thing") == {"pid": 1}
    assert stat.S_IMODE(workspace.state.stat().st_mode) == 0o700
    assert stat.S_IMODE(workspace.state_file("thing").stat().st_mode) == 0o600
    workspace.drop_state("thing")
    workspace.drop_state("thing")
    assert workspace.load_state("thing", "gone") == "gone"


def test_folders_are_made_on_demand(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "ws")
    for folder in (workspace.logs, workspace.reports, workspace.cache, workspace.checkouts):
        assert folder.is_dir() and folder.parent == workspace.root


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 kB tmpfs, so that a write runs out of space for real."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    mountpoint = tmp_path / f"tiny-{uuid.uuid4().hex[:6]}"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", str(mountpoint)], check=False)


def test_a_full_disk_is_one_error_and_keeps_the_old_file(tiny_tmpfs: Path) -> None:
    target = tiny_tmpfs / "state.json"
    write_atomic(target, "old")
    with pytest.raises(WorkspaceError) as caught:
        write_atomic(target, b"x" * (512 * 1024))
    assert "no space left" in caught.value.one_line()
    assert "MOBYLAB_WORKSPACE" in caught.value.one_line()
    assert target.read_text() == "old"
    assert [p.name for p in tiny_tmpfs.iterdir()] == ["state.json"]


def test_a_read_only_place_is_one_error(tiny_tmpfs: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_tmpfs)], check=True)
    with pytest.raises(WorkspaceError, match="cannot write"):
        write_atomic(tiny_tmpfs / "x", "data")
