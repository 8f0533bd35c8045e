"""Era fixes: which a source needs, and cherry-picking them into a build copy.

apply_fixes runs on real git repositories: a bare "upstream" holding a base commit
and later fix commits, and a build copy that starts with the base commit only, so
every fix really is fetched by its hash.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from mobylab.dev.fixes import FIXES, EraFix, apply_fixes, fixes_for, holds_fix, patch_lines
from mobylab.errors import BuildError, SourceError
from tests.fixtures.enginesrc import git

TARSUM = "pkg/tarsum/tarsum.go"
TARSUM_BASE = """\
package tarsum

// Version of the tarsum.
const Version = 1

func header(h *tar.Header) []string {
\treturn []string{"name", h.Name}
}

func mode(h *tar.Header) string {
\treturn "mode"
}
"""
TARSUM_FIXED = TARSUM_BASE.replace(
    '\treturn []string{"name", h.Name}', '\treturn []string{"name", h.Name, "typeflag"}'
)
BREAKS = "every `docker build` fails with `unexpected EOF`: the context goes through pkg/tarsum"


@dataclass(frozen=True)
class Upstream:
    bare: Path
    url: str
    work: Path
    base: str
    fix: str


def commit_all(work: Path, message: str) -> str:
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", message)
    return git(work, "rev-parse", "HEAD")


def write(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def push(upstream_work: Path, bare: Path) -> None:
    git(upstream_work, "push", "-q", str(bare), "master")


@pytest.fixture
def upstream(tmp_path: Path) -> Upstream:
    work = tmp_path / "upstream-work"
    work.mkdir()
    git(work, "init", "-q", "-b", "master")
    write(work, TARSUM, TARSUM_BASE)
    write(work, "README.md", "engine\n")
    base = commit_all(work, "base")
    write(work, TARSUM, TARSUM_FIXED)
    fix = commit_all(work, "Fix tarsum for go 1.10")
    bare = tmp_path / "upstream.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(bare, "config", "uploadpack.allowAnySHA1InWant", "true")
    push(work, bare)
    return Upstream(bare, f"file://{bare}", work, base, fix)


def era_fix(commit: str, title: str = "Fix tarsum for go 1.10", file: str = TARSUM) -> EraFix:
    return EraFix(commit=commit, title=title, breaks=BREAKS, file=file, from_go=(1, 10))


def copy_at(upstream: Upstream, dest: Path, commit: str) -> Path:
    """A build copy holding `commit` only (none of the later commits)."""
    dest.mkdir()
    git(dest, "init", "-q")
    git(dest, "fetch", "-q", "--depth=1", upstream.url, commit)
    git(dest, "checkout", "-q", "--detach", commit)
    return dest


def has_object(repo: Path, sha: str) -> bool:
    result = subprocess.run(
        ["git", "cat-file", "-e", f"{sha}^{{commit}}"], cwd=repo, capture_output=True, check=False
    )
    return result.returncode == 0


def recorded(copy: Path, url: str, fixes: list[EraFix]) -> list[dict[str, object]]:
    """What the build's manifest records of the era fixes applied to `copy`."""
    return [outcome.to_dict() for outcome in apply_fixes(copy, url, fixes)]


# --- which fixes ---------------------------------------------------------------------------


def test_the_tarsum_fix_is_for_sources_holding_tarsum_built_with_go_1_10_on():
    (tarsum,) = FIXES
    assert fixes_for((1, 15, 15), [TARSUM, "Makefile"]) == [tarsum]
    assert fixes_for((1, 10), [TARSUM]) == [tarsum]
    assert fixes_for((1, 26, 10), [TARSUM]) == [tarsum]


def test_old_go_needs_no_fix():
    assert fixes_for((1, 9, 7), [TARSUM]) == []
    assert fixes_for((1, 7, 5), [TARSUM]) == []


def test_a_source_without_the_file_needs_no_fix():
    assert fixes_for((1, 26), ["Makefile", "pkg/other/tarsum.go"]) == []
    assert fixes_for((1, 26), []) == []


def test_fixes_for_reads_the_table_given():
    one = EraFix("a" * 40, "one", "x", "a.go", (1, 12))
    two = EraFix("b" * 40, "two", "y", "b.go", (1, 20))
    assert fixes_for((1, 21), ["a.go", "b.go"], [one, two]) == [one, two]
    assert fixes_for((1, 13), ["a.go", "b.go"], [one, two]) == [one]
    assert fixes_for((1, 21), ["b.go"], [one, two]) == [two]


# --- cherry-picking ---------------------------------------------------------------------------


def test_a_fix_is_fetched_and_applied(tmp_path: Path, upstream: Upstream):
    copy = copy_at(upstream, tmp_path / "copy", upstream.base)
    assert not has_object(copy, upstream.fix)
    results = recorded(copy, upstream.url, [era_fix(upstream.fix)])
    assert results == [
        {
            "commit": upstream.fix,
            "title": "Fix tarsum for go 1.10",
            "status": "applied",
            "files": [TARSUM],
            "breaks": BREAKS,
        }
    ]
    assert (copy / TARSUM).read_text() == TARSUM_FIXED
    # Committed in the copy, on top of the source's commit; nothing left staged.
    assert git(copy, "rev-parse", "HEAD^") == upstream.base
    assert git(copy, "log", "-1", "--format=%s") == f"era fix {upstream.fix}"
    assert git(copy, "status", "--porcelain") == ""
    assert git(copy, "show", "HEAD:" + TARSUM) + "\n" == TARSUM_FIXED


