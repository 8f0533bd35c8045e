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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import git
from .fixes import EraFix, FixOutcome, apply_fixes

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
    # What happened to each era fix.
    fixes: tuple[FixOutcome, ...] = ()


def _checked(args: list[str], cwd: Path, *, own: bool = True, stdin: bytes | None = None) -> bytes:
    """git's output as bytes (a diff may hold any encoding); a GitError naming the copy.

    The copy is mobylab's own repository (`own`): the user's git configuration
    (signing, hooks, aliases, external diff drivers) has no say in it.
    """
    return git.checked(
        args,
        cwd,
        doing="preparing the build copy",
        hint=f"The copy is {cwd}; remove it and build again.",
        own=own,
        stdin=stdin,
        timeout=900,
    ).stdout


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
        _checked(["clone", "--quiet", "--no-checkout", str(checkout), str(dest)], dest.parent)
    # The checkout may have moved on since the copy was made: its commit comes along.
    if not git.run(["cat-file", "-e", f"{commit}^{{commit}}"], dest, own=True).ok:
        _checked(["fetch", "--quiet", str(checkout), commit], dest)
    _checked(["checkout", "--quiet", "--force", "--detach", commit], dest)
    _checked(["clean", "--quiet", "-fdx"], dest)
    applied = apply_fixes(dest, remote, fixes) if fixes else []
    # The user's checkout: read with their configuration, the flags of DIFF overriding it.
    diff = _checked(DIFF, checkout, own=False)
    if diff:
        _checked(["apply", "--binary", "--whitespace=nowarn"], dest, stdin=diff)
    listing = _checked(["ls-files", "--others", "--exclude-standard", "-z"], checkout, own=False)
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
