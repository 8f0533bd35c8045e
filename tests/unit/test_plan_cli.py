"""dev.plan as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fixtures.cli import run_task
from tests.fixtures.enginesrc import make_engine_source
from tests.unit.test_source_cli import one_error_line


def test_plan_json_and_table(tmp_path: Path):
    source = make_engine_source(tmp_path / "engine", "2017", branch="master")
    result = run_task(tmp_path / "ws", "dev.plan", "--checkout", str(source.path), "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert (plan["era"], plan["target"], plan["dev_image"]) == (
        "2017-tgz",
        "tgz",
        "docker-dev:master",
    )
    table = run_task(tmp_path / "ws", "dev.plan", "--checkout", str(source.path))
    assert table.returncode == 0, table.stderr
    assert "make BIND_DIR=bundles tgz" in table.stdout


def test_plan_errors(tmp_path: Path):
    none = run_task(tmp_path / "ws", "dev.plan")
    assert none.returncode == 1
    assert "no engine checkout yet" in one_error_line(none.stderr)
    plain = tmp_path / "plain"
    plain.mkdir()
    result = run_task(tmp_path / "ws", "dev.plan", "--checkout", str(plain))
    assert result.returncode == 1
    assert "is not a git checkout" in one_error_line(result.stderr)
