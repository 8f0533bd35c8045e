"""The build copy: the source route builds here, never in the user's checkout.

A git clone of the checkout (kept per commit, so a rebuild only rewrites what
changed) at the checkout's commit, with the checkout's uncommitted changes and
untracked files laid on top: what the user has is built as it is, and nothing in
their checkout or its .git is written. The engine's later fixes (dev.fixes) are
applied here too.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SourceError
from .fixes import EraFix, apply_fixes

_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
# The build copy is mobylab's own repository: the user's git configuration (signing,
# hooks, aliases, external diff drivers) has no say in it.
COPY_ENV = {**_GIT_ENV, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}
# Reading the user's changes: the same patch whatever their diff settings say.
DIFF = ["diff", "--binary", "--no-ext-diff", "--no-textconv", "--no-color",
        "--src-prefix=a/", "--dst-prefix=b/", "HEAD"]  # fmt: skip


@dataclass(frozen=True)
class BuildCopy:
    path: Path
    commit: str
    # Uncommitted changes or untracked files of the checkout were laid on top.
    dirty: bool
    # sha256 of what was laid on top ("" when nothing was).
    changes_sha256: str = ""
    # What happened to each era fix (dev.fixes.apply_fixes).
    fixes: tuple[dict[str, Any], ...] = ()


def _git(
    args: list[str], cwd: Path, stdin: bytes | None = None, env: dict[str, str] = _GIT_ENV
) -> bytes:
    """Run git on bytes (diffs may hold any encoding); SourceError when it fails."""
    try:
        result = subprocess.run(
            ["git", *args],
            cwd=cwd,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            env={**os.environ, **env},
            timeout=900,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SourceError(f"git {args[0]} took too long preparing the build copy") from None
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip().splitlines()
        raise SourceError(
            f"preparing the build copy failed: git {args[0]}: {message[-1] if message else '?'}",
            f"The copy is {cwd}; remove it and build again.",
        )
    return result.stdout


def _has_commit(repository: Path, commit: str) -> bool:
    try:
        _git(["cat-file", "-e", f"{commit}^{{commit}}"], cwd=repository, env=COPY_ENV)
    except SourceError:
        return False
    return True


def prepare(
    checkout: Path,
    dest: Path,
    commit: str,
    *,
    fixes: Sequence[EraFix] = (),
    remote: str = "",
) -> BuildCopy:
    """`dest` as a clone of `checkout` at `commit`, the era `fixes` (fetched from
    `remote`) cherry-picked, then the checkout's local changes on top."""
    if not (dest / ".git").is_dir():
        if dest.exists():
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        _git(
            ["clone", "--quiet", "--no-checkout", str(checkout), str(dest)],
            cwd=dest.parent,
            env=COPY_ENV,
        )
    # The checkout may have moved on since the copy was made: its commit comes along.
    if not _has_commit(dest, commit):
        _git(["fetch", "--quiet", str(checkout), commit], cwd=dest, env=COPY_ENV)
    _git(["checkout", "--quiet", "--force", "--detach", commit], cwd=dest, env=COPY_ENV)
    _git(["clean", "--quiet", "-fdx"], cwd=dest, env=COPY_ENV)
    applied = apply_fixes(dest, remote, fixes) if fixes else []
    diff = _git(DIFF, checkout)
    if diff:
        _git(["apply", "--binary", "--whitespace=nowarn"], cwd=dest, stdin=diff, env=COPY_ENV)
    listing = _git(["ls-files", "--others", "--exclude-standard", "-z"], checkout)
    untracked = [name for name in listing.decode(errors="surrogateescape").split("\0") if name]
    digest = hashlib.sha256(diff)
    for name in untracked:
        source = checkout / name
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            link = os.readlink(source)
            target.unlink(missing_ok=True)
            target.symlink_to(link)
            digest.update(name.encode(errors="surrogateescape") + b"\0->" + link.encode())
        elif source.is_file():
            shutil.copy2(source, target)
            digest.update(name.encode(errors="surrogateescape") + b"\0" + source.read_bytes())
    dirty = bool(diff or untracked)
    return BuildCopy(dest, commit, dirty, digest.hexdigest() if dirty else "", tuple(applied))
