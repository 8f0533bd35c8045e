"""Fetch one commit of an upstream repository by its hash, at depth 1 or 2.

Shallow mirrors and GitHub both serve a commit by its full hash; a companion's
source or an era fix needs no more history than that (a fix: its parent too, to
be cherry-picked).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .. import process
from ..errors import SourceError

_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}


def _git(args: list[str], cwd: Path, timeout: float = 900) -> tuple[int, str]:
    result = process.capture(["git", *args], cwd=cwd, env=_GIT_ENV, timeout=timeout)
    lines = (result.stderr or result.stdout).strip().splitlines()
    return result.returncode, lines[-1].removeprefix("fatal: ") if lines else ""


def fetch_commit(repository: Path, url: str, commit: str, depth: int = 1) -> None:
    """Bring `commit` (and `depth - 1` parents) from `url` into the repository at
    `repository`; a SourceError names the commit and where it was looked for."""
    code, message = _git(["fetch", "--quiet", f"--depth={depth}", url, commit], repository)
    if code != 0:
        raise SourceError(
            f"commit {commit[:12]} is not in {url} ({message})",
            "Fetch it into the mirror (git fetch ... " + commit[:12] + "), or leave the "
            "mirrors setting empty to fetch from the repository itself.",
        )


def fetch_tree(url: str, commit: str, dest: Path) -> None:
    """A fresh folder `dest` holding `commit` of `url` checked out (with its .git)."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    code, message = _git(["init", "--quiet"], dest)
    if code != 0:
        raise SourceError(f"git init {dest} failed: {message}")
    fetch_commit(dest, url, commit)
    code, message = _git(["checkout", "--quiet", "--detach", commit], dest)
    if code != 0:
        raise SourceError(f"checking out {commit[:12]} of {url} failed: {message}")
