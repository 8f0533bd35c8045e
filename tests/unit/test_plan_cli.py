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


def test_plan_table_fits_80_columns_without_losing_a_character(tmp_path: Path):
    source = make_engine_source(tmp_path / "engine", "2017", branch="master")
    args = ("dev.plan", "--checkout", str(source.path))
    path = json.loads(run_task(tmp_path / "ws", *args, "--json").stdout)["container_path"]
    table = run_task(tmp_path / "ws", *args, env={"COLUMNS": "80"})
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines and all(len(line) <= 80 for line in lines)
    cells = [[cell.strip() for cell in line.split("│")[1:-1]] for line in lines if "│" in line]
    # No header row: the first row is the checkout's.
    assert cells[0][0] == "checkout"
    start = next(i for i, (key, _) in enumerate(cells) if key == "PATH in docker-dev")
    wrapped = [cells[start][1]]
    for key, value in cells[start + 1 :]:
        if key:
            break
        wrapped.append(value)
    assert "".join(wrapped) == path
