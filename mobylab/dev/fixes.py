"""Era fixes: the engine's own later commits an old source needs when built with a newer Go.

Only hashes and reasons live here: each fix is fetched by its hash from the
checkout's own remote (a mirror, or the repository) and cherry-picked in the
build copy, never in the user's checkout. Whether a source needs a fix is for
git to say: a fix that changes nothing is already in the source; one that does
not apply is refused, and nothing is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from .. import git
from ..errors import BuildError
from .fetch import fetch_commit


@dataclass(frozen=True)
class EraFix:
    commit: str
    title: str
    # What breaks without it.
    breaks: str
    # It is needed by sources holding this file, built with this Go or newer.
    file: str
    from_go: tuple[int, ...]
    # git cherry-pick's merge option: keep the old source's side of a trivial conflict.
    strategy_option: str = "ours"


FIXES: tuple[EraFix, ...] = (
    EraFix(
        commit="a422774e593b33bd287d9890544ad9e09b380d8c",
        title="Fix tarsum for go 1.10",
        breaks=(
            "every `docker build` on the daemon fails with `Error processing tar "
            "file(exit status 1): unexpected EOF`: the build context goes through "
            "pkg/tarsum, which breaks under Go >= 1.10's archive/tar"
        ),
        file="pkg/tarsum/tarsum.go",
        from_go=(1, 10),
    ),
)


class FixStatus(StrEnum):
    """What an era fix did in the build copy."""

    APPLIED = "applied"  # it changed files
    PRESENT = "present"  # the source holds it already


@dataclass(frozen=True)
class FixOutcome:
    """One era fix in the build copy, as the build's manifest records it."""

    fix: EraFix
    status: FixStatus
    files: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "commit": self.fix.commit,
            "title": self.fix.title,
            "status": self.status.value,
            "files": list(self.files),
            "breaks": self.fix.breaks,
        }


def fixes_for(
    go_version: Sequence[int], source_files: Sequence[str], table: Sequence[EraFix] = FIXES
) -> list[EraFix]:
    """Pure: the fixes a source holding these files, built with this Go, may need."""
    version = tuple(go_version)
    return [fix for fix in table if fix.file in source_files and version >= fix.from_go]


def _own_git(args: list[str], copy: Path) -> git.Result:
    """git in the build copy: mobylab's own repository (no user configuration: signing, hooks)."""
    return git.run(args, copy, own=True, timeout=600)


def patch_lines(patch: str) -> tuple[list[str], list[str]]:
    """Pure: the lines a unified diff adds and removes, stripped, blank ones left out."""
    added: list[str] = []
    removed: list[str] = []
    for line in patch.splitlines():
        if line.startswith(("+++", "---")):
            continue
        if line[:1] in "+-" and line[1:].strip():
            (added if line[0] == "+" else removed).append(line[1:].strip())
    return added, removed


def holds_fix(text: str, added: Sequence[str], removed: Sequence[str]) -> bool:
    """Pure: whether a file's text holds a fix: every line it added is there (or, for a
    fix that only removes, none of the lines it removed is). Lines, not the patch: later
    commits often change the fix's neighbourhood, so its patch no longer undoes."""
    lines = {line.strip() for line in text.splitlines()}
    if added:
        return all(line in lines for line in added)
    return bool(removed) and not any(line in lines for line in removed)


def already_in(copy: Path, fix: EraFix) -> bool:
    """Whether the copy's file that needs the fix holds its changes already. Only that
    file: a later source has often changed the fix's other files (its tests) since."""
    diff = ["diff", "--no-ext-diff", "--no-color", f"{fix.commit}^", fix.commit]
    patch = _own_git([*diff, "--", fix.file], copy)
    path = copy / fix.file
    if not patch.ok or not patch.stdout or not path.is_file():
        return False
    return holds_fix(path.read_text(errors="replace"), *patch_lines(patch.out))


def apply_fixes(copy: Path, remote: str, fixes: Sequence[EraFix]) -> list[FixOutcome]:
    """Cherry-pick each fix into the build copy; what happened to each.

    A fix that does not apply raises BuildError: nothing is built.
    """
    results: list[FixOutcome] = []
    for fix in fixes:
        # The fix and its parent: a cherry-pick diffs the two.
        fetch_commit(copy, remote, fix.commit, depth=2)
        picked = _own_git(
            ["cherry-pick", "--no-commit", "-X", fix.strategy_option, fix.commit], copy
        )
        if not picked.ok:
            _own_git(["cherry-pick", "--abort"], copy)
            _own_git(["reset", "--hard", "--quiet"], copy)
            raise BuildError(
                f"the engine's fix {fix.commit[:12]} ({fix.title}) no longer applies to this "
                f"source ({picked.reason}); nothing was built",
                "Build with --no-fixes to build the source as it is (without it, "
                + fix.breaks.split(":")[0]
                + ").",
            )
        changed = _own_git(["diff", "--cached", "--name-only"], copy).out
        files = [line for line in changed.splitlines() if line.strip()]
        if files:
            # A commit of the build copy's own: the next fix and the user's changes go
            # on top of it (the build still says the source's commit).
            recorded = _own_git(
                ["commit", "--quiet", "--no-verify", "-m", f"era fix {fix.commit}"], copy
            )
            if not recorded.ok:
                raise BuildError(
                    f"recording the fix {fix.commit[:12]} in the build copy failed: "
                    f"{recorded.reason}",
                    "Remove the build copy (dev.clean) and build again.",
                )
        elif not already_in(copy, fix):
            # -X ours kept the old side of every hunk: nothing of the fix is left.
            _own_git(["reset", "--hard", "--quiet"], copy)
            raise BuildError(
                f"the engine's fix {fix.commit[:12]} ({fix.title}) no longer applies to this "
                "source: each of its changes conflicts with it; nothing was built",
                "Build with --no-fixes to build the source as it is.",
            )
        status = FixStatus.APPLIED if files else FixStatus.PRESENT
        results.append(FixOutcome(fix, status, tuple(files)))
    return results
