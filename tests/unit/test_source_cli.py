"""dev.clone as a user runs it: one-line errors and exit codes, nothing run on bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.cli import run_task
from tests.fixtures.enginesrc import Remote, make_remote


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    return make_remote(tmp_path / "remote", "today", pr=12)


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--ref", "master;touch {marker}"], "invalid ref"),
        (["--ref", "$(touch {marker})"], "invalid ref"),
        (["--ref", "../../etc"], "invalid ref"),
        (["--ref=-x"], "starts with '-'"),
        (["--pr=-1"], "positive integer"),
        (["--pr", "abc"], "positive integer"),
        (["--repo", "{missing}"], "no such folder"),
        (["--repo", "ftp://example.org/moby"], "scheme 'ftp'"),
        (["--repo=-u{marker}"], "starts with '-'"),
    ],
)
def test_bad_arguments(tmp_path: Path, remote: Remote, args, expected):
    marker = tmp_path / "marker"
    filled = [a.format(marker=marker, missing=tmp_path / "missing") for a in args]
    if not any(a.startswith("--repo") for a in filled):
        filled = ["--repo", remote.url, *filled]
    result = run_task(tmp_path / "ws", "dev.clone", *filled)
    assert result.returncode == 2, result.stderr
    assert expected in one_error_line(result.stderr)
    assert not marker.exists()
    assert not (tmp_path / "ws" / "checkouts" / "upstream").exists()


def test_clone_then_unknown_ref(tmp_path: Path, remote: Remote):
    ok = run_task(tmp_path / "ws", "dev.clone", "--repo", remote.url)
    assert ok.returncode == 0, ok.stderr
    assert f"checked out master at {remote.master[:12]} (branch master)" in ok.stderr
    pr = run_task(tmp_path / "ws", "dev.clone", "--repo", str(remote.bare), "--pr", "12")
    assert pr.returncode == 0, pr.stderr
    assert "(branch pr-12)" in pr.stderr
    bad = run_task(tmp_path / "ws", "dev.clone", "--repo", remote.url, "--ref", "nope")
    assert bad.returncode == 1
    assert "unknown ref 'nope'" in one_error_line(bad.stderr)


def test_clone_refuses_local_work(tmp_path: Path, remote: Remote):
    assert run_task(tmp_path / "ws", "dev.clone", "--repo", remote.url).returncode == 0
    (tmp_path / "ws" / "checkouts" / "upstream" / "Makefile").write_text("mine\n")
    refused = run_task(tmp_path / "ws", "dev.clone", "--repo", remote.url)
    assert refused.returncode == 1
    line = one_error_line(refused.stderr)
    assert "has local work (1 changed file)" in line and "--force" in line
    forced = run_task(tmp_path / "ws", "dev.clone", "--repo", remote.url, "--force")
    assert forced.returncode == 0, forced.stderr
    assert "M Makefile" in forced.stderr
