"""dev.clone against a real local bare repository: clone, fetch, refs, PRs, the local-work guard."""

from __future__ import annotations

from pathlib import Path

import pytest

from mobylab.dev.source import clone, load_checkout
from mobylab.errors import SourceError, UsageError
from mobylab.workspace import Workspace
from tests.fixtures.enginesrc import Remote, git, make_remote


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    return make_remote(tmp_path / "remote", "2017", pr=7)


def _head(path: Path) -> str:
    return git(path, "rev-parse", "HEAD")


def test_clone_master_shallow_and_recorded(workspace: Workspace, remote: Remote):
    record = clone(workspace, remote.url, "master")
    checkout = Path(record.path)
    assert checkout == workspace.checkouts / "upstream"
    assert _head(checkout) == remote.master == record.commit
    assert record.branch == "master"
    assert record.shallow
    assert git(checkout, "rev-list", "--count", "HEAD") == "1"
    assert (checkout / "Makefile").is_file()
    saved = load_checkout(workspace)
    assert saved is not None
    assert (saved.repo, saved.ref, saved.commit) == (remote.url, "master", remote.master)


def test_second_clone_fetches_into_the_same_checkout(workspace: Workspace, remote: Remote):
    first = clone(workspace, remote.url, "master")
    marker = Path(first.path) / ".git" / "kept-by-fetch"
    marker.write_text("x")
    (remote.work / "MORE").write_text("more\n")
    git(remote.work, "add", "MORE")
    git(remote.work, "commit", "-q", "-m", "more")
    git(remote.work, "push", "-q", str(remote.bare), "master")
    second = clone(workspace, remote.url, "master")
    assert second.path == first.path
    assert marker.exists()
    assert second.commit == _head(remote.work) != first.commit
    assert (Path(second.path) / "MORE").is_file()


def test_full_history(workspace: Workspace, remote: Remote):
    record = clone(workspace, remote.url, "master", full=True)
    assert not record.shallow
    assert int(git(Path(record.path), "rev-list", "--count", "HEAD")) == 2


def test_a_shallow_checkout_deepens_with_full(workspace: Workspace, remote: Remote):
    clone(workspace, remote.url, "master")
    record = clone(workspace, remote.url, "master", full=True)
    assert not record.shallow


def test_local_path_tag_branch_and_sha(workspace: Workspace, remote: Remote):
    tag = clone(workspace, str(remote.bare), "v17.05.0-ce")
    assert tag.commit == remote.tag_commit
    assert tag.branch is None  # detached at the tag
    branch = clone(workspace, str(remote.bare), remote.branch)
    assert branch.commit == remote.branch_commit
    assert git(Path(branch.path), "symbolic-ref", "--short", "HEAD") == remote.branch
    by_sha = clone(workspace, remote.url, remote.tag_commit)
    assert by_sha.commit == remote.tag_commit and by_sha.branch is None
    short = clone(workspace, remote.url, remote.branch_commit[:10])
    assert short.commit == remote.branch_commit


def test_a_short_sha_only_a_mirror_ref_reaches(workspace: Workspace, remote: Remote):
    """A repository on this machine names a short SHA's commit even when no branch or
    tag reaches it (a mirror keeps such commits under refs of its own)."""
    (remote.work / "HIDDEN").write_text("hidden\n")
    git(remote.work, "add", "HIDDEN")
    git(remote.work, "commit", "-q", "-m", "hidden")
    hidden = _head(remote.work)
    git(remote.work, "push", "-q", str(remote.bare), "HEAD:refs/mirror/hidden")
    record = clone(workspace, remote.url, hidden[:10])
    assert record.commit == hidden
    assert (Path(record.path) / "HIDDEN").is_file()


def test_a_failed_first_clone_leaves_no_checkout(workspace: Workspace, remote: Remote):
    with pytest.raises(SourceError, match="no branch, tag or commit"):
        clone(workspace, remote.url, "abcdef1234")
    assert not (workspace.checkouts / "upstream").exists()
    assert clone(workspace, remote.url, "master").commit == remote.master


def test_pull_request(workspace: Workspace, remote: Remote):
    record = clone(workspace, remote.url, None, pr=7)
    assert record.commit == remote.pr_commit
    assert record.branch == "pr-7"
    assert record.ref == "pull/7"
    assert (Path(record.path) / "PR").read_text() == "pull request 7\n"