def test_a_fix_applied_twice_is_present(tmp_path: Path, upstream: Upstream):
    copy = copy_at(upstream, tmp_path / "copy", upstream.base)
    apply_fixes(copy, upstream.url, [era_fix(upstream.fix)])
    head = git(copy, "rev-parse", "HEAD")
    again = recorded(copy, upstream.url, [era_fix(upstream.fix)])
    assert [(r["status"], r["files"]) for r in again] == [("present", [])]
    assert git(copy, "rev-parse", "HEAD") == head
    assert git(copy, "status", "--porcelain") == ""
    assert (copy / TARSUM).read_text() == TARSUM_FIXED


def test_a_source_that_already_has_the_fix(tmp_path: Path, upstream: Upstream):
    write(upstream.work, "NEWS", "later\n")
    later = commit_all(upstream.work, "a later commit")
    push(upstream.work, upstream.bare)
    copy = copy_at(upstream, tmp_path / "copy", later)
    results = recorded(copy, upstream.url, [era_fix(upstream.fix)])
    assert results[0]["status"] == "present"
    assert git(copy, "rev-parse", "HEAD") == later


def test_a_source_that_has_the_fix_and_changed_its_tests_since(tmp_path: Path, upstream: Upstream):
    """The fix also changed a test file that later commits changed again: only the file
    that needs the fix says whether the source has it."""
    tests = "pkg/tarsum/tarsum_test.go"
    git(upstream.work, "checkout", "-q", "-b", "with-tests", upstream.base)
    write(upstream.work, tests, "package tarsum\n\nconst sums = 1\n")
    base = commit_all(upstream.work, "tests")
    write(upstream.work, TARSUM, TARSUM_FIXED)
    write(upstream.work, tests, "package tarsum\n\nconst sums = 2\n")
    fix = commit_all(upstream.work, "Fix tarsum and its tests")
    write(upstream.work, tests, "package tarsum\n\nconst sums = 3\n")
    later = commit_all(upstream.work, "the tests change again")
    git(upstream.work, "push", "-q", str(upstream.bare), "with-tests")
    assert base != later
    copy = copy_at(upstream, tmp_path / "copy", later)
    results = recorded(copy, upstream.url, [era_fix(fix)])
    assert [(r["status"], r["files"]) for r in results] == [("present", [])]
    assert git(copy, "rev-parse", "HEAD") == later
    assert git(copy, "status", "--porcelain") == ""


def test_a_source_that_has_the_fix_and_changed_around_it_since(tmp_path: Path, upstream: Upstream):
    """Later commits changed the fix's own neighbourhood, so its patch no longer undoes:
    the lines it added are still there, and that says the source has it."""
    text = TARSUM_FIXED.replace(
        "func header(h *tar.Header)", "func header(h *tar.Header, all bool)"
    )
    write(upstream.work, TARSUM, text)
    later = commit_all(upstream.work, "header takes all")
    push(upstream.work, upstream.bare)
    copy = copy_at(upstream, tmp_path / "copy", later)
    results = recorded(copy, upstream.url, [era_fix(upstream.fix)])
    assert [(r["status"], r["files"]) for r in results] == [("present", [])]
    assert (copy / TARSUM).read_text() == text


PATCH = """\
--- a/pkg/tarsum/tarsum.go
+++ b/pkg/tarsum/tarsum.go
@@ -1,4 +1,5 @@
 func encode() {
+\t// Ignore these headers
-\treturn n, nil
+\treturn 0, err
+
 }
"""


def test_the_lines_a_patch_adds_and_removes():
    assert patch_lines(PATCH) == (["// Ignore these headers", "return 0, err"], ["return n, nil"])


def test_a_file_holds_a_fix_when_every_line_it_added_is_there():
    added, removed = patch_lines(PATCH)
    fixed = "func encode(x int) {\n  // Ignore these headers\n\tif x {\n\t\treturn 0, err\n}\n"
    assert holds_fix(fixed, added, removed)
    assert not holds_fix("func encode() {\n\treturn 0, err\n}\n", added, removed)
    assert not holds_fix("", added, removed)


def test_a_fix_that_only_removes_is_held_when_its_lines_are_gone():
    assert holds_fix("func f() {}\n", [], ["tarW.Flush()"])
    assert not holds_fix("func f() {\n\ttarW.Flush()\n}\n", [], ["tarW.Flush()"])
    assert not holds_fix("anything", [], [])


