"""The history a bisect walks, and the commits dev.try builds, from the engine's repository.

Everything goes through mobylab.git into the workspace's checkout (the one dev.clone
makes), whose local work is never overwritten. A shallow checkout is deepened with
`git fetch --unshallow --update-shallow` (a shallow mirror folder can only give the
history it holds, and says so by its shallow roots). A server fetches a commit by
its full hash only, so an abbreviated one is looked up in a mirror folder or local
repository itself, else among the remote's branches and tags.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .. import git
from ..config import Settings
from ..dev.mirrors import Remote, remote_for
from ..dev.source import (
    checkout_name,
    is_git_checkout,
    is_sha,
    local_work,
    parse_ls_remote,
    pick_remote_ref,
    shown,
)
from ..errors import SourceError, UsageError
from ..workspace import Workspace
from .records import Commit

FULL_SHA = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class Source:
    """The workspace's engine checkout and where it fetches from."""

    checkout: Path
    remote: Remote

    def run(self, *args: str, timeout: float = 120.0) -> git.Result:
        return git.run(args, self.checkout, timeout=timeout)

    def checked(self, *args: str, doing: str = "", timeout: float = 120.0) -> git.Result:
        return git.checked(args, self.checkout, doing=doing, timeout=timeout)


def open_source(workspace: Workspace, settings: Settings) -> Source:
    """The checkout dev.clone uses (made when missing), refusing one that holds local work."""
    remote = remote_for(settings.repo, settings.mirrors)
    checkout = workspace.checkouts / checkout_name(settings.repo)
    if checkout.exists() and not is_git_checkout(checkout):
        raise SourceError(
            f"{checkout} exists but is not a git repository; it was left alone",
            "Move it away or remove it.",
        )
    if not checkout.exists():
        checkout.parent.mkdir(parents=True, exist_ok=True)
        git.checked(["init", "-q", str(checkout)])
        git.checked(["remote", "add", "origin", remote.url], checkout)
    else:
        work = local_work(checkout, None)
        if work:
            raise SourceError(
                f"{checkout} has local work ({work.summary()}); it was left untouched",
                "Commit and push it (or keep it on a branch) first.",
            )
        git.checked(["remote", "set-url", "origin", remote.url], checkout)
    return Source(checkout, remote)


def _local_repository(remote: Remote) -> Path | None:
    """The folder of a remote that is a repository on this machine (a mirror, a path)."""
    url = remote.url
    if url.startswith("file://"):
        return Path(url.removeprefix("file://"))
    path = Path(url)
    return path if path.is_absolute() and path.exists() else None


def _keep_ref(sha: str) -> str:
    return f"refs/remotes/origin/commit-{sha[:12]}"


def resolve(source: Source, ref: str) -> str:
    """The full hash of `ref` (a branch, tag or commit, abbreviated or not), fetched into
    the checkout under a remote-tracking ref, or a SourceError saying it is unknown."""
    if not ref or ref.startswith("-"):
        raise UsageError(f"{ref!r} is not a ref", "Give a branch, a tag or a commit.")
    sha = ""
    local = source.run("rev-parse", "--verify", "-q", f"{ref}^{{commit}}")
    if local.ok and is_sha(ref) and local.out.strip().startswith(ref.lower()):
        sha = local.out.strip()
    if not sha and not FULL_SHA.fullmatch(ref.lower()):
        # An annotated tag is listed as its tag object; its commit only as "TAG^{}".
        patterns = [ref, f"{ref}^{{}}"]
        listed = git.run(["ls-remote", "--", source.remote.url, *patterns], timeout=300)
        found = pick_remote_ref(parse_ls_remote(listed.out), ref) if listed.ok else None
        if found is not None:
            sha = found.commit
        elif is_sha(ref) and (repository := _local_repository(source.remote)) is not None:
            there = git.run(["rev-parse", "--verify", "-q", f"{ref}^{{commit}}"], repository)
            sha = there.out.strip() if there.ok else ""
    sha = sha or ref.lower()
    if not FULL_SHA.fullmatch(sha):
        raise SourceError(
            f"unknown ref {ref!r} in {shown(source.remote.url)}: no branch, tag or commit by "
            "that name",
            "Check it, or give the full 40-digit SHA: a server fetches a commit by its full "
            "hash only.",
        )
    if source.run("cat-file", "-e", f"{sha}^{{commit}}").ok:
        source.checked("update-ref", _keep_ref(sha), sha)
        return sha
    # One commit deep where the checkout is shallow or new (dev.try needs no more;
    # deepen() fetches a bisect's history); a shallow mirror needs --update-shallow.
    depth = ["--depth", "1"] if _is_shallow(source) or _is_new(source) else []
    fetched = source.run("fetch", "--no-tags", "--quiet", "--update-shallow", *depth, "origin",
                         f"+{sha}:{_keep_ref(sha)}", timeout=3600)  # fmt: skip
    if not fetched.ok:
        raise SourceError(
            f"unknown ref {ref!r} in {shown(source.remote.url)}: {fetched.reason}",
            "Check the name or the SHA.",
        )
    return sha


