"""dev.build and dev.bundles errors that need no engine."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.fixtures.cli import run_task
from tests.fixtures.enginesrc import make_engine_source
from tests.unit.test_source_cli import one_error_line


def test_bundles_before_any_build(tmp_path: Path):
    result = run_task(tmp_path / "ws", "dev.bundles")
    assert result.returncode == 1
    assert "no build yet" in one_error_line(result.stderr)


def test_make_missing_is_one_line(tmp_path: Path):
    source = make_engine_source(tmp_path / "engine", "today")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    git = shutil.which("git")
    assert git is not None
    os.symlink(git, bin_dir / "git")
    result = run_task(
        tmp_path / "ws", "dev.build", "--checkout", str(source.path), env={"PATH": str(bin_dir)}
    )
    assert result.returncode == 1
    assert "make is not installed" in one_error_line(result.stderr)


def test_unknown_target(tmp_path: Path):
    source = make_engine_source(tmp_path / "engine", "today")
    result = run_task(
        tmp_path / "ws", "dev.build", "--checkout", str(source.path), "--target", "tgz"
    )
    assert result.returncode == 2
    assert "no target 'tgz'" in one_error_line(result.stderr)
