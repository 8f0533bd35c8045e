"""The build copy: a clone of the user's checkout at its commit, with their local changes laid
on top, made without writing anything in the checkout. Real git repositories throughout."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from mobylab.dev.buildcopy import prepare
from mobylab.errors import SourceError
from tests.fixtures.enginesrc import EngineSource, git, make_engine_source


def snapshot(root: Path) -> dict[str, tuple[str, int, int]]:
    """Every file under `root`, .git included: path -> (sha256, mode, mtime_ns)."""
    found: dict[str, tuple[str, int, int]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        stat = path.stat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        found[str(path.relative_to(root))] = (digest, stat.st_mode, stat.st_mtime_ns)
    return found


def work_files(root: Path) -> dict[str, bytes]:
    """The work tree's files (not .git): path -> content."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


@pytest.fixture
def source(tmp_path: Path) -> EngineSource:
    return make_engine_source(tmp_path / "checkout", "today")


def test_a_clean_checkout(tmp_path: Path, source: EngineSource):
    dest = tmp_path / "builds" / "src"
    copy = prepare(source.path, dest, source.commit)
    assert copy.path == dest
    assert copy.commit == source.commit
    assert (copy.dirty, copy.changes_sha256, copy.fixes) == (False, "", ())
    assert git(dest, "rev-parse", "HEAD") == source.commit
    assert work_files(dest) == work_files(source.path)
    assert git(dest, "status", "--porcelain") == ""


def test_the_checkout_is_left_untouched(tmp_path: Path, source: EngineSource):
    (source.path / "hack/make/binary").write_text("# changed by the user\n")
    (source.path / "notes.txt").write_text("untracked\n")
    git(source.path, "add", "notes.txt")
    (source.path / "scratch.txt").write_text("not added\n")
    status = git(source.path, "status", "--porcelain", "--untracked-files=all")
    before = snapshot(source.path)
    prepare(source.path, tmp_path / "copy", source.commit)
    assert snapshot(source.path) == before
    assert git(source.path, "status", "--porcelain", "--untracked-files=all") == status


def test_local_changes_are_laid_on_top(tmp_path: Path, source: EngineSource):
    checkout = source.path
    (checkout / "hack/make/binary").write_text("# the user's own binary bundle\n")
    (checkout / "hack/dind").unlink()
    (checkout / "STAGED").write_text("staged, not committed\n")
    git(checkout, "add", "STAGED")
    (checkout / "daemon" / "new feature").mkdir(parents=True)
    (checkout / "daemon" / "new feature" / "x.go").write_text("package feature\n")
    (checkout / "logo.bin").write_bytes(bytes(range(256)))
    # Ignored files (bundles/ is in .gitignore) stay out of the copy.
    (checkout / "bundles").mkdir()
    (checkout / "bundles" / "dockerd").write_bytes(b"\x7fELF old build")
    dest = tmp_path / "copy"
    copy = prepare(checkout, dest, source.commit)
    assert copy.dirty
    assert len(copy.changes_sha256) == 64
    assert (dest / "hack/make/binary").read_text() == "# the user's own binary bundle\n"
    assert not (dest / "hack/dind").exists()
    assert (dest / "STAGED").read_text() == "staged, not committed\n"
    assert (dest / "daemon" / "new feature" / "x.go").read_text() == "package feature\n"
    assert (dest / "logo.bin").read_bytes() == bytes(range(256))
    assert not (dest / "bundles").exists()
    # The copy's commit is still the checkout's: the changes are not committed there.
    assert git(dest, "rev-parse", "HEAD") == source.commit


def test_a_changed_binary_file_is_applied(tmp_path: Path, source: EngineSource):
    checkout = source.path
    (checkout / "logo.bin").write_bytes(b"\x00\x01\xff" * 100)
    git(checkout, "add", "logo.bin")
    git(checkout, "commit", "-q", "-m", "a binary file")
    commit = git(checkout, "rev-parse", "HEAD")
    (checkout / "logo.bin").write_bytes(b"\xfe\x00" * 300)
    copy = prepare(checkout, tmp_path / "copy", commit)
    assert copy.dirty
    assert (tmp_path / "copy" / "logo.bin").read_bytes() == b"\xfe\x00" * 300