def _is_shallow(source: Source) -> bool:
    return source.run("rev-parse", "--is-shallow-repository").out.strip() == "true"


def _is_new(source: Source) -> bool:
    return (
        not source.run("rev-parse", "-q", "--verify", "HEAD").ok
        and not source.run("for-each-ref", "--count=1").out.strip()
    )


def deepen(source: Source, *shas: str) -> None:
    """The whole history of `shas` the remote holds, in a shallow checkout too."""
    if not _is_shallow(source):
        return
    source.checked(
        "fetch", "--no-tags", "--quiet", "--unshallow", "--update-shallow", "origin",
        *(f"+{sha}:{_keep_ref(sha)}" for sha in shas),
        doing="fetching the history between the ends", timeout=3600,
    )  # fmt: skip


def walk(source: Source, old: str, new: str, *, first_parent: bool) -> list[str]:
    """The commits from `old` to `new`, both included, oldest first: the first-parent line
    (each a merged pull request), or every commit that descends from `old`."""
    if old == new:
        raise UsageError(
            f"--old and --new are the same commit ({old[:12]})", "Give an --old before the --new."
        )
    if not source.run("merge-base", "--is-ancestor", old, new).ok:
        raise UsageError(
            f"--old {old[:12]} is not an ancestor of --new {new[:12]}",
            "Give the older commit as --old (or check that both are on one line of history).",
        )
    how = ["--first-parent"] if first_parent else ["--topo-order", "--ancestry-path"]
    listed = source.checked("rev-list", "--reverse", *how, f"{old}..{new}", timeout=300)
    commits = [old, *listed.out.split()]
    if commits[-1] != new:
        raise UsageError(
            f"--new {new[:12]} is not on the first-parent line from --old {old[:12]}",
            "Use --all-commits to walk every commit.",
        )
    return commits


def describe(source: Source, sha: str) -> Commit:
    """A commit's subject and the first line of its body (a pull request's title)."""
    shown_ = source.checked("log", "-1", "--format=%s%n%b", sha).out.splitlines()
    subject = shown_[0] if shown_ else ""
    title = next((line.strip() for line in shown_[1:] if line.strip()), "")
    return Commit(sha, subject, title)


def check_out(source: Source, sha: str) -> None:
    """Detach the checkout at `sha` (its local work was refused when it was opened)."""
    source.checked("checkout", "-q", "-f", "--detach", sha)


@contextmanager
def head_kept(source: Source) -> Iterator[None]:
    """The checkout's HEAD as it was, afterwards (Ctrl-C too): dev.build and dev.up still
    see what dev.clone checked out."""
    branch = source.run("symbolic-ref", "-q", "--short", "HEAD")
    head = source.run("rev-parse", "-q", "--verify", "HEAD")
    try:
        yield
    finally:
        if branch.ok:
            source.run("checkout", "-q", "-f", branch.out.strip())
        elif head.ok:
            source.run("checkout", "-q", "-f", "--detach", head.out.strip())


def pull_request(source: Source, number: int, base_branch: str) -> tuple[str, str]:
    """(base, head) of pull request `number`: its head, and where it leaves `base_branch`
    (their merge base; for a merged one, the merge base with the commit before its
    merge), with the history between them fetched."""
    head_ref = f"refs/pull/{number}/head"
    listed = git.run(["ls-remote", "--", source.remote.url, head_ref, base_branch], timeout=300)
    refs = parse_ls_remote(listed.out) if listed.ok else {}
    head = pick_remote_ref(refs, head_ref)
    base_tip = pick_remote_ref(refs, base_branch)
    if head is None:
        raise SourceError(
            f"pull request #{number} is not in {shown(source.remote.url)}",
            "Check the number, or that the source serves refs/pull/.",
        )
    if base_tip is None:
        raise SourceError(
            f"the branch {base_branch!r} that pull request #{number} targets is not in "
            f"{shown(source.remote.url)}",
            "Set the ref setting to the branch it targets.",
        )
    for sha in (head.commit, base_tip.commit):
        resolve(source, sha)
    deepen(source, head.commit, base_tip.commit)
    base = source.run("merge-base", head.commit, base_tip.commit).out.strip()
    if base == head.commit:
        # Merged already: it left the branch where the commit before its merge meets it.
        merged = source.run(
            "rev-list", "--reverse", "--first-parent", "--ancestry-path",
            f"{head.commit}..{base_tip.commit}",
        ).out.split()  # fmt: skip
        before = f"{merged[0]}^1" if merged else head.commit
        base = source.run("merge-base", head.commit, before).out.strip()
    if not base:
        raise SourceError(
            f"pull request #{number} and {base_branch} share no history in "
            f"{shown(source.remote.url)}",
            "The source holds too little of it (a shallow mirror?): fetch more history into it.",
        )
    return base, head.commit
