"""mobylab.git: one environment, one result, one error shape, on real repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from mobylab import git
from mobylab.errors import SourceError


def test_last_line_is_gits_last_word_without_its_prefix_or_a_password():
    text = "hint: something\nfatal: unable to access 'https://user:token@example.com/x/'\n\n"
    assert git.last_line(text) == "unable to access 'https://***@example.com/x/'"
    assert git.last_line("error: " + "x" * 300) == "x" * 200
    assert git.last_line("  \n") == "no output"


def test_a_failure_says_what_failed_and_what_to_do(tmp_path: Path):
    with pytest.raises(SourceError) as plain:
        git.checked(["rev-parse", "--verify", "HEAD"], tmp_path)
    assert plain.value.message.startswith("git rev-parse failed: ")
    assert "not a git repository" in plain.value.message
    with pytest.raises(git.GitError) as doing:
        git.checked(["log"], tmp_path, doing="reading the history", hint="Clone it first.")
    assert doing.value.message.startswith("reading the history failed: git log: ")
    assert doing.value.hint == "Clone it first."
    assert doing.value.result.returncode != 0 and "\n" not in doing.value.one_line()


def test_output_stays_bytes_and_input_reaches_git(tmp_path: Path):
    git.checked(["init", "-q", str(tmp_path)])
    data = b"caf\xe9 \xff\n"
    blob = git.checked(["hash-object", "-w", "--stdin"], tmp_path, stdin=data).out.strip()
    shown = git.checked(["cat-file", "blob", blob], tmp_path)
    assert shown.stdout == data
    assert "\ufffd" in shown.out


def test_own_repositories_ignore_the_users_configuration(tmp_path: Path, monkeypatch):
    (tmp_path / "gitconfig").write_text("[user]\n\tname = someone else\n[alias]\n\tx = status\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    repo = tmp_path / "repo"
    git.checked(["init", "-q", str(repo)])
    assert git.run(["x"], repo).ok
    assert not git.run(["x"], repo, own=True).ok
    git.checked(["commit", "-q", "--allow-empty", "-m", "one"], repo, own=True)
    author = git.checked(["log", "-1", "--format=%an <%ae>"], repo).out.strip()
    assert author == "mobylab <mobylab@localhost>"