def test_the_changes_digest_follows_the_changes(tmp_path: Path, source: EngineSource):
    checkout = source.path
    (checkout / "scratch.txt").write_text("one\n")
    first = prepare(checkout, tmp_path / "a", source.commit).changes_sha256
    assert prepare(checkout, tmp_path / "b", source.commit).changes_sha256 == first
    (checkout / "scratch.txt").write_text("two\n")
    second = prepare(checkout, tmp_path / "a", source.commit).changes_sha256
    assert second != first
    (checkout / "scratch.txt").unlink()
    (checkout / "README.md").write_text("edited\n")
    assert prepare(checkout, tmp_path / "a", source.commit).changes_sha256 not in (
        "",
        first,
        second,
    )


def test_a_second_prepare_follows_the_checkout(tmp_path: Path, source: EngineSource):
    checkout = source.path
    dest = tmp_path / "copy"
    (checkout / "scratch.txt").write_text("left over\n")
    (checkout / "README.md").write_text("edited, then committed\n")
    first = prepare(checkout, dest, source.commit)
    assert first.dirty and (dest / "scratch.txt").is_file()
    # The user commits the edit, drops the scratch file and adds a file.
    (checkout / "scratch.txt").unlink()
    (checkout / "NEWS").write_text("news\n")
    git(checkout, "add", "-A")
    git(checkout, "commit", "-q", "-m", "news")
    moved = git(checkout, "rev-parse", "HEAD")
    again = prepare(checkout, dest, moved)
    assert (again.dirty, again.changes_sha256) == (False, "")
    assert git(dest, "rev-parse", "HEAD") == moved
    assert (dest / "NEWS").read_text() == "news\n"
    assert (dest / "README.md").read_text() == "edited, then committed\n"
    assert not (dest / "scratch.txt").exists()
    assert work_files(dest) == work_files(checkout)


def test_files_written_in_the_copy_by_a_build_are_cleaned(tmp_path: Path, source: EngineSource):
    dest = tmp_path / "copy"
    prepare(source.path, dest, source.commit)
    (dest / "bundles").mkdir()
    (dest / "bundles" / "dockerd").write_bytes(b"built")
    (dest / "README.md").write_text("changed in the copy\n")
    prepare(source.path, dest, source.commit)
    assert not (dest / "bundles").exists()
    assert work_files(dest) == work_files(source.path)


def test_a_destination_that_is_not_a_clone_is_replaced(tmp_path: Path, source: EngineSource):
    dest = tmp_path / "copy"
    dest.mkdir()
    (dest / "junk").write_text("from an interrupted build\n")
    prepare(source.path, dest, source.commit)
    assert not (dest / "junk").exists()
    assert git(dest, "rev-parse", "HEAD") == source.commit


def test_an_unknown_commit_is_a_source_error(tmp_path: Path, source: EngineSource):
    with pytest.raises(SourceError) as info:
        prepare(source.path, tmp_path / "copy", "0" * 40)
    line = info.value.one_line()
    assert line.startswith("preparing the build copy failed: git fetch:")
    assert "\n" not in line


@pytest.mark.parametrize(
    "config",
    [
        "[diff]\n\tnoprefix = true\n",
        "[color]\n\tui = always\n",
        "[diff]\n\texternal = true\n",
    ],
    ids=["noprefix", "color", "external"],
)
def test_the_users_git_config_does_not_change_the_copy(
    tmp_path: Path, source: EngineSource, monkeypatch, config: str
):
    (source.path / "README.md").write_text("the user's edit\n")
    (tmp_path / "gitconfig").write_text(config)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    copy = prepare(source.path, tmp_path / "copy", source.commit)
    assert copy.dirty
    assert (tmp_path / "copy" / "README.md").read_text() == "the user's edit\n"
