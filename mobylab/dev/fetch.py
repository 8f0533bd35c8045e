"""Fetch one commit of an upstream repository by its hash, at depth 1 or 2.

Shallow mirrors and GitHub both serve a commit by its full hash; a companion's
source or an era fix needs no more history than that (a fix: its parent too, to
be cherry-picked).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .. import git
from ..errors import SourceError


def fetch_commit(repository: Path, url: str, commit: str, depth: int = 1) -> None:
    """Bring `commit` (and `depth - 1` parents) from `url` into the repository at
    `repository`; a SourceError names the commit and where it was looked for."""
    fetched = git.run(
        ["fetch", "--quiet", f"--depth={depth}", url, commit], repository, timeout=900
    )
    if not fetched.ok:
        raise SourceError(
            f"commit {commit[:12]} is not in {url} ({fetched.reason})",
            "Fetch it into the mirror (git fetch ... " + commit[:12] + "), or leave the "
            "mirrors setting empty to fetch from the repository itself.",
        )


def fetch_tree(url: str, commit: str, dest: Path) -> None:
    """A fresh folder `dest` holding `commit` of `url` checked out (with its .git)."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    git.checked(["init", "--quiet"], dest, doing=f"preparing {dest}", own=True)
    fetch_commit(dest, url, commit)
    git.checked(
        ["checkout", "--quiet", "--detach", commit],
        dest,
        doing=f"checking out {commit[:12]} of {url}",
        own=True,
    )