def test_unknown_ref_and_pr_are_one_line_errors(workspace: Workspace, remote: Remote):
    with pytest.raises(SourceError) as info:
        clone(workspace, remote.url, "no-such-branch")
    assert "unknown ref 'no-such-branch'" in info.value.one_line()
    with pytest.raises(SourceError, match="pull request #99 is not in"):
        clone(workspace, remote.url, None, pr=99)
    with pytest.raises(SourceError, match="no branch, tag or commit"):
        clone(workspace, remote.url, "abcdef1234")


def test_bad_arguments_stop_before_git(workspace: Workspace, remote: Remote, tmp_path: Path):
    marker = tmp_path / "x"
    with pytest.raises(UsageError):
        clone(workspace, remote.url, f"master;touch {marker}")
    with pytest.raises(UsageError):
        clone(workspace, remote.url, None, pr="-1")
    with pytest.raises(UsageError):
        clone(workspace, f"-u{marker}", "master")
    with pytest.raises(UsageError, match="no such folder"):
        clone(workspace, str(tmp_path / "missing"), "master")
    assert not marker.exists()
    assert not (workspace.root / "checkouts" / "upstream").exists()


def test_not_a_repository(workspace: Workspace, tmp_path: Path):
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(SourceError, match="is not a git repository"):
        clone(workspace, str(plain), "master")


def test_checkout_folder_that_is_not_git_is_left_alone(workspace: Workspace, remote: Remote):
    folder = workspace.checkouts / "upstream"
    folder.mkdir(parents=True)
    (folder / "mine.txt").write_text("keep me\n")
    with pytest.raises(SourceError, match="exists but is not a git repository"):
        clone(workspace, remote.url, "master")
    assert sorted(p.name for p in folder.iterdir()) == ["mine.txt"]


def test_dirty_tree_is_refused_then_forced(workspace: Workspace, remote: Remote, capsys):
    record = clone(workspace, remote.url, "master")
    checkout = Path(record.path)
    (checkout / "Makefile").write_text("edited\n")
    (checkout / "notes.txt").write_text("mine\n")
    with pytest.raises(SourceError) as info:
        clone(workspace, remote.url, "v17.05.0-ce")
    assert "has local work (2 changed files)" in info.value.one_line()
    assert "--force" in info.value.one_line()
    assert (checkout / "Makefile").read_text() == "edited\n"
    assert _head(checkout) == remote.master
    capsys.readouterr()
    forced = clone(workspace, remote.url, "v17.05.0-ce", force=True)
    err = capsys.readouterr().err
    assert "uncommitted changes that will be lost:" in err
    assert "M Makefile" in err and "?? notes.txt" in err
    assert forced.commit == remote.tag_commit
    assert not (checkout / "notes.txt").exists()


def test_unpushed_commit_is_refused_then_forced(workspace: Workspace, remote: Remote, capsys):
    record = clone(workspace, remote.url, "master")
    checkout = Path(record.path)
    (checkout / "WIP").write_text("wip\n")
    git(checkout, "add", "WIP")
    git(checkout, "commit", "-q", "-m", "work in progress")
    wip = git(checkout, "rev-parse", "--short", "HEAD")
    with pytest.raises(SourceError, match="1 commit not on any remote"):
        clone(workspace, remote.url, "master")
    assert _head(checkout) != remote.master
    capsys.readouterr()
    clone(workspace, remote.url, "master", force=True)
    err = capsys.readouterr().err
    assert "commits that will be lost (not on any remote):" in err
    assert f"{wip} work in progress" in err
    assert _head(checkout) == remote.master


def test_commits_kept_on_another_branch_are_not_at_risk(workspace: Workspace, remote: Remote):
    record = clone(workspace, remote.url, "master")
    checkout = Path(record.path)
    git(checkout, "checkout", "-q", "-b", "my-feature")
    (checkout / "FEATURE2").write_text("x\n")
    git(checkout, "add", "FEATURE2")
    git(checkout, "commit", "-q", "-m", "kept")
    # Checking out master leaves my-feature (and its commit) where it is.
    again = clone(workspace, remote.url, "master")
    assert again.commit == remote.master
    assert git(checkout, "log", "--format=%s", "-1", "my-feature") == "kept"