def test_fixes_apply_in_order_each_on_top_of_the_last(tmp_path: Path, upstream: Upstream):
    write(upstream.work, "pkg/archive/archive.go", "package archive\n\nconst Fixed = true\n")
    second = commit_all(upstream.work, "Fix archive for go 1.11")
    push(upstream.work, upstream.bare)
    copy = copy_at(upstream, tmp_path / "copy", upstream.base)
    fixes = [era_fix(upstream.fix), era_fix(second, "Fix archive", "pkg/archive/archive.go")]
    results = recorded(copy, upstream.url, fixes)
    assert [(r["commit"], r["status"], r["files"]) for r in results] == [
        (upstream.fix, "applied", [TARSUM]),
        (second, "applied", ["pkg/archive/archive.go"]),
    ]
    assert git(copy, "rev-parse", "HEAD~2") == upstream.base
    assert (copy / "pkg/archive/archive.go").is_file()


def test_a_trivial_conflict_keeps_the_old_sources_side(tmp_path: Path, upstream: Upstream):
    """-X ours: a line the old source changed differently stays as the source has it,
    and the rest of the fix still goes in."""
    git(upstream.work, "checkout", "-q", "-b", "two-places", upstream.base)
    write(upstream.work, TARSUM, TARSUM_FIXED.replace('return "mode"', 'return "mode-fixed"'))
    fix = commit_all(upstream.work, "a fix touching two places")
    git(upstream.work, "push", "-q", str(upstream.bare), "two-places")
    copy = copy_at(upstream, tmp_path / "copy", upstream.base)
    write(copy, TARSUM, TARSUM_BASE.replace("h.Name}", 'h.Name, "mine"}'))
    mine = commit_all(copy, "the source's own change")
    results = recorded(copy, upstream.url, [era_fix(fix)])
    assert [(r["status"], r["files"]) for r in results] == [("applied", [TARSUM])]
    text = (copy / TARSUM).read_text()
    assert '[]string{"name", h.Name, "mine"}' in text
    assert "typeflag" not in text
    assert 'return "mode-fixed"' in text
    assert git(copy, "rev-parse", "HEAD^") == mine


def test_a_fix_that_no_longer_applies_stops_the_build(tmp_path: Path, upstream: Upstream):
    copy = copy_at(upstream, tmp_path / "copy", upstream.base)
    git(copy, "rm", "-q", TARSUM)
    git(copy, "commit", "-q", "-m", "tarsum moved away")
    head = git(copy, "rev-parse", "HEAD")
    with pytest.raises(BuildError) as info:
        apply_fixes(copy, upstream.url, [era_fix(upstream.fix)])
    error = info.value
    assert error.message.startswith(
        f"the engine's fix {upstream.fix[:12]} (Fix tarsum for go 1.10) no longer applies to "
        "this source ("
    )
    assert error.message.endswith("); nothing was built")
    assert "\n" not in error.one_line()
    assert "--no-fixes" in error.hint
    assert "every `docker build` fails with `unexpected EOF`" in error.hint
    # The copy is left as it was: no cherry-pick in progress, nothing staged.
    assert git(copy, "rev-parse", "HEAD") == head
    assert git(copy, "status", "--porcelain") == ""
    assert not (copy / ".git" / "CHERRY_PICK_HEAD").exists()
    assert not (copy / TARSUM).exists()


def test_a_fix_the_remote_lacks(tmp_path: Path, upstream: Upstream):
    copy = copy_at(upstream, tmp_path / "copy", upstream.base)
    missing = "0123456789abcdef0123456789abcdef01234567"
    with pytest.raises(SourceError) as info:
        apply_fixes(copy, upstream.url, [era_fix(missing)])
    assert info.value.message.startswith(f"commit {missing[:12]} is not in {upstream.url} (")
    assert git(copy, "rev-parse", "HEAD") == upstream.base


def test_no_fixes_no_git(tmp_path: Path):
    assert apply_fixes(tmp_path / "not-a-repo", "file:///nowhere", []) == []


def test_a_fix_dropped_by_its_conflict_is_not_reported_present(tmp_path: Path, upstream: Upstream):
    copy = copy_at(upstream, tmp_path / "copy", upstream.base)
    write(copy, TARSUM, TARSUM_BASE.replace("h.Name}", 'h.Name, "mine"}'))
    commit_all(copy, "the source's own change to the fixed line")
    try:
        results = recorded(copy, upstream.url, [era_fix(upstream.fix)])
    except BuildError:
        return
    assert "typeflag" not in (copy / TARSUM).read_text()
    assert results[0]["status"] != "present"


def test_fixes_are_committed_whatever_the_users_git_config(
    tmp_path: Path, upstream: Upstream, monkeypatch
):
    write(upstream.work, "pkg/archive/archive.go", "package archive\n")
    second = commit_all(upstream.work, "Fix archive")
    push(upstream.work, upstream.bare)
    copy = copy_at(upstream, tmp_path / "copy", upstream.base)
    (tmp_path / "gitconfig").write_text("[commit]\n\tgpgsign = true\n[gpg]\n\tprogram = false\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    fixes = [era_fix(upstream.fix), era_fix(second, "Fix archive", "pkg/archive/archive.go")]
    results = recorded(copy, upstream.url, fixes)
    assert [r["files"] for r in results] == [[TARSUM], ["pkg/archive/archive.go"]]
    assert git(copy, "rev-parse", "HEAD~2") == upstream.base
